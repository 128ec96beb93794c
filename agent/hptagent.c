/*  hptagent -- the hpt agent daemon (entry point)

    At this stage the agent is not yet a service: it answers --help and
    --version only. Discovery, launcher and collector arrive with the
    end-to-end work (see README).
*/
#include "hpt_version.h"
#include <stdio.h>
#include <string.h>

static void
s_usage (FILE *out)
{
    fprintf (out, "Usage: hptagent --master tcp://HOST:PORT --name NAME --workdir DIR\n"
                  "\n"
                  "The hpt agent: runs trial tasks on this host for an hptmaster.\n"
                  ""
                  "\n"
                  "  --help       show this help and exit\n"
                  "  --version    print the version and exit\n"
                  "\n"
                  "Not implemented yet in this build: connecting to a master.\n");
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
            printf ("hptagent %s\n", HPT_VERSION);
            return 0;
        }
    }
    s_usage (stderr);
    fprintf (stderr, "hptagent: serving is not implemented yet in this build\n");
    return 2;
}
