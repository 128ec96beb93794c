/*  hptagent -- the hpt agent daemon (entry point)

    At this stage the agent is not yet a service: it answers --help,
    --version and --print-topology (discovery, see hpt_topology). Serving a
    master arrives with the end-to-end work (see README).
*/
#include "hpt_topology.h"
#include "hpt_version.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_usage (FILE *out)
{
    fprintf (out, "Usage: hptagent --master tcp://HOST:PORT --name NAME --workdir DIR\n"
                  "       hptagent --print-topology [--topology FILE.xml] [--resources FILE.yaml]\n"
                  "\n"
                  "The hpt agent: runs trial tasks on this host for an hptmaster.\n"
                  "\n"
                  "  --print-topology      print the host's resources as JSON and exit\n"
                  "  --topology FILE.xml   use an hwloc XML topology instead of this machine\n"
                  "                        (lstopo --of xml); /dev, and NVML unless\n"
                  "                        HPT_NVML_LIBRARY is set, are then not read\n"
                  "  --resources FILE.yaml restrict (or, on a host where none were detected,\n"
                  "                        declare) resources: {cpus: N, memoryGb: X,\n"
                  "                        accelerators: [{type: NVIDIA_TESLA_T4, count: 2}]}\n"
                  "  --help                show this help and exit\n"
                  "  --version             print the version and exit\n"
                  "\n"
                  "Environment: HPT_NVML_LIBRARY=PATH loads NVML from PATH instead of\n"
                  "libnvidia-ml.so.1; without NVML, GPUs are named from hwloc's PCI data.\n"
                  "\n"
                  "Not implemented yet in this build: connecting to a master.\n");
}

//  Discovers (or reads) the host, applies the resources file and prints
//  the JSON. Returns the exit status: 1 when discovery fails, 2 when the
//  resources file is wrong.
static int
s_print_topology (const char *xml, const char *resources)
{
    char *error = NULL;
    hpt_topology_t *topology =
        xml ? hpt_topology_new_from_xml (xml, &error) : hpt_topology_new (&error);
    if (!topology) {
        fprintf (stderr, "hptagent: %s\n", error ? error : "discovery failed");
        free (error);
        return 1;
    }
    if (resources && hpt_topology_restrict (topology, resources, &error) != 0) {
        //  One "FILE:LINE:COL: field: message" line per problem.
        const char *text = error ? error : "bad resources file";
        size_t len = strlen (text);
        fprintf (stderr, "%s%s", text, len && text[len - 1] == '\n' ? "" : "\n");
        free (error);
        hpt_topology_destroy (&topology);
        return 2;
    }
    char *text = hpt_topology_to_json_text (topology);
    if (text) printf ("%s\n", text);
    free (text);
    hpt_topology_destroy (&topology);
    return text ? 0 : 1;
}

int
main (int argc, char *argv[])
{
    bool print_topology = false;
    const char *xml = NULL, *resources = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            s_usage (stdout);
            return 0;
        }
        if (strcmp (argv[i], "--version") == 0) {
            printf ("hptagent %s\n", HPT_VERSION);
            return 0;
        }
        if (strcmp (argv[i], "--print-topology") == 0) {
            print_topology = true;
        } else if (strcmp (argv[i], "--topology") == 0 || strcmp (argv[i], "--resources") == 0) {
            if (i + 1 >= argc) {
                fprintf (stderr, "hptagent: %s needs a file name\n", argv[i]);
                return 2;
            }
            if (strcmp (argv[i], "--topology") == 0)
                xml = argv[++i];
            else
                resources = argv[++i];
        }
    }
    if (print_topology) return s_print_topology (xml, resources);
    s_usage (stderr);
    fprintf (stderr, "hptagent: serving is not implemented yet in this build\n");
    return 2;
}
