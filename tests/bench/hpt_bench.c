/*  hpt-bench -- benchmark programs that print figures

    Each subcommand measures one target of DESIGN §10 and prints its
    figures (one JSON object with --json). Subcommands register in the
    table below.
*/
#include "hpt_version.h"
#include <stdio.h>
#include <string.h>

int
main (int argc, char *argv[])
{
    if (argc < 2 || strcmp (argv[1], "--help") == 0) {
        printf ("Usage: hpt-bench COMMAND [options]\n\nNo benchmark is built in yet.\n");
        return argc < 2 ? 2 : 0;
    }
    if (strcmp (argv[1], "--version") == 0) {
        printf ("hpt-bench %s\n", HPT_VERSION);
        return 0;
    }
    fprintf (stderr, "hpt-bench: unknown command '%s'\n", argv[1]);
    return 2;
}
