/*  hpt jobs submit training -- a job from a config file and gcloud's flags

    The config file (--config) is read and validated exactly as
    `hpt validate` does, so its problems carry file positions. gcloud's
    flags then override it, as gcloud's do: each sets one field of the
    Job (docs/interfaces.md has the table). When a flag was given, the
    merged Job is validated again (its problems named by JSON pointer,
    from "FILE with the flags"), so nothing invalid reaches the master
    whichever way it came.

    --package-path DIR builds a source distribution of the trainer
    package (hpt_sdist) and ships it as the first packageUris entry, a
    file:// URL; --packages adds archives (local paths become file://
    URLs). Without either, the config file's own local packageUris (hpt
    extension, relative to the file) are shipped the same way. --region, --runtime-version and
   --python-version are recorded in the Job; --staging-bucket is accepted; hpt uses none of them and
    says so once. --async is gcloud's default and hpt's: accepted.

    Output follows gcloud: status lines go to stderr and the resource
    (jobId, state) to stdout in --format, so scripts can read it.
*/
#include "hpt_alloc.h"
#include "hpt_cli.h"
#include "hpt_client.h"
#include "hpt_follow.h"
#include "hpt_format.h"
#include "hpt_job_reader.h"
#include "hpt_json.h"
#include "hpt_projection.h"
#include "hpt_sdist.h"
#include "hpt_tree.h"
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

//  Flags that set one string member of trainingInput.
typedef struct {
    const char *flag;  //  "--module-name"
    const char *field; //  "pythonModule"
} s_field_flag_t;

static const s_field_flag_t s_string_flags[] = {
    {"--module-name", "pythonModule"},
    {"--job-dir", "jobDir"},
    {"--master-machine-type", "masterType"},
    {"--worker-machine-type", "workerType"},
    {"--parameter-server-machine-type", "parameterServerType"},
    {"--region", "region"},
    {"--runtime-version", "runtimeVersion"},
    {"--python-version", "pythonVersion"},
};
#define S_STRING_FLAGS (sizeof (s_string_flags) / sizeof (s_string_flags[0]))

//  Flags that set a count (an int64, sent as a string).
static const s_field_flag_t s_count_flags[] = {
    {"--worker-count", "workerCount"},
    {"--parameter-server-count", "parameterServerCount"},
};
#define S_COUNT_FLAGS 2

//  Replica flags: --X-image-uri and --X-accelerator set XConfig.
static const char *const s_replicas[][2] = {
    {"master", "masterConfig"},
    {"worker", "workerConfig"},
    {"parameter-server", "parameterServerConfig"},
};
#define S_REPLICAS 3

//  Every flag's value, by the tables' order.
typedef struct {
    const char *config;                   //  --config FILE
    const char *strings[S_STRING_FLAGS];  //  s_string_flags' values
    const char *counts[S_COUNT_FLAGS];    //  s_count_flags' values
    const char *images[S_REPLICAS];       //  --X-image-uri
    const char *accelerators[S_REPLICAS]; //  --X-accelerator
    const char *scale_tier;               //  --scale-tier
    const char *package_path;             //  --package-path DIR
    const char *staging_bucket;           //  --staging-bucket (accepted, unused)
    const char *format;                   //  --format of the printed resource
    hpt_cli_multi_t packages;             //  --packages A[,B...]
    hpt_cli_multi_t labels;               //  --labels K=V[,K=V...]
    bool stream;                          //  --stream-logs
    bool async;                           //  --async (the default)
} s_flags_t;

//  Reads and validates a config as `hpt validate` does; prints problems
//  under source's name. Returns the job (caller owns) or NULL.
static hpt_job_t *
s_read_text (const char *text, size_t size, hpt_config_format_t kind, const char *source)
{
    hpt_diag_t *diag = hpt_diag_new (source, kind == HPT_CONFIG_JSON);
    hpt_job_t *job = diag ? hpt_job_read_text (text, size, kind, diag) : NULL;
    if (!job && diag) {
        hpt_diag_print (diag, stderr);
        fprintf (stderr, "%zu problem%s found\n", hpt_diag_count (diag),
                 hpt_diag_count (diag) == 1 ? "" : "s");
    }
    hpt_diag_destroy (&diag);
    return job;
}

//  The config file as a Job resource (validated), or {} without one.
//  NULL (problems printed) when it is invalid. Its local packageUris
//  (hpt extension) are shipped for job_id unless the flags replace them
//  (ship false).
static json_t *
s_read_config (const char *config, const char *job_id, bool ship)
{
    if (!config) return json_pack ("{s:{}}", "trainingInput");
    hpt_error_t error;
    size_t size = 0;
    char *text = hpt_read_file (config, HPT_TREE_MAX_BYTES, &size, &error);
    if (!text) {
        fprintf (stderr, "%s: %s\n", config, error.message);
        return NULL;
    }
    hpt_job_t *job = s_read_text (text, size, hpt_config_format_guess (config, text, size), config);
    free (text);
    if (job && ship &&
        hpt_sdist_resolve (job->input.package_uris, job->input.package_uri_count, config, job_id,
                           &error) != 0) {
        fprintf (stderr, "%s: %s\n", config, error.message);
        hpt_job_destroy (&job);
    }
    json_t *json = job ? hpt_job_to_json (job) : NULL;
    hpt_job_destroy (&job);
    return json;
}

//  An object member of parent, made when missing.
static json_t *
s_child (json_t *parent, const char *name)
{
    json_t *child = json_object_get (parent, name);
    if (!json_is_object (child)) json_object_set_new (parent, name, child = json_object ());
    return child;
}

//  gcloud's spelling of an enum value (basic-gpu, nvidia-tesla-v100) as
//  the API's (BASIC_GPU, NVIDIA_TESLA_V100).
static json_t *
s_enum_value (const char *text)
{
    char *upper = hpt_strdup (text);
    for (char *p = upper; *p; p++)
        *p = *p == '-' ? '_' : (char)toupper ((unsigned char)*p);
    json_t *value = json_string (upper);
    free (upper);
    return value ? value : json_string ("?");
}

//  --X-accelerator type=T,count=N into an acceleratorConfig.
static json_t *
s_accelerator (const char *flag, const char *text)
{
    json_t *config = json_object ();
    char *copy = hpt_strdup (text);
    bool ok = true;
    for (char *save = NULL, *pair = strtok_r (copy, ",", &save); pair && ok;
         pair = strtok_r (NULL, ",", &save)) {
        if (strncmp (pair, "type=", 5) == 0)
            json_object_set_new (config, "type", s_enum_value (pair + 5));
        else if (strncmp (pair, "count=", 6) == 0 && pair[6] &&
                 strspn (pair + 6, "0123456789") == strlen (pair + 6) && strlen (pair + 6) < 10)
            json_object_set_new (config, "count", json_string (pair + 6));
        else
            ok = false;
    }
    free (copy);
    if (ok && json_object_get (config, "type")) return config;
    fprintf (stderr, "hpt jobs submit: %s takes type=TYPE[,count=N], not '%s'\n", flag, text);
    json_decref (config);
    return NULL;
}

//  --labels K=V[,K=V...] merged over the file's labels.
static bool
s_apply_labels (json_t *job, const hpt_cli_multi_t *labels)
{
    for (int i = 0; i < labels->count; i++) {
        char *copy = hpt_strdup (labels->values[i]);
        bool ok = true;
        for (char *save = NULL, *pair = strtok_r (copy, ",", &save); pair && ok;
             pair = strtok_r (NULL, ",", &save)) {
            char *eq = strchr (pair, '=');
            json_t *value = eq && eq > pair ? json_string (eq + 1) : NULL;
            if (value) {
                *eq = 0;
                json_object_set_new (s_child (job, "labels"), pair, value);
            } else
                ok = false;
        }
        free (copy);
        if (!ok) {
            fprintf (stderr, "hpt jobs submit: --labels takes KEY=VALUE[,KEY=VALUE...], not '%s'\n",
                     labels->values[i]);
            return false;
        }
    }
    return true;
}

//  packageUris from --package-path (built first) and --packages; local
//  paths become file:// URLs of their absolute path.
static bool
s_apply_packages (json_t *input, const s_flags_t *flags, const char *job_id)
{
    if (!flags->package_path && flags->packages.count == 0) return true;
    json_t *uris = json_array ();
    json_object_set_new (input, "packageUris", uris);
    if (flags->package_path) {
        hpt_error_t error;
        char *url = hpt_sdist_build (flags->package_path, job_id, &error);
        if (!url) {
            fprintf (stderr, "hpt jobs submit: %s\n", error.message);
            return false;
        }
        fprintf (stderr, "Built the trainer package %s from %s.\n", url + 7, flags->package_path);
        json_array_append_new (uris, json_string (url));
        free (url);
    }
    for (int i = 0; i < flags->packages.count; i++) {
        char *copy = hpt_strdup (flags->packages.values[i]);
        bool ok = true;
        for (char *save = NULL, *item = strtok_r (copy, ",", &save); item && ok;
             item = strtok_r (NULL, ",", &save)) {
            char real[PATH_MAX];
            if (strstr (item, "://"))
                json_array_append_new (uris, json_string (item));
            else if (realpath (item, real)) {
                char *url = hpt_asprintf ("file://%s", real);
                json_array_append_new (uris, json_string (url));
                free (url);
            } else {
                fprintf (stderr, "hpt jobs submit: --packages %s: no such file\n", item);
                ok = false;
            }
        }
        free (copy);
        if (!ok) return false;
    }
    return true;
}

//  Sets the fields the flags give on job (a Job resource). Returns
//  whether any was given in *changed; false after printing a problem.
static bool
s_apply_flags (json_t *job, const s_flags_t *flags, const char *job_id, bool *changed)
{
    json_t *input = s_child (job, "trainingInput");
    bool machine = false;
    *changed = false;
    for (size_t i = 0; i < S_STRING_FLAGS; i++) {
        if (!flags->strings[i]) continue;
        json_t *value = json_string (flags->strings[i]);
        if (!value) {
            fprintf (stderr, "hpt jobs submit: %s is not UTF-8\n", s_string_flags[i].flag);
            return false;
        }
        json_object_set_new (input, s_string_flags[i].field, value);
        machine = machine || strstr (s_string_flags[i].flag, "machine-type");
        *changed = true;
    }
    for (size_t i = 0; i < S_COUNT_FLAGS; i++) {
        const char *text = flags->counts[i];
        if (!text) continue;
        if (!*text || strspn (text, "0123456789") != strlen (text) || strlen (text) > 9) {
            fprintf (stderr, "hpt jobs submit: %s must be a number, not '%s'\n",
                     s_count_flags[i].flag, text);
            return false;
        }
        json_object_set_new (input, s_count_flags[i].field, json_string (text));
        machine = *changed = true;
    }
    for (size_t i = 0; i < S_REPLICAS; i++) {
        char flag[64];
        if (flags->images[i]) {
            json_t *value = json_string (flags->images[i]);
            if (value) json_object_set_new (s_child (input, s_replicas[i][1]), "imageUri", value);
            *changed = true;
        }
        if (!flags->accelerators[i]) continue;
        snprintf (flag, sizeof (flag), "--%s-accelerator", s_replicas[i][0]);
        json_t *accelerator = s_accelerator (flag, flags->accelerators[i]);
        if (!accelerator) return false;
        json_object_set_new (s_child (input, s_replicas[i][1]), "acceleratorConfig", accelerator);
        *changed = true;
    }
    //  gcloud: machine types mean a CUSTOM tier unless --scale-tier
    //  says otherwise (the file's tier, BASIC by default, is overridden).
    if (flags->scale_tier || machine)
        json_object_set_new (input, "scaleTier",
                             s_enum_value (flags->scale_tier ? flags->scale_tier : "CUSTOM"));
    *changed = *changed || flags->scale_tier || flags->labels.count > 0 || flags->package_path ||
               flags->packages.count > 0;
    return s_apply_labels (job, &flags->labels) && s_apply_packages (input, flags, job_id);
}

//  Says once which of the given flags hpt records but does not use.
static void
s_note_unused (const s_flags_t *flags)
{
    char names[160] = "";
    for (size_t i = 5; i < S_STRING_FLAGS; i++) //  --region, --runtime-version, --python-version
        if (flags->strings[i])
            snprintf (names + strlen (names), sizeof (names) - strlen (names), "%s%s",
                      *names ? ", " : "", s_string_flags[i].flag);
    if (*names)
        fprintf (stderr,
                 "NOTE: %s recorded in the job; hpt runs on its own machines and does "
                 "not use them.\n",
                 names);
    if (flags->staging_bucket)
        fprintf (stderr, "NOTE: --staging-bucket is not used by hpt: --package-path archives "
                         "go to $HPT_STAGING_DIR (else ~/.cache/hpt/staging).\n");
}

//  The Job to send: the file, the flags over it, the user args after
//  its own; validated again when a flag changed it. NULL after printing
//  the problems.
static json_t *
s_build_job (const s_flags_t *flags, const char *job_id, char **rest, int rest_count)
{
    json_t *job =
        s_read_config (flags->config, job_id, !flags->package_path && flags->packages.count == 0);
    bool changed = false;
    if (job && !s_apply_flags (job, flags, job_id, &changed)) {
        json_decref (job);
        return NULL;
    }
    if (!job) return NULL;
    //  jobId first, as the canonical Job has it.
    json_t *ordered = json_pack ("{s:s}", "jobId", job_id);
    json_object_del (job, "jobId");
    json_object_update (ordered, job);
    json_decref (job);
    job = ordered;
    json_t *input = s_child (job, "trainingInput");
    json_t *args = json_object_get (input, "args");
    if (rest_count > 0 && !json_is_array (args))
        json_object_set_new (input, "args", args = json_array ());
    for (int i = 0; i < rest_count; i++) {
        json_t *word = json_string (rest[i]);
        if (!word) {
            fprintf (stderr, "hpt jobs submit: user argument %d is not UTF-8\n", i + 1);
            json_decref (job);
            return NULL;
        }
        json_array_append_new (args, word);
    }
    //  Validated as the file was read; user args go through the reader
    //  too, so that the Job keeps its canonical member order.
    if (!changed && flags->config && rest_count == 0) return job;
    char *text = hpt_json_dumps (job, false);
    char *source = flags->config ? hpt_asprintf ("%s with the flags", flags->config)
                                 : hpt_strdup ("the flags");
    hpt_job_t *merged = text ? s_read_text (text, strlen (text), HPT_CONFIG_JSON, source) : NULL;
    json_decref (job);
    job = merged ? hpt_job_to_json (merged) : NULL;
    hpt_job_destroy (&merged);
    free (source);
    free (text);
    return job;
}

//  Follows the job's logs (narrated) and prints its final state.
static int
s_stream (hpt_client_t *client, const char *project, const char *job_id,
          hpt_projection_t *projection)
{
    hpt_follow_options_t follow = {.narrate = true, .interval_ms = 300};
    char *final = NULL;
    int rc = hpt_follow_run (client, project, job_id, &follow, &final);
    if (rc == 0) {
        json_t *resource = json_pack ("{s:s, s:s}", "jobId", job_id, "state", final);
        hpt_projection_print (projection, resource, stdout);
        json_decref (resource);
        rc = strcmp (final, "SUCCEEDED") == 0 ? 0 : 1;
        //  Say why, as gcloud does for a job that did not succeed.
        json_t *job_now = NULL;
        if (rc != 0 && hpt_cli_job_call (client, "GET", project, job_id, "", NULL, &job_now) == 0) {
            char *why = hpt_format_clean (
                json_string_value (json_object_get (job_now, "errorMessage")), "  ");
            if (why) fprintf (stderr, "ERROR: (hpt.jobs.submit) %s\n", why);
            free (why);
        }
        json_decref (job_now);
    }
    free (final);
    return rc;
}

//  Parses the flags into flags and args. Returns -1 to go on, else the
//  exit status (help printed, or a usage error).
static int
s_parse (hpt_cli_context_t *context, int argc, char *argv[], s_flags_t *flags, hpt_cli_args_t *args)
{
    char names[2 * S_REPLICAS][64];
    hpt_cli_option_t options[64] = {{"--config", &flags->config, NULL, NULL},
                                    {"--stream-logs", NULL, &flags->stream, NULL},
                                    {"--async", NULL, &flags->async, NULL},
                                    {"--format", &flags->format, NULL, NULL},
                                    {"--scale-tier", &flags->scale_tier, NULL, NULL},
                                    {"--package-path", &flags->package_path, NULL, NULL},
                                    {"--staging-bucket", &flags->staging_bucket, NULL, NULL},
                                    {"--packages", NULL, NULL, &flags->packages},
                                    {"--labels", NULL, NULL, &flags->labels}};
    size_t n = 9;
    for (size_t i = 0; i < S_STRING_FLAGS; i++)
        options[n++] = (hpt_cli_option_t){s_string_flags[i].flag, &flags->strings[i], NULL, NULL};
    for (size_t i = 0; i < S_COUNT_FLAGS; i++)
        options[n++] = (hpt_cli_option_t){s_count_flags[i].flag, &flags->counts[i], NULL, NULL};
    for (size_t i = 0; i < S_REPLICAS; i++) {
        snprintf (names[2 * i], sizeof (names[0]), "--%s-image-uri", s_replicas[i][0]);
        snprintf (names[2 * i + 1], sizeof (names[0]), "--%s-accelerator", s_replicas[i][0]);
        options[n++] = (hpt_cli_option_t){names[2 * i], &flags->images[i], NULL, NULL};
        options[n++] = (hpt_cli_option_t){names[2 * i + 1], &flags->accelerators[i], NULL, NULL};
    }
    options[n] = (hpt_cli_option_t){NULL, NULL, NULL, NULL};
    *args = (hpt_cli_args_t){
        .command = "jobs submit", .options = options, .positional_max = 2, .rest_allowed = true};
    int parsed = hpt_cli_parse (context, args, argc, argv);
    if (parsed >= 0) return parsed;
    if (args->positional_count != 2 || strcmp (args->positional[0], "training") != 0) {
        fprintf (stderr, "hpt jobs submit: usage: hpt jobs submit training JOB [--config FILE] "
                         "[flags] (see hpt jobs submit --help)\n");
        return 2;
    }
    if (!flags->config && !flags->strings[0] && !flags->images[0]) {
        fprintf (stderr, "hpt jobs submit: --config FILE is required (or at least a trainer: "
                         "--module-name or --master-image-uri)\n");
        return 2;
    }
    if (flags->async && flags->stream) {
        fprintf (stderr, "hpt jobs submit: --async and --stream-logs exclude each other\n");
        return 2;
    }
    if (!hpt_job_id_valid (args->positional[1])) {
        fprintf (stderr,
                 "hpt jobs submit: invalid job id '%s': it must start with a letter and "
                 "contain only letters, digits and underscores (at most 128)\n",
                 args->positional[1]);
        return 2;
    }
    return -1;
}

int
hpt_cli_jobs_submit (hpt_cli_context_t *context, int argc, char *argv[])
{
    s_flags_t flags = {.format = "yaml(jobId, state)"};
    hpt_cli_args_t args;
    int parsed = s_parse (context, argc, argv, &flags, &args);
    if (parsed >= 0) return parsed;
    const char *job_id = args.positional[1];
    hpt_projection_t *projection =
        hpt_projection_option ("jobs submit", flags.format, "jobId, state");
    json_t *body = projection ? s_build_job (&flags, job_id, args.rest, args.rest_count) : NULL;
    hpt_client_t *client = body ? hpt_client_new (context, "hpt.jobs.submit") : NULL;
    int rc = !body ? 2 : !client ? 1 : 0;
    if (rc == 0) s_note_unused (&flags);
    json_t *reply = NULL;
    if (rc == 0) rc = hpt_cli_job_call (client, "POST", context->project, NULL, "", body, &reply);
    if (rc == 0) {
        fprintf (stderr, "Job [%s] submitted successfully.\n", job_id);
        if (flags.stream)
            rc = s_stream (client, context->project, job_id, projection);
        else {
            fprintf (stderr,
                     "Your job is still active. You may view the status of your job with the "
                     "command\n\n  $ hpt jobs describe %s\n\nor continue streaming the logs "
                     "with the command\n\n  $ hpt jobs stream-logs %s\n",
                     job_id, job_id);
            hpt_projection_print (projection, reply, stdout);
        }
    }
    json_decref (reply);
    json_decref (body);
    hpt_projection_destroy (&projection);
    hpt_client_destroy (&client);
    return rc;
}
