/*  hpt_cli -- the commands of the hpt command-line client

    hpt.c parses the command words and hands the remaining arguments to
    one of these. Each returns the process exit status: 0 success, 1 the
    operation failed (e.g. a job did not succeed, or the master answered
    with an error), 2 bad usage or invalid input.

    Commands that talk to the master get a context with its URL, the
    project, the CA to verify an https master with and the API token, and
    where the URL and the token came from (hpt_settings: a flag, the
    environment, the config file or the default), so that messages can say
    what to change. They parse their own flags with hpt_cli_parse, which
    also accepts --master, --project and --ca-cert after the command
    words, as gcloud accepts its global flags anywhere. There is no token
    flag: a command line is visible in ps and kept in shell history.
*/
#ifndef HPT_CLI_H_INCLUDED
#define HPT_CLI_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>

#define HPT_CLI_DEFAULT_MASTER "http://127.0.0.1:7470"
#define HPT_CLI_DEFAULT_PROJECT "default"

typedef struct {
    const char *master;      //  master base URL, borrowed from argv/environ/settings
    const char *project;     //  project id, borrowed likewise
    const char *ca_cert;     //  CA file for an https master, borrowed; NULL: the system's CAs
    const char *token;       //  API token, borrowed; NULL: none. Never printed
    const char *master_from; //  where master came from ("--master", "HPT_MASTER", ...)
    const char *token_from;  //  where token came from ("HPT_TOKEN", ...); NULL without one
    const char *config_path; //  the config file hpt reads (it may not exist), for hints
} hpt_cli_context_t;

//  One flag a command accepts.
typedef struct {
    const char *name;   //  "--config"; NULL ends a table
    const char **value; //  where its value goes, for flags with a value
    bool *set;          //  where a switch goes (value == NULL)
} hpt_cli_option_t;

//  What hpt_cli_parse found besides the flags.
typedef struct {
    const char *command;             //  "jobs submit", for messages and --help
    const hpt_cli_option_t *options; //  table ended by a NULL name
    int positional_max;              //  how many positional words are allowed
    bool rest_allowed;               //  whether "-- ARGS..." is allowed
    const char *positional[4];       //  out: positional words, borrowed
    int positional_count;            //  out: entries in positional
    char **rest;                     //  out: words after "--", borrowed
    int rest_count;                  //  out: entries in rest
} hpt_cli_args_t;

//  Parses argv (the words after the command words) into args and context.
//  Flags take "--name VALUE" or "--name=VALUE". Returns -1 when parsing
//  succeeded and the command should run, 0 when --help was printed, or 2
//  after printing a usage error.
int hpt_cli_parse (hpt_cli_context_t *context, hpt_cli_args_t *args, int argc, char *argv[]);

//  Prints the help of one command ("jobs submit"), of a group ("jobs"),
//  or, for NULL, of all.
void hpt_cli_usage (const char *command, FILE *out);

//  hpt validate --config FILE [--format json|yaml]
int hpt_cli_validate (int argc, char *argv[]);

//  hpt jobs submit training|describe|list|cancel|stream-logs ...
int hpt_cli_jobs (hpt_cli_context_t *context, int argc, char *argv[]);

//  hpt nodes list|describe|drain|undrain ...
int hpt_cli_nodes (hpt_cli_context_t *context, int argc, char *argv[]);

//  hpt auth whoami
int hpt_cli_auth (hpt_cli_context_t *context, int argc, char *argv[]);

//  hpt users list|add|revoke|token ...
int hpt_cli_users (hpt_cli_context_t *context, int argc, char *argv[]);

//  hpt audit list [--after ID] [--limit N]
int hpt_cli_audit (hpt_cli_context_t *context, int argc, char *argv[]);

#endif
