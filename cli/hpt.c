/*  hpt -- the command-line client

    Modelled on `gcloud ai-platform jobs`. Commands that need a master talk
    to its REST API (hpt_client); `validate` works offline.

    The help text of every command lives here, in one table, so that
    `hpt --help` and `hpt COMMAND --help` say the same thing. Global flags
    (--master, --project, --ca-cert) may come before the command words or
    among the command's own flags; the environment (HPT_MASTER,
    HPT_PROJECT, HPT_CA_CERT) and the defaults fill in what is not given.
*/
#include "hpt_alloc.h"
#include "hpt_cli.h"
#include "hpt_version.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *command; //  command words, "jobs submit"
    const char *text;    //  its usage and description
} s_help_t;

static const s_help_t s_help[] = {
    {"validate", "  validate --config FILE [--format json|yaml]\n"
                 "      Check a job config (YAML with trainingInput at the root, or a REST\n"
                 "      Job resource in JSON). Prints the normalized job (defaults filled\n"
                 "      in) and exits 0, or prints every problem as\n"
                 "      FILE:LINE:COL: field.path: message (a JSON pointer for JSON) and\n"
                 "      exits 2. Works without a master.\n"},
    {"jobs submit",
     "  jobs submit training JOB --config FILE [--stream-logs] [-- USER_ARGS...]\n"
     "      Submit a hyperparameter tuning job named JOB (a letter, then letters,\n"
     "      digits and underscores, at most 128). FILE is checked as `hpt validate`\n"
     "      does; problems are printed and the command exits 2 without contacting\n"
     "      the master. USER_ARGS are appended to trainingInput.args.\n"
     "      --stream-logs  follow the job's logs until it ends; exit 1 unless it\n"
     "                     SUCCEEDED.\n"},
    {"jobs describe",
     "  jobs describe JOB [--format json|yaml] [--summarize]\n"
     "      Print the Job resource (YAML by default) with its trials, best first.\n"
     "      --summarize  a header (state, trials completed of maxTrials, metric,\n"
     "                   goal, best trial) and a table of trials: TRIAL, STATE,\n"
     "                   OBJECTIVE, STEP and one column per hyperparameter, then\n"
     "                   notes on trials stopped early or failed.\n"},
    {"jobs list", "  jobs list [--filter EXPR] [--page-size N] [--limit N]\n"
                  "      Table of jobs in submission order: JOB_ID, STATUS, CREATED;\n"
                  "      every page of the master's list.\n"
                  "      --filter     passed to the master, e.g. 'state=RUNNING' or\n"
                  "                   'jobId=mnist*', joined with ' AND '.\n"
                  "      --page-size  jobs per request (the master's default 20, at\n"
                  "                   most 1000).\n"
                  "      --limit      show at most N jobs (the first N).\n"},
    {"jobs cancel", "  jobs cancel JOB\n"
                    "      Cancel a job: every running task is stopped and the job ends\n"
                    "      CANCELLED. Fails if the job has already finished.\n"},
    {"jobs stream-logs",
     "  jobs stream-logs JOB [--trial N]\n"
     "      Follow a job's logs (stdout and stderr of every task, in order) as\n"
     "      '[trial N REPLICA] text' until the job ends. Exits 0 if the job\n"
     "      SUCCEEDED, 1 otherwise.\n"
     "      --trial N  only the logs of trial N.\n"},
    {"nodes list", "  nodes list [--page-size N]\n"
                   "      Table of agents: NAME, STATE, DRAIN, CPUS, FREE_CPUS, MEMORY_GB,\n"
                   "      GPUS (free/total and type), TASKS (placed by the master), LOAD\n"
                   "      (the host's 1-minute load average, as its agent last said),\n"
                   "      REASON (of a drain); every page of the master's list.\n"
                   "      --page-size  nodes per request (the master's default 20, at\n"
                   "                   most 1000).\n"},
    {"nodes describe", "  nodes describe NODE [--format json|yaml]\n"
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
                  "Global options (before or after the command words):\n"
                  "  --master URL   the hpt master's REST API (default: $HPT_MASTER, else\n"
                  "                 " HPT_CLI_DEFAULT_MASTER ")\n"
                  "  --project P    project of the jobs (default: $HPT_PROJECT, else\n"
                  "                 " HPT_CLI_DEFAULT_PROJECT ")\n"
                  "  --ca-cert FILE the CA (PEM) to verify an https:// master with, e.g.\n"
                  "                 DIR/ca.pem from hptmaster certgen (default: $HPT_CA_CERT,\n"
                  "                 else the system's CAs)\n"
                  "  --help         show help and exit\n"
                  "  --version      print the version and exit\n"
                  "\n"
                  "Exit status: 0 success, 1 the master reported an error or the job did\n"
                  "not succeed, 2 bad usage or an invalid job config.\n");
}

//  Takes one global flag at argv[*i] if it is one. Returns 1 when taken,
//  0 when not a global flag, 2 when its value is missing.
static int
s_global_flag (hpt_cli_context_t *context, int argc, char *argv[], int *i)
{
    const char *names[] = {"--master", "--project", "--ca-cert"};
    const char **slots[] = {&context->master, &context->project, &context->ca_cert};
    for (size_t n = 0; n < 3; n++) {
        size_t len = strlen (names[n]);
        if (strcmp (argv[*i], names[n]) == 0) {
            if (*i + 1 >= argc) {
                fprintf (stderr, "hpt: %s needs a value\n", names[n]);
                return 2;
            }
            *slots[n] = argv[++*i];
            return 1;
        }
        if (strncmp (argv[*i], names[n], len) == 0 && argv[*i][len] == '=') {
            *slots[n] = argv[*i] + len + 1;
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
                    (word[len] == '\0' || (word[len] == '=' && option->value)))
                    break;
            }
            if (!option || !option->name) {
                fprintf (stderr, "hpt %s: unknown flag '%s' (see hpt %s --help)\n", args->command,
                         word, args->command);
                return 2;
            }
            if (!option->value)
                *option->set = true;
            else if (word[len] == '=')
                *option->value = word + len + 1;
            else if (i + 1 < argc)
                *option->value = argv[++i];
            else {
                fprintf (stderr, "hpt %s: %s needs a value\n", args->command, option->name);
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

int
main (int argc, char *argv[])
{
    hpt_alloc_init (); //  before any JSON: jansson allocates through hpt_alloc's policy
    hpt_cli_context_t context = {NULL, NULL, NULL};
    int i = 1;
    for (; i < argc; i++) {
        int global = s_global_flag (&context, argc, argv, &i);
        if (global == 2) return 2;
        if (global == 0) break;
    }
    const char *env_master = getenv ("HPT_MASTER");
    const char *env_project = getenv ("HPT_PROJECT");
    const char *env_ca_cert = getenv ("HPT_CA_CERT");
    if (!context.master)
        context.master = env_master && *env_master ? env_master : HPT_CLI_DEFAULT_MASTER;
    if (!context.project)
        context.project = env_project && *env_project ? env_project : HPT_CLI_DEFAULT_PROJECT;
    if (!context.ca_cert && env_ca_cert && *env_ca_cert) context.ca_cert = env_ca_cert;

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
    if (strcmp (command, "jobs") == 0) return hpt_cli_jobs (&context, argc - i - 1, argv + i + 1);
    if (strcmp (command, "nodes") == 0) return hpt_cli_nodes (&context, argc - i - 1, argv + i + 1);
    fprintf (stderr, "hpt: unknown command '%s' (see hpt --help)\n", command);
    return 2;
}
