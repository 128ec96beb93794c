/*  hpt -- the command-line client

    Modelled on `gcloud ai-platform jobs`. Commands that need a master talk
    to its REST API (hpt_client); `validate` works offline.

    The help text of every command lives here, in one table, so that
    `hpt --help` and `hpt COMMAND --help` say the same thing. Global flags
    (--master, --project, --ca-cert) may come before the command words or
    among the command's own flags; the environment (HPT_MASTER, HPT_TOKEN,
    HPT_PROJECT, HPT_CA_CERT), the config file and the defaults fill in
    what is not given (hpt_settings). The config file is read only by
    commands that talk to a master, and not for --help, so a broken file
    never hides the help that explains it.
*/
#include "hpt_alloc.h"
#include "hpt_cli.h"
#include "hpt_settings.h"
#include "hpt_version.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *command; //  command words, "jobs submit"
    const char *text;    //  its usage and description
} s_help_t;

static const s_help_t s_help[] = {
    {"validate", "  validate --config FILE [--format json|yaml] [--module-name M]\n"
                 "           [--package-path DIR] [--master-image-uri U]\n"
                 "      Check a job config (YAML with trainingInput at the root, or a REST\n"
                 "      Job resource in JSON) as the master would, short of its cluster:\n"
                 "      a job with no trainer (command, pythonModule or imageUri) is an\n"
                 "      error. The flags give the trainer as they do to submit. Prints\n"
                 "      the normalized job (defaults filled in) and exits 0, or prints\n"
                 "      every problem as FILE:LINE:COL: field.path: message (a JSON\n"
                 "      pointer for JSON) and exits 2. Works without a master.\n"},
    {"jobs submit",
     "  jobs submit training JOB [--config FILE] [gcloud flags] [--stream-logs | --async]\n"
     "                          [--format F] [-- USER_ARGS...]\n"
     "      Submit a job named JOB (a letter, then letters, digits and underscores,\n"
     "      at most 128). FILE is checked as `hpt validate` does; the flags override\n"
     "      it, as gcloud's do, and the result is checked again; problems are\n"
     "      printed and the command exits 2 without contacting the master.\n"
     "      USER_ARGS are appended to trainingInput.args.\n"
     "      --module-name M           pythonModule\n"
     "      --package-path DIR        build a source distribution of the package DIR\n"
     "                                under $HPT_STAGING_DIR (else ~/.cache/hpt/staging)\n"
     "                                and ship it as the first file:// packageUris\n"
     "      --packages A[,B]          more packageUris (local paths become file://)\n"
     "      --job-dir DIR             jobDir\n"
     "      --scale-tier T            scaleTier (basic, custom, ...; CUSTOM when a\n"
     "                                machine type is given without it)\n"
     "      --master-machine-type T, --worker-machine-type T,\n"
     "      --parameter-server-machine-type T   masterType, workerType, ...\n"
     "      --worker-count N, --parameter-server-count N\n"
     "      --master-image-uri U, --worker-image-uri U, --parameter-server-image-uri U\n"
     "      --master-accelerator type=T,count=N (also --worker-, --parameter-server-)\n"
     "      --labels K=V[,K=V]        labels, over the file's\n"
     "      --region, --runtime-version, --python-version  recorded, unused by hpt\n"
     "      --staging-bucket          accepted, unused by hpt\n"
     "      --async                   return once submitted (the default)\n"
     "      --stream-logs             follow the job's logs, narrated, until it ends;\n"
     "                                exit 1 unless it SUCCEEDED.\n"
     "      --format F                how the job (jobId, state) prints; see Formats.\n"},
    {"jobs describe",
     "  jobs describe JOB [--format F] [--summarize]\n"
     "      Print the Job resource (YAML by default) with its trials, best first.\n"
     "      --summarize  a header (state, trials completed of maxTrials, metric,\n"
     "                   goal, best trial among those SUCCEEDED with a final\n"
     "                   metric) and a table of trials: TRIAL, STATE, OBJECTIVE\n"
     "                   (6 significant digits), STEP and one column per\n"
     "                   hyperparameter, then notes on trials stopped early or\n"
     "                   failed. With --format, the same as a resource (jobId,\n"
     "                   state, bestTrial, trials, ...).\n"},
    {"jobs list", "  jobs list [--filter EXPR]... [--sort-by [~]FIELD[,...]] [--limit N]\n"
                  "            [--page-size N] [--uri] [--format F]\n"
                  "      Table of jobs in submission order: JOB_ID, STATUS, CREATED;\n"
                  "      every page of the master's list.\n"
                  "      --filter     passed to the master, e.g. 'state=RUNNING' or\n"
                  "                   'jobId=mnist*'; repeated, they are ANDed.\n"
                  "      --sort-by    sort by these fields (~: descending), before --limit.\n"
                  "      --limit      show at most N jobs (the first N).\n"
                  "      --page-size  jobs per request (the master's default 20, at\n"
                  "                   most 1000).\n"
                  "      --uri        print each job's URL instead.\n"},
    {"jobs update", "  jobs update JOB [--update-labels K=V[,K=V]] [--remove-labels K[,K]]\n"
                    "                  [--clear-labels] [--format F]\n"
                    "      Change a job's labels (clear, then remove, then update): read with its\n"
                    "      etag and written back with updateMask=labels,etag, so a change made\n"
                    "      meanwhile is refused rather than overwritten. Prints jobId, labels\n"
                    "      and etag.\n"},
    {"jobs cancel", "  jobs cancel JOB\n"
                    "      Cancel a job: every running task is stopped and the job ends\n"
                    "      CANCELLED. Fails if the job has already finished.\n"},
    {"jobs stream-logs",
     "  jobs stream-logs JOB [--trial N] [--task-name NAME] [--polling-interval S]\n"
     "                       [--allow-multiline-logs]\n"
     "      Follow a job's logs (stdout and stderr of every task, in order) as\n"
     "      '[trial N REPLICA] text' until the job ends, with '[hpt]' lines that\n"
     "      tell what happens: the job queued (and why), each trial started (its\n"
     "      node and parameters), ended (its objective, or the reason and the last\n"
     "      lines of its stderr), stopped early, and the best trial at the end.\n"
     "      Exits 0 if the job SUCCEEDED, 1 otherwise; gives up if the master is\n"
     "      not reached within 10 s, or lost for 30 s.\n"
     "      --trial N             only trial N.\n"
     "      --task-name NAME      only one task: master, master-0, master-replica-0\n"
     "                            (gcloud's name) or hpt's task id.\n"
     "      --polling-interval S  seconds between polls that brought nothing\n"
     "                            (default 0.3).\n"
     "      --allow-multiline-logs  print each log record as it came, not line by line.\n"},
    {"nodes list", "  nodes list [--page-size N] [--format F]\n"
                   "      Table of agents: NAME, STATE, DRAIN, CPUS, FREE_CPUS, MEMORY_GB,\n"
                   "      GPUS (free/total and type), TASKS (placed by the master), LOAD\n"
                   "      (the host's 1-minute load average, as its agent last said),\n"
                   "      REASON (of a drain); every page of the master's list.\n"
                   "      --page-size  nodes per request (the master's default 20, at\n"
                   "                   most 1000).\n"},
    {"nodes describe", "  nodes describe NODE [--format F]\n"
                       "      Print one agent's resource (YAML by default): resources, free\n"
                       "      resources, accelerators, drain state, reason, who and when.\n"},
    {"nodes drain", "  nodes drain NODE [--reason TEXT] [--now]\n"
                    "      Take a node out of service: no new task lands on it; it is\n"
                    "      DRAINING while its tasks run, then DRAINED. The reason, your\n"
                    "      user name ($USER) and the time are recorded.\n"
                    "      --reason TEXT  why (shown by nodes list/describe)\n"
                    "      --now          stop its tasks at once; their trials are requeued\n"
                    "                     elsewhere and not counted as failed.\n"},
    {"nodes undrain", "  nodes undrain NODE\n"
                      "      Put a drained or draining node back in service.\n"},
    {"nodes delete", "  nodes delete NODE\n"
                     "      Forget a node that is LOST (its agent stopped or gone): it no\n"
                     "      longer counts toward master.maxAgents; its trials keep its name.\n"},
    {"auth whoami", "  auth whoami [--format F]\n"
                    "      Print who the master takes you for (name and role: viewer, user or\n"
                    "      admin), and on stderr which master was asked and where the URL and\n"
                    "      the token came from.\n"},
    {"users list", "  users list [--format F]\n"
                   "      Table of the master's users: NAME, ROLE, STATE (active or revoked),\n"
                   "      CREATED. Admins only.\n"},
    {"users add", "  users add NAME --role viewer|user|admin\n"
                  "      Make a user (1-64 of a-z, 0-9, '.', '_', '-') and its token, which is\n"
                  "      printed once, alone on the last line of stdout; the master keeps only\n"
                  "      its hash. viewer: read jobs and nodes; user: also submit jobs and\n"
                  "      cancel its own; admin: everything. Admins only.\n"},
    {"users revoke", "  users revoke NAME\n"
                     "      Revoke a user: its token stops working at once. Admins only.\n"},
    {"users token", "  users token NAME\n"
                    "      Issue a new token for a user (a lost or leaked one; the old one\n"
                    "      stops working), printed alone on the last line of stdout. Admins\n"
                    "      only.\n"},
    {"audit list", "  audit list [--after ID] [--limit N] [--format F]\n"
                   "      The audit trail, oldest first: every POST and DELETE, refused or not,\n"
                   "      as ID, TIME (UTC), USER, METHOD, ROUTE, TARGET (job or node), STATUS.\n"
                   "      Admins only.\n"
                   "      --after ID  only entries after ID (continue a listing)\n"
                   "      --limit N   at most N entries (default: all)\n"},
};

#define S_HELP_COUNT (sizeof (s_help) / sizeof (s_help[0]))

void
hpt_cli_usage (const char *command, FILE *out)
{
    fprintf (out, "Usage: hpt [--master URL] [--project P] [--ca-cert FILE] COMMAND [options]\n\n");
    fprintf (out, "Commands:\n");
    size_t len = command ? strlen (command) : 0;
    for (size_t i = 0; i < S_HELP_COUNT; i++) {
        const char *name = s_help[i].command;
        if (!command || strcmp (name, command) == 0 ||
            (strncmp (name, command, len) == 0 && name[len] == ' '))
            fputs (s_help[i].text, out);
    }
    fprintf (out, "\n"
                  "Global options (before or after the command words; a flag wins over the\n"
                  "environment, which wins over the config file):\n"
                  "  --master URL   the hpt master's REST API (master.api): http://HOST:PORT,\n"
                  "                 https://HOST:PORT, or its Unix socket (master.apiSocket) as\n"
                  "                 unix:///PATH (else $HPT_MASTER, master: in the config file,\n"
                  "                 or " HPT_CLI_DEFAULT_MASTER ")\n"
                  "  --project P    project of the jobs (else $HPT_PROJECT, project:, or\n"
                  "                 " HPT_CLI_DEFAULT_PROJECT ")\n"
                  "  --ca-cert FILE the CA (PEM) to verify an https:// master with, e.g.\n"
                  "                 DIR/ca.pem from hptmaster certgen (else $HPT_CA_CERT,\n"
                  "                 caCert:, or the system's CAs)\n"
                  "  --help         show help and exit\n"
                  "  --version      print the version and exit\n"
                  "\n"
                  "Formats (--format F, gcloud's projections): json, yaml, none,\n"
                  "  table(KEY, ...), value(KEY, ...) (tab-separated, no headings),\n"
                  "  csv(KEY, ...); json(KEY, ...) and yaml(KEY, ...) keep only those\n"
                  "  fields. KEY is a field path (trainingOutput.trials[0].trialId,\n"
                  "  labels.team) with an optional :label=HEADING; table[no-heading] and\n"
                  "  csv[no-heading] drop the headings. A list command's table, value or\n"
                  "  csv without keys prints its usual columns.\n"
                  "\n"
                  "The API token (hpt users add, hptmaster users add) is $HPT_TOKEN, else\n"
                  "token: in the config file; never a flag, since command lines show in ps\n"
                  "and shell history. It is sent as 'Authorization: Bearer'.\n"
                  "\n"
                  "Config file: $HPT_CONFIG, else ~/.config/hpt/config.yaml (YAML with the keys\n"
                  "master, token, caCert, project; a relative caCert is relative to the file).\n"
                  "A file with a token must be yours alone (chmod 600 FILE): hpt will not use\n"
                  "a token others may read.\n"
                  "\n"
                  "Exit status: 0 success, 1 the master reported an error or the job did\n"
                  "not succeed, 2 bad usage, an invalid job config or config file.\n");
}

//  Takes one global flag at argv[*i] if it is one. Returns 1 when taken,
//  0 when not a global flag, 2 when its value is missing.
static int
s_global_flag (hpt_cli_context_t *context, int argc, char *argv[], int *i)
{
    const char *names[] = {"--master", "--project", "--ca-cert", NULL};
    const char **slots[] = {&context->master, &context->project, &context->ca_cert};
    for (size_t n = 0; n < 3; n++) {
        size_t len = strlen (names[n]);
        if (strcmp (argv[*i], names[n]) == 0) {
            if (*i + 1 >= argc) {
                fprintf (stderr, "hpt: %s needs a value\n", names[n]);
                return 2;
            }
            *slots[n] = argv[++*i];
            if (n == 0) context->master_from = "--master";
            return 1;
        }
        if (strncmp (argv[*i], names[n], len) == 0 && argv[*i][len] == '=') {
            *slots[n] = argv[*i] + len + 1;
            if (n == 0) context->master_from = "--master";
            return 1;
        }
    }
    return 0;
}

int
hpt_cli_parse (hpt_cli_context_t *context, hpt_cli_args_t *args, int argc, char *argv[])
{
    args->positional_count = 0;
    args->rest = NULL;
    args->rest_count = 0;
    for (int i = 0; i < argc; i++) {
        const char *word = argv[i];
        if (strcmp (word, "--help") == 0 || strcmp (word, "-h") == 0) {
            hpt_cli_usage (args->command, stdout);
            return 0;
        }
        if (strcmp (word, "--") == 0) {
            if (!args->rest_allowed) {
                fprintf (stderr, "hpt %s: unexpected '--' (see hpt %s --help)\n", args->command,
                         args->command);
                return 2;
            }
            args->rest = argv + i + 1;
            args->rest_count = argc - i - 1;
            break;
        }
        int global = s_global_flag (context, argc, argv, &i);
        if (global == 2) return 2;
        if (global == 1) continue;
        if (strncmp (word, "--", 2) == 0) {
            const hpt_cli_option_t *option = args->options;
            size_t len = 0;
            for (; option && option->name; option++) {
                len = strlen (option->name);
                if (strncmp (word, option->name, len) == 0 &&
                    (word[len] == '\0' || (word[len] == '=' && !option->set)))
                    break;
            }
            if (!option || !option->name) {
                fprintf (stderr, "hpt %s: unknown flag '%s' (see hpt %s --help)\n", args->command,
                         word, args->command);
                return 2;
            }
            if (option->set) {
                *option->set = true;
                continue;
            }
            const char *value = word[len] == '=' ? word + len + 1 : NULL;
            if (!value && i + 1 >= argc) {
                fprintf (stderr, "hpt %s: %s needs a value\n", args->command, option->name);
                return 2;
            }
            if (!value) value = argv[++i];
            if (option->value)
                *option->value = value;
            else if (option->multi->count < HPT_CLI_MULTI_MAX)
                option->multi->values[option->multi->count++] = value;
            else {
                fprintf (stderr, "hpt %s: %s may be given at most %d times\n", args->command,
                         option->name, HPT_CLI_MULTI_MAX);
                return 2;
            }
            continue;
        }
        if (args->positional_count >= args->positional_max ||
            args->positional_count >= (int)(sizeof (args->positional) / sizeof (char *))) {
            fprintf (stderr, "hpt %s: unexpected argument '%s' (see hpt %s --help)\n",
                     args->command, word, args->command);
            return 2;
        }
        args->positional[args->positional_count++] = word;
    }
    return -1;
}

//  A command that talks to a master, given the words after it: its
//  settings resolved (the config file read), or help asked for (no file
//  needed). Returns the command's exit status.
typedef int (*s_command_fn) (hpt_cli_context_t *context, int argc, char *argv[]);

static int
s_run (s_command_fn command, hpt_cli_context_t *context, int argc, char *argv[])
{
    bool help = false;
    for (int i = 0; i < argc && strcmp (argv[i], "--") != 0; i++)
        help = help || strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0;
    hpt_settings_t *settings = help ? NULL : hpt_settings_resolve (context);
    if (!help && !settings) return 2;
    int rc = command (context, argc, argv);
    hpt_settings_destroy (&settings);
    return rc;
}

int
main (int argc, char *argv[])
{
    hpt_alloc_init (); //  before any JSON: jansson allocates through hpt_alloc's policy
    hpt_cli_context_t context = {0};
    int i = 1;
    for (; i < argc; i++) {
        int global = s_global_flag (&context, argc, argv, &i);
        if (global == 2) return 2;
        if (global == 0) break;
    }

    if (i >= argc) {
        hpt_cli_usage (NULL, stderr);
        return 2;
    }
    const char *command = argv[i];
    if (strcmp (command, "--help") == 0 || strcmp (command, "-h") == 0 ||
        strcmp (command, "help") == 0) {
        hpt_cli_usage (NULL, stdout);
        return 0;
    }
    if (strcmp (command, "--version") == 0) {
        printf ("hpt %s\n", HPT_VERSION);
        return 0;
    }
    if (strcmp (command, "validate") == 0) return hpt_cli_validate (argc - i - 1, argv + i + 1);
    const char *names[] = {"jobs", "nodes", "auth", "users", "audit"};
    s_command_fn commands[] = {hpt_cli_jobs, hpt_cli_nodes, hpt_cli_auth, hpt_cli_users,
                               hpt_cli_audit};
    for (size_t n = 0; n < sizeof (names) / sizeof (names[0]); n++)
        if (strcmp (command, names[n]) == 0)
            return s_run (commands[n], &context, argc - i - 1, argv + i + 1);
    fprintf (stderr, "hpt: unknown command '%s' (see hpt --help)\n", command);
    return 2;
}
