/*  hpt -- the command-line client

    Modelled on `gcloud ai-platform jobs`. Commands that need a master talk
    to its REST API; `validate` works offline.
*/
#include "hpt_cli.h"
#include "hpt_version.h"
#include <stdio.h>
#include <string.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
             "Usage: hpt COMMAND [options]\n"
             "\n"
             "Commands:\n"
             "  validate --config FILE [--format json|yaml]\n"
             "      Check a job config (YAML with trainingInput at the root, or a REST\n"
             "      Job resource in JSON). Prints the normalized job (defaults filled\n"
             "      in) and exits 0, or prints every problem as\n"
             "      FILE:LINE:COL: field.path: message (a JSON pointer for JSON) and\n"
             "      exits 2.\n"
             "\n"
             "Options:\n"
             "  --help       show this help and exit\n"
             "  --version    print the version and exit\n");
}

int
main (int argc, char *argv[])
{
    if (argc < 2) {
        s_usage (stderr);
        return 2;
    }
    const char *command = argv[1];
    if (strcmp (command, "--help") == 0 || strcmp (command, "-h") == 0
        || strcmp (command, "help") == 0) {
        s_usage (stdout);
        return 0;
    }
    if (strcmp (command, "--version") == 0) {
        printf ("hpt %s\n", HPT_VERSION);
        return 0;
    }
    if (strcmp (command, "validate") == 0)
        return hpt_cli_validate (argc - 2, argv + 2);
    fprintf (stderr, "hpt: unknown command '%s' (see hpt --help)\n", command);
    return 2;
}
