/*  hptmaster -- the hpt master daemon (entry point)

    Reads the cluster configuration, starts the core (store, agents
    endpoint, HTTP API) and runs its loop until SIGINT or SIGTERM. Two
    subcommands make key material and exit: keygen (the agent channel's
    CURVE pair) and certgen (a CA and a server certificate for HTTPS).
*/
#include "hpt_cluster_config.h"
#include "hpt_core.h"
#include "hpt_version.h"
#include "hpt_admin.h"
#include "hpt_alloc.h"
#include "hpt_fdlimit.h"
#include "hpt_keys.h"
#include "hpt_log.h"
#include "hpt_notify.h"
#include "hpt_tls.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
             "Usage: hptmaster [--cluster FILE] [--log-level LEVEL]\n"
             "       hptmaster keygen DIR\n"
             "       hptmaster users add NAME --role viewer|user|admin [--cluster FILE]\n"
             "       hptmaster users list|revoke NAME|token NAME [--cluster FILE]\n"
             "       hptmaster certgen --host NAME [--host NAME...] DIR\n"
             "       hptmaster backup [--cluster FILE] OUT.db\n"
             "       hptmaster restore [--cluster FILE] IN.db\n"
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
             "                   tls (cert, key: the API serves HTTPS), machineTypes,\n"
             "                   scaleTiers. Without --cluster (or with an empty file)\n"
             "                   every default holds: agents on loopback port 7460, the\n"
             "                   API on 127.0.0.1:7470, state in ./hpt-state, the\n"
             "                   built-in machine types; the master logs which at start.\n"
             "                   The subcommands below take the same default stateDir.\n"
             "  --log-level LEVEL  least severe log line written: debug, info (default),\n"
             "                   warning, error. Lines go to stderr, one per event,\n"
             "                   as key=value fields (docs/operations.md)\n"
             "  keygen DIR       write the master's CURVE certificate pair: DIR/master.cert\n"
             "                   (public: give it to every agent, --master-cert) and\n"
             "                   DIR/master.cert_secret (0600: master.security.curve.cert)\n"
             "  users ...        API users: add prints a new token (only its hash is\n"
             "                   stored) alone on the last line; token makes a new one\n"
             "                   and revokes the old; works while the master runs\n"
             "  certgen --host NAME [--host NAME...] DIR\n"
             "                   for sites without a PKI: make a CA, DIR/ca.pem (give it to\n"
             "                   clients: hpt --ca-cert DIR/ca.pem) and DIR/ca.key (0600; keep\n"
             "                   it offline if you can), and a server certificate signed by it\n"
             "                   for every NAME clients use in the master's URL (DNS names;\n"
             "                   IP addresses become IP SANs), DIR/server.pem and\n"
             "                   DIR/server.key (0600): master.tls.cert and master.tls.key.\n"
             "                   ECDSA P-256; the CA is valid %d days, the server\n"
             "                   certificate %d. Existing files are never overwritten; when\n"
             "                   DIR holds ca.pem and ca.key but no server files, that CA\n"
             "                   signs the new certificate (a renewal clients already trust).\n"
             "  backup OUT.db    copy the store (stateDir/hpt.db) to the new file OUT.db,\n"
             "                   consistent, while the master runs (SQLite's online\n"
             "                   backup); then copy stateDir/logs (docs/operations.md)\n"
             "  restore IN.db    replace the store with the backup IN.db (the master\n"
             "                   must be stopped); the schema migrates forward\n"
             "  --help           show this help and exit\n"
             "  --version        print the version and exit\n"
             "\n"
             "On start it prints one line, 'hptmaster ready api=http://HOST:PORT\n"
             "agents=ENDPOINT' (https:// with master.tls), once both are listening.\n"
             "SIGINT/SIGTERM stop it; tasks on agents keep running and are reconciled\n"
             "when it starts again.\n",
             HPT_TLS_CA_DAYS, HPT_TLS_SERVER_DAYS);
}

//  --log-level LEVEL: 0, or -1 after saying why.
static int
s_log_level (const char *text)
{
    hpt_log_level_t level;
    if (hpt_log_level_parse (text, &level) != 0) {
        fprintf (stderr, "hptmaster: --log-level '%s': expected debug, info, warning or error\n",
                 text);
        return -1;
    }
    hpt_log_set_level (level);
    return 0;
}

//  hptmaster certgen --host NAME [--host NAME...] DIR
static int
s_certgen (int argc, char *argv[])
{
    const char *hosts[HPT_TLS_MAX_HOSTS];
    size_t host_count = 0;
    const char *dir = NULL;
    for (int i = 0; i < argc; i++) {
        const char *host = NULL;
        if (strcmp (argv[i], "--host") == 0 && i + 1 < argc)
            host = argv[++i];
        else if (strncmp (argv[i], "--host=", 7) == 0)
            host = argv[i] + 7;
        else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
            continue;
        } else {
            fprintf (stderr,
                     "hptmaster certgen: unexpected argument '%s'; usage: hptmaster "
                     "certgen --host NAME [--host NAME...] DIR\n",
                     argv[i]);
            return 2;
        }
        if (host_count == HPT_TLS_MAX_HOSTS) {
            fprintf (stderr, "hptmaster certgen: at most %d --host\n", HPT_TLS_MAX_HOSTS);
            return 2;
        }
        hosts[host_count++] = host;
    }
    if (!dir || host_count == 0) {
        fprintf (stderr, "hptmaster certgen: usage: hptmaster certgen --host NAME [--host "
                         "NAME...] DIR (NAME: each host name or address clients use)\n");
        return 2;
    }
    hpt_error_t error;
    bool ca_made = false;
    if (hpt_tls_certgen (dir, hosts, host_count, &ca_made, &error) != 0) {
        fprintf (stderr, "hptmaster %s\n", error.message);
        return error.code == HPT_E_INVALID ? 2 : 1;
    }
    if (ca_made)
        printf ("%s/ca.pem: the CA (give it to clients: hpt --ca-cert, HPT_CA_CERT); %s/ca.key "
                "(0600): its key, needed only to sign again\n",
                dir, dir);
    else
        printf ("signed with the existing CA %s/ca.pem\n", dir);
    printf ("%s/server.pem and %s/server.key (0600): master.tls.cert and master.tls.key\n", dir,
            dir);
    return 0;
}

//  Without --cluster every default holds: said once, with the values
//  that follow from it, so that nobody has to guess where the master
//  listens or keeps its state.
static void
s_log_defaults (const hpt_master_settings_t *settings)
{
    hpt_log_info ("no --cluster: every default (what an empty cluster file gives): "
                  "agents=%s api=%s stateDir=%s, the built-in machine types and scale tiers; "
                  "SIGHUP reloads nothing (--cluster FILE to change any of it, "
                  "ops/cluster.local.yaml for one small machine)",
                  settings->agents, settings->api, settings->state_dir);
}

//  Says, once the sockets are open, when the open-file limit lets in
//  fewer agents than master.maxAgents: past about limit - reserve - open
//  agents, new ones are refused (hpt_agent_link).
static void
s_check_fd_room (const hpt_master_settings_t *settings)
{
    int64_t limit = hpt_fdlimit_soft (), open = hpt_fdlimit_open ();
    if (limit <= 0 || open < 0) return;
    int64_t room = limit - hpt_fdlimit_reserve (limit) - open;
    if (room >= settings->max_agents) return;
    hpt_log_warning (
        "with an open-file limit of %" PRId64 " (%" PRId64 " open now, a reserve of %" PRId64
        " kept free) the master takes about %" PRId64
        " agents, fewer than master.maxAgents (%" PRId64
        "): raise its hard limit (systemd LimitNOFILE=, ulimit -Hn)",
        limit, open, hpt_fdlimit_reserve (limit), room < 0 ? 0 : room, settings->max_agents);
}

int
main (int argc, char *argv[])
{
    hpt_alloc_init ();
    //  The master's files hold every job's env values: nobody else reads
    //  them.
    umask (077);
    if (argc >= 2 && strcmp (argv[1], "users") == 0) return hpt_admin_users (argc - 1, argv + 1);
    if (argc >= 2 && (strcmp (argv[1], "backup") == 0 || strcmp (argv[1], "restore") == 0))
        return hpt_admin_backup (argc - 1, argv + 1);
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
    if (argc >= 2 && strcmp (argv[1], "certgen") == 0) return s_certgen (argc - 2, argv + 2);
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
        else if (strcmp (argv[i], "--log-level") == 0 && i + 1 < argc) {
            if (s_log_level (argv[++i]) != 0) return 2;
        } else {
            fprintf (stderr, "hptmaster: unexpected argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    //  SIGHUP (systemctl reload) reloads cluster.yaml: blocked in every
    //  thread, read by the core's loop (hpt_core_block_sighup).
    hpt_core_block_sighup ();
    hpt_cluster_config_t *config = hpt_cluster_config_load (cluster);
    if (!config) return 2;
    if (!cluster) s_log_defaults (hpt_cluster_config_master (config));
    //  Every agent holds one of the master's descriptors, and so does
    //  every API client: the soft limit (often 1024) is raised to the hard
    //  one (hpt_fdlimit), and the core keeps a reserve of it free.
    hpt_fdlimit_raise ("hptmaster");
    zsys_init ();
    zsys_set_logident ("hptmaster");
    hpt_error_t error;
    hpt_core_t *core = hpt_core_new (config, &error);
    if (!core) {
        fprintf (stderr, "hptmaster: %s\n", error.message);
        hpt_cluster_config_destroy (&config);
        return 1;
    }
    hpt_core_set_config_file (core, cluster);
    const hpt_master_settings_t *settings = hpt_cluster_config_master (config);
    s_check_fd_room (settings);
    //  The API's URL as a client writes it: an IPv6 literal in brackets.
    bool v6 = strchr (settings->api_host, ':') != NULL;
    printf ("hptmaster ready api=%s://%s%s%s:%u agents=%s\n", settings->tls_cert ? "https" : "http",
            v6 ? "[" : "", settings->api_host, v6 ? "]" : "", hpt_core_api_port (core),
            hpt_core_agents_endpoint (core));
    fflush (stdout);
    //  Type=notify: `systemctl start` returns now, with both sockets bound.
    hpt_notify ("READY=1\nSTATUS=serving");
    hpt_core_run (core);
    hpt_notify ("STOPPING=1");
    hpt_core_destroy (&core);
    hpt_cluster_config_destroy (&config);
    return 0;
}
