/*  hptagent -- the hpt agent daemon (entry point)

    Parses the flags, discovers the host (hpt_topology) and runs the agent
    service (hpt_agent) until SIGINT/SIGTERM, or prints the topology.
*/
#include "hpt_agent.h"
#include "hpt_alloc.h"
#include "hpt_container.h"
#include "hpt_keys.h"
#include "hpt_log.h"
#include "hpt_notify.h"
#include "hpt_topology.h"
#include "hpt_version.h"
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
s_usage (FILE *out)
{
    fprintf (
        out,
        "Usage: hptagent --master tcp://HOST:PORT [--name NAME] [--workdir DIR]\n"
        "                [--cpus N] [--memory-gb M] [--ports LOW-HIGH] [--advertise HOST]\n"
        "                [--topology FILE.xml] [--resources FILE.yaml]\n"
        "                [--cert NAME.cert_secret --master-cert master.cert] [--insecure]\n"
        "                [--run-as USER] [--allow-run-as USER[,USER...]]\n"
        "                [--container-runtime CMD] [--container-run-arg ARG]...\n"
        "                [--cdi-gpu-kind KIND] [--gpu-sample-ms MS] [--log-level LEVEL]\n"
        "                [--metrics-listen HOST:PORT]\n"
        "       hptagent --print-topology [--matrix] [--topology FILE.xml]\n"
        "                [--resources FILE.yaml] [--container-runtime CMD] [--cdi-gpu-kind KIND]\n"
        "       hptagent keygen --name NAME DIR\n"
        "\n"
        "The hpt agent: runs trial tasks on this host for an hptmaster, streams\n"
        "their logs and metrics, and keeps every event on disk (WORKDIR/spool)\n"
        "until the master has stored it. Tasks are killed if the agent dies.\n"
        "\n"
        "  --master ENDPOINT     the master's agents endpoint (master.agents)\n"
        "  --name NAME           unique agent name (default: the host name)\n"
        "  --workdir DIR         task directories, logs and spool (default ./hpt-agent)\n"
        "  --cpus N              CPUs to offer (default: the host's cores)\n"
        "  --memory-gb M         memory to offer (default: the host's memory)\n"
        "  --ports LOW-HIGH      ports for TF_CONFIG addresses (default 20000-20999)\n"
        "  --advertise HOST      host name tasks are reached at (default: host name)\n"
        "  --cert FILE           this agent's secret certificate (CURVE): the agent\n"
        "                        proves its key to the master, and its name is the\n"
        "                        certificate's (made by hptagent keygen)\n"
        "  --master-cert FILE    the master's public certificate: the agent speaks to\n"
        "                        no master without its secret half\n"
        "  --insecure            speak plaintext to a master on another host (anyone\n"
        "                        who can bind its address gets this agent)\n"
        "  keygen --name NAME DIR  write DIR/NAME.cert (public: copy it into the\n"
        "                        master's agentCerts to enrol this agent) and\n"
        "                        DIR/NAME.cert_secret (0600, stays here)\n"
        "  --run-as USER         run tasks as USER (default: as the agent itself);\n"
        "                        needs the agent to run as root\n"
        "  --allow-run-as USERS  users (comma-separated) a job's runAs may name;\n"
        "                        a task naming another fails before it starts\n"
        "  --container-runtime CMD  the container runtime for jobs with imageUri, a\n"
        "                        command prefix (default podman; e.g. \"podman --runtime\n"
        "                        runc\" to pick the OCI runtime)\n"
        "  --container-run-arg ARG  an extra argument for every container run\n"
        "                        (repeatable), e.g. --ulimit=nofile=1024:1024\n"
        "  --cdi-gpu-kind KIND   the CDI device kind of the GPUs (default\n"
        "                        nvidia.com/gpu): GPU containers get --device KIND=INDEX\n"
        "                        from a spec in /etc/cdi or /var/run/cdi\n"
        "  --gpu-sample-ms MS    how often NVML samples the GPUs (utilization, memory,\n"
        "                        power, temperature: the hpt/gpu/... metrics of the\n"
        "                        trial holding them) and checks their health\n"
        "                        (default 5000, at least 100; 0 turns it off)\n"
        "  --print-topology      print the host's resources as JSON and exit (with\n"
        "                        \"containers\" when the runtime is there: whether GPUs\n"
        "                        can be given to containers; else containerProblem)\n"
        "  --matrix              with --print-topology: print the GPU link matrix\n"
        "                        (NVLink, PCIe switch, host bridge, NUMA node), as\n"
        "                        nvidia-smi topo -m does, and the MIG instances\n"
        "  --topology FILE.xml   use an hwloc XML topology instead of this machine\n"
        "                        (lstopo --of xml); /dev, and NVML unless\n"
        "                        HPT_NVML_LIBRARY is set, are then not read\n"
        "  --resources FILE.yaml restrict (or, on a host where none were detected,\n"
        "                        declare) resources: {cpus: N, memoryGb: X,\n"
        "                        accelerators: [{type: NVIDIA_TESLA_T4, count: 2}]}\n"
        "  --metrics-listen HOST:PORT  serve Prometheus text on GET /metrics there\n"
        "                        (HOST a loopback IPv4 address: no authentication):\n"
        "                        spool depth, running\n"
        "                        tasks, launch latency, events (docs/operations.md)\n"
        "  --log-level LEVEL     least severe log line written: debug, info\n"
        "                        (default), warning, error; one line per event on\n"
        "                        stderr, key=value fields\n"
        "  --help                show this help and exit\n"
        "  --version             print the version and exit\n"
        "\n"
        "Environment: HPT_NVML_LIBRARY=PATH loads NVML from PATH instead of\n"
        "libnvidia-ml.so.1; without NVML, GPUs are named from hwloc's PCI data.\n");
}

//  Prints the problems of a resources file to stderr: one "FILE:LINE:COL:
//  field: message" line each (the message ends its lines itself).
static void
s_print_problems (const hpt_error_t *error)
{
    size_t len = strlen (error->message);
    fprintf (stderr, "%s%s", error->message, len && error->message[len - 1] == '\n' ? "" : "\n");
}

//  Discovers (or reads) the host and applies the resources file. NULL
//  with the exit status in *status: 1 when discovery fails, 2 when the
//  resources file is wrong.
static hpt_topology_t *
s_topology (const char *xml, const char *resources, int *status)
{
    hpt_error_t discovery;
    hpt_topology_t *topology =
        xml ? hpt_topology_new_from_xml (xml, &discovery) : hpt_topology_new (&discovery);
    if (!topology) {
        fprintf (stderr, "hptagent: %s\n", discovery.message);
        *status = 1;
        return NULL;
    }
    hpt_error_t error;
    if (resources && hpt_topology_restrict (topology, resources, &error) != 0) {
        s_print_problems (&error);
        hpt_topology_destroy (&topology);
        *status = 2;
    }
    return topology;
}

//  Discovers (or reads) the host, applies the resources file and prints
//  the JSON. Returns the exit status: 1 when discovery fails, 2 when the
//  resources file is wrong.
static int
s_print_topology (const char *xml, const char *resources, const hpt_agent_config_t *config,
                  bool matrix)
{
    int status = 0;
    hpt_topology_t *topology = s_topology (xml, resources, &status);
    if (!topology) return status;
    if (matrix) {
        char *text = hpt_topology_matrix_text (topology);
        fputs (text, stdout);
        free (text);
        hpt_topology_destroy (&topology);
        return 0;
    }
    json_t *document = hpt_topology_to_json (topology);
    //  What HELLO tells the master about containers, or why there are none.
    hpt_container_config_t cconfig = {.runtime = config->container_runtime,
                                      .gpu_kind = config->gpu_kind};
    hpt_container_t *containers = hpt_container_new (&cconfig);
    const hpt_resources_t *r = hpt_topology_resources (topology);
    int64_t *gpus = hpt_calloc (r->accelerator_count + 1, sizeof (int64_t));
    size_t count = 0;
    for (size_t k = 0; k < r->accelerator_count; k++)
        if (!r->accelerators[k].is_tpu) gpus[count++] = r->accelerators[k].index;
    json_t *section = hpt_container_resources (containers, gpus, count);
    if (section)
        json_object_set_new (document, "containers", section);
    else
        json_object_set_new (document, "containerProblem",
                             json_string (hpt_container_problem (containers)));
    free (gpus);
    hpt_container_destroy (&containers);
    char *text = document ? json_dumps (document, JSON_INDENT (2) | JSON_PRESERVE_ORDER |
                                                      JSON_REAL_PRECISION (10))
                          : NULL;
    json_decref (document);
    if (text) printf ("%s\n", text);
    free (text);
    hpt_topology_destroy (&topology);
    return text ? 0 : 1;
}

//  Parses "LOW-HIGH".
static bool
s_parse_ports (const char *text, int *low, int *high)
{
    char tail;
    return sscanf (text, "%d-%d%c", low, high, &tail) == 2 && *low >= 1 && *high <= 65535 &&
           *low <= *high;
}

//  --log-level LEVEL: sets it, or false for a level that is not one.
static bool
s_log_level (const char *text)
{
    hpt_log_level_t level;
    if (hpt_log_level_parse (text, &level) != 0) return false;
    hpt_log_set_level (level);
    return true;
}

static bool
s_parse_number (const char *text, double *value)
{
    char *end = NULL;
    *value = strtod (text, &end);
    return end != text && *end == '\0' && *value >= 0 && *value < 1e9;
}

//  hptagent keygen --name NAME DIR: the agent's certificate pair, named.
static int
s_keygen (int argc, char *argv[])
{
    const char *name = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (!dir && argv[i][0] != '-')
            dir = argv[i];
        else {
            fprintf (stderr,
                     "hptagent keygen: unexpected '%s' (usage: hptagent keygen --name "
                     "NAME DIR)\n",
                     argv[i]);
            return 2;
        }
    if (!name || !dir) {
        fprintf (stderr, "hptagent keygen: usage: hptagent keygen --name NAME DIR\n");
        return 2;
    }
    hpt_error_t error;
    if (hpt_keys_generate (dir, name, name, &error) != 0) {
        fprintf (stderr, "hptagent keygen: %s\n", error.message);
        return 1;
    }
    printf ("%s/%s.cert (copy it into the master's agentCerts) and %s/%s.cert_secret (for "
            "--cert)\n",
            dir, name, dir, name);
    return 0;
}

//  CURVE from --cert and --master-cert (both or neither), the agent's
//  name from its certificate; without them, plaintext only to a master on
//  this host unless --insecure. Returns 0, or -1 after saying why.
static int
s_security (hpt_agent_config_t *config, const char *cert_path, const char *master_path,
            bool insecure, zcert_t **cert, zcert_t **master)
{
    if (!cert_path != !master_path) {
        fprintf (stderr, "hptagent: --cert and --master-cert go together (see --help)\n");
        return -1;
    }
    if (!cert_path) {
        if (hpt_keys_local_endpoint (config->master)) return 0;
        if (!insecure) {
            fprintf (stderr,
                     "hptagent: %s is on another host: give --cert and --master-cert (see "
                     "docs/security.md), or --insecure to speak plaintext\n",
                     config->master);
            return -1;
        }
        fprintf (stderr, "hptagent: warning: --insecure: anyone who can bind %s gets this agent\n",
                 config->master);
        return 0;
    }
    hpt_error_t error;
    *cert = hpt_keys_load (cert_path, true, &error);
    *master = *cert ? hpt_keys_load (master_path, false, &error) : NULL;
    if (!*master) {
        fprintf (stderr, "hptagent: %s\n", error.message);
        return -1;
    }
    const char *name = zcert_meta (*cert, "name");
    if (config->name && name && strcmp (config->name, name) != 0) {
        fprintf (stderr, "hptagent: --name %s, but the certificate %s is agent %s's\n",
                 config->name, cert_path, name);
        return -1;
    }
    if (name) config->name = name;
    config->curve_public = zcert_public_txt (*cert);
    config->curve_secret = zcert_secret_txt (*cert);
    config->master_key = zcert_public_txt (*master);
    return 0;
}

//  --cpus or --memory-gb above what the host has is accepted (an operator
//  may mean to overcommit) but said, since the master then places more
//  than the machine can run at full speed.
static void
s_warn_overcommit (const hpt_agent_config_t *config, hpt_topology_t *topology)
{
    const hpt_resources_t *host = hpt_topology_resources (topology);
    if (config->cpus > (double)host->cpus)
        hpt_log_warning ("--cpus %g is more than the %zu cores this host has (%s): the "
                         "master will place more work here than it can run at once",
                         config->cpus, host->cpus, hpt_topology_discovery (topology));
    if (config->memory_gb > host->memory_gb + 0.05)
        hpt_log_warning ("--memory-gb %g is more than the %.1f GiB this host has (%s): "
                         "tasks placed here may run out of memory",
                         config->memory_gb, host->memory_gb, hpt_topology_discovery (topology));
}

//  What the command line asked for: the agent's configuration and the
//  options that are not part of it.
typedef struct {
    hpt_agent_config_t config;    //  the agent's settings (strings borrowed from argv)
    const char *run_args[257];    //  --container-run-arg values, NULL-terminated
    size_t run_arg_count;         //  how many
    const char *xml;              //  --topology FILE.xml, or NULL
    const char *resources;        //  --resources FILE.yaml, or NULL
    const char *cert_path;        //  --cert, or NULL
    const char *master_cert_path; //  --master-cert, or NULL
    double sample_ms;             //  --gpu-sample-ms as given
    bool insecure;                //  --insecure
    bool print_topology;          //  --print-topology
    bool matrix;                  //  --matrix
} s_options_t;

//  Takes one option that has a value. False when the value is bad;
//  *unknown is set when the option is not one of these.
static bool
s_option_value (s_options_t *o, const char *arg, const char *value, bool *unknown)
{
    hpt_agent_config_t *config = &o->config;
    *unknown = false;
    if (strcmp (arg, "--topology") == 0)
        o->xml = value;
    else if (strcmp (arg, "--resources") == 0)
        o->resources = value;
    else if (strcmp (arg, "--master") == 0)
        config->master = value;
    else if (strcmp (arg, "--name") == 0)
        config->name = value;
    else if (strcmp (arg, "--cert") == 0)
        o->cert_path = value;
    else if (strcmp (arg, "--master-cert") == 0)
        o->master_cert_path = value;
    else if (strcmp (arg, "--workdir") == 0)
        config->workdir = value;
    else if (strcmp (arg, "--advertise") == 0)
        config->advertise = value;
    else if (strcmp (arg, "--run-as") == 0)
        config->run_as = value;
    else if (strcmp (arg, "--allow-run-as") == 0)
        config->allow_run_as = value;
    else if (strcmp (arg, "--container-runtime") == 0)
        config->container_runtime = value;
    else if (strcmp (arg, "--container-run-arg") == 0)
        return o->run_arg_count < 256 && (o->run_args[o->run_arg_count++] = value);
    else if (strcmp (arg, "--cdi-gpu-kind") == 0)
        return strchr (value, '/') && !strchr (value, '=') && (config->gpu_kind = value);
    else if (strcmp (arg, "--metrics-listen") == 0)
        config->metrics_listen = value;
    else if (strcmp (arg, "--log-level") == 0)
        return s_log_level (value);
    else if (strcmp (arg, "--ports") == 0)
        return s_parse_ports (value, &config->port_low, &config->port_high);
    else if (strcmp (arg, "--gpu-sample-ms") == 0)
        return s_parse_number (value, &o->sample_ms) &&
               (o->sample_ms == 0 || o->sample_ms >= 100) &&
               (config->gpu_sample_ms = o->sample_ms ? (int)o->sample_ms : -1);
    else if (strcmp (arg, "--cpus") == 0)
        return s_parse_number (value, &config->cpus) && config->cpus > 0;
    else if (strcmp (arg, "--memory-gb") == 0)
        return s_parse_number (value, &config->memory_gb);
    else
        *unknown = true;
    return true;
}

//  Reads the command line into o. -1 to go on, else the exit status
//  (0 after --help or --version, 2 for a bad command line).
static int
s_parse_args (int argc, char *argv[], s_options_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0) {
            s_usage (stdout);
            return 0;
        }
        if (strcmp (arg, "--version") == 0) {
            printf ("hptagent %s\n", HPT_VERSION);
            return 0;
        }
        if (strcmp (arg, "--print-topology") == 0 || strcmp (arg, "--insecure") == 0 ||
            strcmp (arg, "--matrix") == 0) {
            o->print_topology |= strcmp (arg, "--print-topology") == 0;
            o->matrix |= strcmp (arg, "--matrix") == 0;
            o->insecure |= strcmp (arg, "--insecure") == 0;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf (stderr, "hptagent: %s needs a %s (see --help)\n", arg,
                     strcmp (arg, "--topology") == 0 || strcmp (arg, "--resources") == 0
                         ? "file name"
                         : "value");
            return 2;
        }
        const char *value = argv[++i];
        bool unknown;
        bool ok = s_option_value (o, arg, value, &unknown);
        if (unknown) {
            fprintf (stderr, "hptagent: unknown option '%s' (see --help)\n", arg);
            return 2;
        }
        if (!ok) {
            fprintf (stderr, "hptagent: bad value '%s' for %s\n", value, arg);
            return 2;
        }
    }
    if (o->matrix && !o->print_topology) {
        fprintf (stderr, "hptagent: --matrix goes with --print-topology (see --help)\n");
        return 2;
    }
    return -1;
}

//  Whether --master names a ZeroMQ endpoint; says what to give otherwise.
static bool
s_master_ok (const char *master)
{
    if (!master) {
        fprintf (stderr, "hptagent: --master ENDPOINT is required (see --help)\n");
        return false;
    }
    if (strncmp (master, "tcp://", 6) == 0 || strncmp (master, "ipc://", 6) == 0) return true;
    fprintf (stderr,
             "hptagent: --master %s: agents speak ZeroMQ to the master's agents endpoint, "
             "tcp://HOST:PORT or ipc://PATH (master.agents in its cluster file, default "
             "tcp://127.0.0.1:7460)%s\n",
             master,
             strncmp (master, "http", 4) == 0
                 ? ", not its REST API (master.api, what hpt's --master takes)"
                 : "");
    return false;
}

int
main (int argc, char *argv[])
{
    hpt_alloc_init ();
    if (argc >= 2 && strcmp (argv[1], "keygen") == 0) return s_keygen (argc - 1, argv + 1);
    s_options_t options = {
        .config = {
            .workdir = "./hpt-agent", .port_low = 20000, .port_high = 20999, .memory_gb = -1}};
    options.config.container_run_args = options.run_args;
    int exit_status = s_parse_args (argc, argv, &options);
    if (exit_status >= 0) return exit_status;
    hpt_agent_config_t config = options.config;
    const char *xml = options.xml, *resources = options.resources;
    if (options.print_topology) return s_print_topology (xml, resources, &config, options.matrix);
    if (!s_master_ok (config.master)) return 2;
    zcert_t *cert = NULL, *master_cert = NULL;
    if (s_security (&config, options.cert_path, options.master_cert_path, options.insecure, &cert,
                    &master_cert))
        return 2;
    char host[256] = "localhost";
    gethostname (host, sizeof (host) - 1);
    if (!config.name) config.name = host;
    if (!config.advertise) config.advertise = host;
    int status = 0;
    hpt_topology_t *topology = s_topology (xml, resources, &status);
    if (!topology) return status;
    config.topology = topology;
    zsys_init ();
    zsys_set_logident ("hptagent");
    s_warn_overcommit (&config, topology);
    hpt_error_t failure;
    hpt_agent_t *agent = hpt_agent_new (&config, &failure);
    if (!agent) {
        fprintf (stderr, "hptagent: %s\n", failure.message);
        hpt_topology_destroy (&topology);
        return 1;
    }
    //  Type=notify: its sockets are set up; registering may wait for the
    //  master, which is not this host's service's business.
    hpt_notify ("READY=1\nSTATUS=running");
    int rc = hpt_agent_run (agent, &failure);
    hpt_notify ("STOPPING=1");
    if (rc != 0) fprintf (stderr, "hptagent: %s\n", failure.message);
    hpt_agent_destroy (&agent);
    hpt_topology_destroy (&topology);
    zcert_destroy (&cert);
    zcert_destroy (&master_cert);
    return rc == 0 ? 0 : 1;
}
