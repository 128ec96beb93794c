/*  hpt_cli -- the commands of the hpt command-line client

    hpt.c parses the command words and hands the remaining arguments to
    one of these. Each returns the process exit status: 0 success, 1 the
    operation failed (e.g. a job did not succeed), 2 bad usage or invalid
    input.
*/
#ifndef HPT_CLI_H_INCLUDED
#define HPT_CLI_H_INCLUDED

//  hpt validate --config FILE [--format json|yaml]
int
    hpt_cli_validate (int argc, char *argv[]);

#endif
