/*  hpt validate -- checks a job config offline

    Reads the file with hpt_job_reader (the same reader the master uses for
    submissions), so what validates here is what the master reads. Then
    it makes the master's other checks that need no cluster
    (hpt_job_check_submission: a trainer), as errors: what validates here
    is not refused by the master for those reasons. A gcloud config file
    often leaves the trainer to the command line, so validate takes the
    submit flags that give one (--module-name, --package-path,
    --master-image-uri) and judges the job as the master would after them:
    the flags are merged and the result read again, as `hpt jobs submit`
    does. The defaults users often do not mean are notices on stderr.
*/
#include "hpt_alloc.h"
#include "hpt_cli.h"
#include "hpt_format.h"
#include "hpt_job_reader.h"
#include "hpt_json.h"
#include "hpt_sdist.h"
#include "hpt_tree.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

//  The command line.
typedef struct {
    const char *config;       //  --config FILE
    const char *format;       //  --format json|yaml
    const char *module_name;  //  --module-name M: trainingInput.pythonModule
    const char *package_path; //  --package-path DIR: checked, packageUris
    const char *image_uri;    //  --master-image-uri U: masterConfig.imageUri
} s_args_t;

//  Takes "--NAME VALUE" or "--NAME=VALUE" at argv[*i] into *value.
static bool
s_option (int argc, char *argv[], int *i, const char *name, const char **value)
{
    size_t len = strlen (name);
    if (strcmp (argv[*i], name) == 0 && *i + 1 < argc) {
        *value = argv[++*i];
        return true;
    }
    if (strncmp (argv[*i], name, len) == 0 && argv[*i][len] == '=') {
        *value = argv[*i] + len + 1;
        return true;
    }
    return false;
}

//  0, 1 after --help, 2 after a usage problem.
static int
s_parse (int argc, char *argv[], s_args_t *args)
{
    for (int i = 0; i < argc; i++) {
        if (s_option (argc, argv, &i, "--config", &args->config) ||
            s_option (argc, argv, &i, "--format", &args->format) ||
            s_option (argc, argv, &i, "--module-name", &args->module_name) ||
            s_option (argc, argv, &i, "--package-path", &args->package_path) ||
            s_option (argc, argv, &i, "--master-image-uri", &args->image_uri))
            continue;
        if (strcmp (argv[i], "--help") == 0) {
            printf ("Usage: hpt validate --config FILE [--format json|yaml] [--module-name M]\n"
                    "                    [--package-path DIR] [--master-image-uri U]\n");
            return 1;
        }
        fprintf (stderr, "hpt validate: unexpected argument '%s'\n", argv[i]);
        return 2;
    }
    if (!args->config) {
        fprintf (stderr, "hpt validate: --config FILE is required\n");
        return 2;
    }
    return 0;
}

//  Prints diag's problems and the count line.
static void
s_print_problems (hpt_diag_t *diag)
{
    hpt_diag_print (diag, stderr);
    fprintf (stderr, "%zu problem%s found\n", hpt_diag_count (diag),
             hpt_diag_count (diag) == 1 ? "" : "s");
}

//  The job with the trainer flags merged, read again as submit reads it
//  (problems named from "FILE with the flags"). Takes job; returns the
//  merged one, or NULL after printing its problems.
static hpt_job_t *
s_merge_flags (hpt_job_t *job, const s_args_t *args)
{
    if (!args->module_name && !args->package_path && !args->image_uri) return job;
    char real[PATH_MAX];
    struct stat st;
    if (args->package_path &&
        (!realpath (args->package_path, real) || stat (real, &st) != 0 || !S_ISDIR (st.st_mode))) {
        fprintf (stderr, "hpt validate: --package-path %s: not a directory\n", args->package_path);
        hpt_job_destroy (&job);
        return NULL;
    }
    json_t *json = hpt_job_to_json (job);
    hpt_job_destroy (&job);
    json_t *input = json_object_get (json, "trainingInput");
    if (args->module_name)
        json_object_set_new (input, "pythonModule", json_string (args->module_name));
    if (args->package_path) json_object_set_new (input, "packageUris", json_pack ("[s]", real));
    if (args->image_uri) {
        json_t *master = json_object_get (input, "masterConfig");
        if (!master) json_object_set_new (input, "masterConfig", master = json_object ());
        json_object_set_new (master, "imageUri", json_string (args->image_uri));
    }
    char *text = hpt_json_dumps (json, false);
    json_decref (json);
    char *source = hpt_asprintf ("%s with the flags", args->config);
    hpt_diag_t *diag = hpt_diag_new (source, true);
    job = text ? hpt_job_read_text (text, strlen (text), HPT_CONFIG_JSON, diag) : NULL;
    if (!job) s_print_problems (diag);
    hpt_diag_destroy (&diag);
    free (source);
    free (text);
    return job;
}

//  The job read, merged and checked as the master would, or NULL after
//  printing every problem (exit 2). *json_p: whether the file is JSON.
static hpt_job_t *
s_check (const s_args_t *args, bool *json_p)
{
    hpt_error_t error;
    size_t size = 0;
    char *text = hpt_read_file (args->config, HPT_TREE_MAX_BYTES, &size, &error);
    if (!text) {
        fprintf (stderr, "%s: %s\n", args->config, error.message);
        return NULL;
    }
    //  JSON documents get JSON pointers in their messages; decide after
    //  a look at the content when the extension does not say.
    hpt_config_format_t kind = hpt_config_format_guess (args->config, text, size);
    hpt_diag_t *diag = hpt_diag_new (args->config, kind == HPT_CONFIG_JSON);
    hpt_job_t *job = hpt_job_read_text (text, size, kind, diag);
    free (text);
    if (!job) s_print_problems (diag);
    //  Local packageUris (hpt extension) must exist, as submit ships
    //  them, relative to the file; a --package-path to the working
    //  directory. They are shown absolute.
    if (job && hpt_sdist_resolve (job->input.package_uris, job->input.package_uri_count,
                                  args->config, NULL, &error) != 0) {
        fprintf (stderr, "%s: %s\n1 problem found\n", args->config, error.message);
        hpt_job_destroy (&job);
    }
    hpt_diag_destroy (&diag);
    *json_p = kind == HPT_CONFIG_JSON;
    job = job ? s_merge_flags (job, args) : NULL;
    if (!job) return NULL;
    hpt_diag_t *refused = hpt_diag_new (args->config, *json_p);
    if (!hpt_job_check_submission (job, true, refused)) {
        s_print_problems (refused);
        hpt_job_destroy (&job);
    }
    hpt_diag_destroy (&refused);
    return job;
}

int
hpt_cli_validate (int argc, char *argv[])
{
    s_args_t args = {.format = "json"};
    int rc = s_parse (argc, argv, &args);
    if (rc != 0) return rc == 1 ? 0 : rc;
    hpt_format_style_t style;
    if (!hpt_format_style_option ("validate", args.format, &style)) return 2;
    bool json_file = false;
    hpt_job_t *job = s_check (&args, &json_file);
    if (!job) return 2;
    //  Said, not refused: defaults users often do not mean.
    hpt_diag_t *notices = hpt_diag_new (args.config, json_file);
    hpt_job_notices (job, notices);
    for (size_t i = 0; i < hpt_diag_count (notices); i++) {
        char *line = hpt_diag_format (notices, i);
        fprintf (stderr, "notice: %s\n", line);
        free (line);
    }
    hpt_diag_destroy (&notices);
    json_t *json = hpt_job_to_json (job);
    hpt_format_print (json, style, stdout);
    json_decref (json);
    hpt_job_destroy (&job);
    return 0;
}
