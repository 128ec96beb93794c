/*  hptmaster -- the hpt master daemon (entry point)

    Reads the cluster configuration, starts the core (store, agents
    endpoint, HTTP API) and runs its loop until SIGINT or SIGTERM.
*/
#include "hpt_cluster_config.h"
#include "hpt_core.h"
#include "hpt_version.h"
#include "hpt_admin.h"
#include "hpt_alloc.h"
#include "hpt_keys.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>

static void
s_on_sighup (int signal)
{
    hpt_core_request_reload ();
}

static void
s_usage (FILE *out)
{
    fprintf (out,
             "Usage: hptmaster --cluster FILE\n"
             "       hptmaster keygen DIR\n"
             "       hptmaster users add NAME --role viewer|user|admin --cluster FILE\n"
             "       hptmaster users list|revoke NAME|token NAME --cluster FILE\n"
             "\n"
             "The hpt master: holds the optimizer, persists every job, trial and metric\n"
             "in SQLite under stateDir, schedules trial clusters on hptagent hosts and\n"
             "serves the REST API that the hpt CLI uses.\n"
             "\n"
             "  --cluster FILE   cluster configuration (YAML; see ops/cluster.example.yaml):\n"
             "                   master.agents (ZeroMQ endpoint, default tcp://127.0.0.1:7460),\n"
             "                   master.api (HTTP host:port, default 127.0.0.1:7470),\n"
             "                   master.stateDir (default ./hpt-state), heartbeatInterval,\n"
             "                   agentTimeout, stopGracePeriod, agentLostPolicy, seed,\n"
             "                   maxAgents, security (curve: cert, agentCerts; insecure),\n"
             "                   machineTypes, scaleTiers. An empty file means all defaults.\n"
             "  keygen DIR       write the master's CURVE certificate pair: DIR/master.cert\n"
             "                   (public: give it to every agent, --master-cert) and\n"
             "                   DIR/master.cert_secret (0600: master.security.curve.cert)\n"
             "  users ...        API users: add prints a new token (only its hash is\n"
             "                   stored) alone on the last line; token makes a new one\n"
             "                   and revokes the old; works while the master runs\n"
             "  --help           show this help and exit\n"
             "  --version        print the version and exit\n"
             "\n"
             "On start it prints one line, 'hptmaster ready api=http://HOST:PORT\n"
             "agents=ENDPOINT', once both are listening. SIGINT/SIGTERM stop it; tasks on\n"
             "agents keep running and are reconciled when it starts again.\n");
}

int
main (int argc, char *argv[])
{
    hpt_alloc_init ();
    //  The master's files hold every job's env values: nobody else reads
    //  them.
    umask (077);
    if (argc >= 2 && strcmp (argv[1], "users") == 0) return hpt_admin_users (argc - 1, argv + 1);
    if (argc >= 2 && strcmp (argv[1], "keygen") == 0) {
        if (argc != 3) {
            fprintf (stderr, "hptmaster keygen: usage: hptmaster keygen DIR\n");
            return 2;
        }
        hpt_error_t error;
        if (hpt_keys_generate (argv[2], "master", NULL, &error) != 0) {
            fprintf (stderr, "hptmaster keygen: %s\n", error.message);
            return 1;
        }
        printf ("%s/master.cert (for the agents' --master-cert) and %s/master.cert_secret (for "
                "master.security.curve.cert)\n",
                argv[2], argv[2]);
        return 0;
    }
    const char *cluster = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            s_usage (stdout);
            return 0;
        }
        if (strcmp (argv[i], "--version") == 0) {
            printf ("hptmaster %s\n", HPT_VERSION);
            return 0;
        }
        if (strcmp (argv[i], "--cluster") == 0 && i + 1 < argc)
            cluster = argv[++i];
        else if (strncmp (argv[i], "--cluster=", 10) == 0)
            cluster = argv[i] + 10;
        else {
            fprintf (stderr, "hptmaster: unexpected argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!cluster) {
        fprintf (stderr, "hptmaster: --cluster FILE is required (see --help)\n");
        return 2;
    }
    hpt_diag_t *diag = hpt_diag_new (cluster, false);
    hpt_cluster_config_t *config = hpt_cluster_config_read_file (cluster, diag);
    if (!config) {
        hpt_diag_print (diag, stderr);
        hpt_diag_destroy (&diag);
        return 2;
    }
    hpt_diag_destroy (&diag);
    zsys_init ();
    zsys_set_logident ("hptmaster");
    //  SIGHUP re-reads what can change live (the admitted agent keys).
    struct sigaction reload = {.sa_handler = s_on_sighup};
    sigemptyset (&reload.sa_mask);
    sigaction (SIGHUP, &reload, NULL);
    hpt_error_t error;
    hpt_core_t *core = hpt_core_new (config, &error);
    if (!core) {
        fprintf (stderr, "hptmaster: %s\n", error.message);
        hpt_cluster_config_destroy (&config);
        return 1;
    }
    const hpt_master_settings_t *settings = hpt_cluster_config_master (config);
    printf ("hptmaster ready api=http://%s:%u agents=%s\n", settings->api_host,
            hpt_core_api_port (core), hpt_core_agents_endpoint (core));
    fflush (stdout);
    hpt_core_run (core);
    hpt_core_destroy (&core);
    hpt_cluster_config_destroy (&config);
    return 0;
}
