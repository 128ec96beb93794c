/*  hpt-bench -- benchmark programs that print figures

    Each subcommand measures one target of docs/targets.md and prints its
    figures (one JSON object with --json). A subcommand is a function
    int bench_NAME (int argc, char *argv[]) in its own file
    tests/bench/bench_*.c, registered by one line in HPT_BENCH_COMMANDS
    below; it gets argv from its own name on and returns the exit status.
*/
#include "hpt_alloc.h"
#include "hpt_version.h"
#include <stdio.h>
#include <string.h>

//  X (function suffix, command name, one-line help)
#define HPT_BENCH_COMMANDS(X)                                                                      \
    X (optimizer, "optimizer", "optimizer quality: regret on test functions")                      \
    X (suggest_latency, "suggest-latency", "time of one suggestion after N observations")          \
    X (trials, "trials", "trials/s and exit-to-next-launch latency through a real master+agent")   \
    X (metrics, "metrics", "metric points/s from trainer stdout through agent, master, SQLite")    \
    X (api, "api", "GET of a job with many metric points, and the master loop's stalls")           \
    X (api_tls, "api-tls", "GET latency of the REST API, http and https side by side")             \
    X (agents, "agents", "a master and N fake agents: CPU, RSS, API latency, a job's trials/s")

#define X_DECLARE(fn, name, help) int bench_##fn (int argc, char *argv[]);
HPT_BENCH_COMMANDS (X_DECLARE)

typedef struct {
    const char *name;                    //  subcommand as typed
    int (*run) (int argc, char *argv[]); //  its entry point
    const char *help;                    //  one line for --help
} s_command_t;

#define X_ENTRY(fn, name, help) {name, bench_##fn, help},
static const s_command_t s_commands[] = {HPT_BENCH_COMMANDS (X_ENTRY)};

static void
s_usage (FILE *out)
{
    fprintf (out, "Usage: hpt-bench COMMAND [options]   (COMMAND --help for its options)\n\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf (out, "  %-18s %s\n", s_commands[i].name, s_commands[i].help);
}

int
main (int argc, char *argv[])
{
    hpt_alloc_init (); //  before any JSON: jansson allocates through hpt_alloc's policy
    if (argc < 2 || strcmp (argv[1], "--help") == 0) {
        s_usage (argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp (argv[1], "--version") == 0) {
        printf ("hpt-bench %s\n", HPT_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp (argv[1], s_commands[i].name) == 0)
            return s_commands[i].run (argc - 1, argv + 1);
    fprintf (stderr, "hpt-bench: unknown command '%s'\n", argv[1]);
    s_usage (stderr);
    return 2;
}
