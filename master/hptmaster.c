/*  hptmaster -- the hpt master daemon (entry point)

    At this stage the master is not yet a service: it answers --help and
    --version only. The core loop, store, scheduler and API arrive with the
    end-to-end work (see README).
*/
#include "hpt_version.h"
#include <stdio.h>
#include <string.h>

static void
s_usage (FILE *out)
{
    fprintf (out, "Usage: hptmaster --cluster FILE\n"
                  "\n"
                  "The hpt master: holds the optimizer, persists jobs and trials and\n"
                  "provisions trial clusters on hptagent hosts.\n"
                  "\n"
                  "  --help       show this help and exit\n"
                  "  --version    print the version and exit\n"
                  "\n"
                  "Not implemented yet in this build: serving (--cluster).\n");
}

int
main (int argc, char *argv[])
{
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            s_usage (stdout);
            return 0;
        }
        if (strcmp (argv[i], "--version") == 0) {
            printf ("hptmaster %s\n", HPT_VERSION);
            return 0;
        }
    }
    s_usage (stderr);
    fprintf (stderr, "hptmaster: serving is not implemented yet in this build\n");
    return 2;
}
