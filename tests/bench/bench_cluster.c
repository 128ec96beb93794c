/*  bench_cluster -- a real hptmaster and one hptagent on loopback

    See bench_cluster.h. The REST calls are plain HTTP/1.0 over a socket:
    the benchmark must not depend on a client library that the product
    does not use for this path.
*/
#include "bench_cluster.h"
#include "hpt_keys.h"
#include <czmq.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct _bench_cluster_t {
    const char *name;               //  prefix of messages, e.g. "hpt-bench trials"
    char *bin;                      //  directory of hpt-bench and the daemons
    char *dir;                      //  the cluster's temporary directory
    int api;                        //  REST port on 127.0.0.1
    int agents;                     //  the agents' port on 127.0.0.1
    bool curve;                     //  the agent channel is CURVE
    int cpus;                       //  the agent's --cpus
    const char *const *agent_extra; //  more agent arguments (borrowed), or NULL
    pid_t master;                   //  hptmaster, or 0 once stopped
    pid_t agent;                    //  hptagent, or 0 once stopped
    char *master_bin;               //  another hptmaster to run, or NULL: the one beside hpt-bench
    bool no_agent;                  //  start the master alone
};

int
bench_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    socklen_t len = sizeof (addr);
    int port = -1;
    if (bind (fd, (struct sockaddr *)&addr, sizeof (addr)) == 0 &&
        getsockname (fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs (addr.sin_port);
    close (fd);
    return port;
}

//  One HTTP/1.0 request to 127.0.0.1:port; returns the status (0 without
//  an answer) and the body in *out (caller frees; NULL without one).
static int
s_request (int port, const char *method, const char *path, const char *body, char **out,
           size_t *out_size)
{
    *out = NULL;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons ((uint16_t)port),
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    if (connect (fd, (struct sockaddr *)&addr, sizeof (addr)) != 0) {
        close (fd);
        return 0;
    }
    char *request = zsys_sprintf ("%s %s HTTP/1.0\r\nContent-Type: application/json\r\n"
                                  "Content-Length: %zu\r\n\r\n%s",
                                  method, path, body ? strlen (body) : 0, body ? body : "");
    size_t len = strlen (request);
    bool ok = write (fd, request, len) == (ssize_t)len;
    zstr_free (&request);
    size_t cap = 65536, used = 0;
    char *reply = malloc (cap + 1);
    ssize_t got;
    while (ok && (got = read (fd, reply + used, cap - used)) > 0) {
        used += (size_t)got;
        if (used == cap) reply = realloc (reply, (cap *= 2) + 1);
    }
    close (fd);
    reply[used] = '\0';
    int status = 0;
    char *start = strstr (reply, "\r\n\r\n");
    if (start && sscanf (reply, "HTTP/%*s %d", &status) == 1) {
        size_t size = used - (size_t)(start + 4 - reply);
        *out = malloc (size + 1);
        memcpy (*out, start + 4, size + 1);
        if (out_size) *out_size = size;
    } else
        status = 0;
    free (reply);
    return status;
}

//  The body of one request, or NULL.
static char *
s_http (int port, const char *method, const char *path, const char *body)
{
    char *out = NULL;
    s_request (port, method, path, body, &out, NULL);
    return out;
}

int
bench_cluster_http (bench_cluster_t *self, const char *method, const char *path, const char *body,
                    char **reply, size_t *size)
{
    return s_request (self->api, method, path, body, reply, size);
}

pid_t
bench_spawn (char *const argv[], const char *log)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2 (&actions, 1, 2);
    pid_t pid = -1;
    if (posix_spawn (&pid, argv[0], &actions, NULL, argv, environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy (&actions);
    return pid;
}

static void
s_stop (pid_t *pid)
{
    if (*pid <= 0) return;
    kill (*pid, SIGTERM);
    waitpid (*pid, NULL, 0);
    *pid = 0;
}

//  Makes the directory and writes cluster.yaml; returns the agents' port.
static int
s_prepare (bench_cluster_t *self, bool curve, const char *master_lines)
{
    //  $TMPDIR picks the disk: /dev/shm takes storage out of the figure
    //  when the question is CPU cost.
    const char *tmp = getenv ("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    self->dir = zsys_sprintf ("%s/hpt-bench-XXXXXX", tmp);
    if (!mkdtemp (self->dir)) {
        fprintf (stderr, "%s: cannot create a directory under %s\n", self->name, tmp);
        return -1;
    }
    int agents = bench_free_port ();
    self->api = bench_free_port ();
    char *config = zsys_sprintf ("%s/cluster.yaml", self->dir);
    FILE *file = fopen (config, "w");
    zstr_free (&config);
    if (!file) return -1;
    fprintf (file,
             "master:\n  agents: tcp://127.0.0.1:%d\n  api: 127.0.0.1:%d\n  stateDir: %s/state\n",
             agents, self->api, self->dir);
    if (master_lines) fputs (master_lines, file);
    if (curve) {
        char *keys = zsys_sprintf ("%s/keys", self->dir);
        char *certs = zsys_sprintf ("%s/agent-certs", self->dir);
        hpt_error_t error;
        bool ok = hpt_keys_generate (keys, "master", NULL, &error) == 0 &&
                  hpt_keys_generate (certs, "bench", "bench", &error) == 0;
        if (!ok) fprintf (stderr, "%s: %s\n", self->name, error.message);
        //  The secret half stays out of agentCerts, as an operator keeps it.
        char *secret = zsys_sprintf ("%s/bench.cert_secret", certs);
        char *moved = zsys_sprintf ("%s/bench.cert_secret", keys);
        ok = ok && rename (secret, moved) == 0;
        fprintf (file,
                 "  security:\n    curve:\n      cert: %s/master.cert_secret\n"
                 "      agentCerts: %s\n",
                 keys, certs);
        zstr_free (&keys);
        zstr_free (&certs);
        zstr_free (&secret);
        zstr_free (&moved);
        if (!ok) agents = -1;
    }
    fprintf (file, "machineTypes:\n  standard: {cpus: 1, memoryGb: 0.01}\n");
    return fclose (file) == 0 ? agents : -1;
}

//  Polls path on the API until its reply contains want (NULL: any reply).
static bool
s_wait_for (bench_cluster_t *self, const char *path, const char *want, int tries)
{
    for (int i = 0; i < tries; i++) {
        zclock_sleep (25);
        char *reply = s_http (self->api, "GET", path, NULL);
        bool ok = reply && (!want || strstr (reply, want));
        free (reply);
        if (ok) return true;
    }
    return false;
}

char *
bench_bin_dir (void)
{
    char exe[4096];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof (exe) - 1);
    if (n <= 0) return NULL;
    exe[n] = '\0';
    *strrchr (exe, '/') = '\0';
    return strdup (exe);
}

bench_cluster_t *
bench_cluster_new (const char *name, int cpus, bool curve)
{
    return bench_cluster_new_with (name, cpus, curve, NULL, NULL);
}

bench_cluster_t *
bench_cluster_new_with (const char *name, int cpus, bool curve, const char *master_lines,
                        const char *const *agent_extra)
{
    bench_cluster_t *self = calloc (1, sizeof (bench_cluster_t));
    self->name = name;
    self->curve = curve;
    self->cpus = cpus;
    self->agent_extra = agent_extra;
    self->bin = bench_bin_dir ();
    if (!self->bin) {
        free (self);
        return NULL;
    }
    self->agents = s_prepare (self, curve, master_lines);
    if (self->agents < 0 || !bench_cluster_start (self)) bench_cluster_destroy (&self, true);
    return self;
}

bench_cluster_t *
bench_cluster_new_master (const char *name, const char *master_lines, const char *master_bin)
{
    bench_cluster_t *self = calloc (1, sizeof (bench_cluster_t));
    self->name = name;
    self->no_agent = true;
    self->master_bin = master_bin ? strdup (master_bin) : NULL;
    self->bin = bench_bin_dir ();
    if (!self->bin) {
        free (self->master_bin);
        free (self);
        return NULL;
    }
    self->agents = s_prepare (self, false, master_lines);
    if (self->agents < 0 || !bench_cluster_start (self)) bench_cluster_destroy (&self, true);
    return self;
}

char *
bench_cluster_agents_endpoint (bench_cluster_t *self)
{
    return zsys_sprintf ("tcp://127.0.0.1:%d", self->agents);
}

pid_t
bench_cluster_master_pid (bench_cluster_t *self)
{
    return self->master;
}

bool
bench_cluster_start (bench_cluster_t *self)
{
    char *config = zsys_sprintf ("%s/cluster.yaml", self->dir);
    char *master_bin = self->master_bin ? zsys_sprintf ("%s", self->master_bin)
                                        : zsys_sprintf ("%s/hptmaster", self->bin);
    char *agent_bin = zsys_sprintf ("%s/hptagent", self->bin);
    //  Appended, so that a restarted cluster keeps the first run's lines.
    char *master_log = zsys_sprintf ("%s/master.log", self->dir);
    char *agent_log = zsys_sprintf ("%s/agent.log", self->dir);
    char *endpoint = zsys_sprintf ("tcp://127.0.0.1:%d", self->agents);
    char *workdir = zsys_sprintf ("%s/agent", self->dir);
    char *cpu_count = zsys_sprintf ("%d", self->cpus);
    char *cert = zsys_sprintf ("%s/keys/bench.cert_secret", self->dir);
    char *master_cert = zsys_sprintf ("%s/keys/master.cert", self->dir);
    char *master_argv[] = {master_bin, "--cluster", config, NULL};
    char *agent_argv[64] = {
        agent_bin,   "--master", endpoint,  "--name",        "bench",     "--workdir",
        workdir,     "--cpus",   cpu_count, "--memory-gb",   "1",         "--advertise",
        "127.0.0.1", "--cert",   cert,      "--master-cert", master_cert, NULL};
    size_t argc = self->curve ? 17 : 13;
    for (size_t i = 0; self->agent_extra && self->agent_extra[i] && argc < 63; i++)
        agent_argv[argc++] = (char *)self->agent_extra[i];
    agent_argv[argc] = NULL;
    self->master = bench_spawn (master_argv, master_log);
    bool ready = self->master > 0 && s_wait_for (self, "/v1/nodes", NULL, 200);
    if (ready && !self->no_agent) {
        self->agent = bench_spawn (agent_argv, agent_log);
        ready = self->agent > 0 && s_wait_for (self, "/v1/nodes/bench", "\"READY\"", 400);
    }
    zstr_free (&config);
    zstr_free (&master_bin);
    zstr_free (&agent_bin);
    zstr_free (&master_log);
    zstr_free (&agent_log);
    zstr_free (&endpoint);
    zstr_free (&workdir);
    zstr_free (&cpu_count);
    zstr_free (&cert);
    zstr_free (&master_cert);
    if (!ready)
        fprintf (stderr, "%s: the master or the agent did not come up (see %s)\n", self->name,
                 self->dir);
    return ready;
}

//  From /proc/PID/stat (fields 14 and 15).
double
bench_cpu_seconds (pid_t pid)
{
    char path[64], text[1024];
    snprintf (path, sizeof (path), "/proc/%d/stat", (int)pid);
    FILE *file = fopen (path, "r");
    size_t n = file ? fread (text, 1, sizeof (text) - 1, file) : 0;
    if (file) fclose (file);
    text[n] = '\0';
    const char *rest = strrchr (text, ')');
    unsigned long user = 0, system = 0;
    if (!rest || sscanf (rest + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &user,
                         &system) != 2)
        return 0;
    return (double)(user + system) / (double)sysconf (_SC_CLK_TCK);
}

void
bench_cluster_cpu (bench_cluster_t *self, double *master, double *agent)
{
    *master = self->master > 0 ? bench_cpu_seconds (self->master) : 0;
    *agent = self->agent > 0 ? bench_cpu_seconds (self->agent) : 0;
}

void
bench_cluster_destroy (bench_cluster_t **self_p, bool keep)
{
    if (!self_p || !*self_p) return;
    bench_cluster_t *self = *self_p;
    bench_cluster_stop (self);
    if (!keep && self->dir) {
        char *cmd = zsys_sprintf ("rm -rf '%s'", self->dir);
        if (system (cmd) != 0) fprintf (stderr, "%s: could not remove %s\n", self->name, self->dir);
        zstr_free (&cmd);
    }
    zstr_free (&self->dir);
    free (self->bin);
    free (self->master_bin);
    free (self);
    *self_p = NULL;
}

const char *
bench_cluster_dir (bench_cluster_t *self)
{
    return self->dir;
}

char *
bench_cluster_job (bench_cluster_t *self, const char *training_extra, int max_trials, int parallel,
                   const char *algorithm)
{
    return zsys_sprintf (
        "{\"jobId\": \"bench\", \"trainingInput\": {\"command\": [\"%s/hpt-bench-trainer\"], "
        "%s\"hyperparameters\": {\"goal\": \"MAXIMIZE\", \"hyperparameterMetricTag\": \"m\", "
        "\"maxTrials\": %d, \"maxParallelTrials\": %d, \"maxFailedTrials\": %d, "
        "\"algorithm\": \"%s\", \"params\": [{\"parameterName\": \"x\", \"type\": "
        "\"INTEGER\", \"minValue\": 0, \"maxValue\": 1000000000}]}}}",
        self->bin, training_extra, max_trials, parallel, max_trials, algorithm);
}

bool
bench_cluster_run_job (bench_cluster_t *self, const char *job_id, const char *job, double *seconds)
{
    int64_t t0 = zclock_usecs ();
    char *reply = s_http (self->api, "POST", "/v1/projects/bench/jobs", job);
    //  An accepted job comes back as a Job resource with its jobId.
    char *accepted = zsys_sprintf ("\"jobId\": \"%s\"", job_id);
    bool submitted = reply && strstr (reply, accepted) && !strstr (reply, "\"error\"");
    zstr_free (&accepted);
    if (!submitted)
        fprintf (stderr, "%s: submission refused: %s\n", self->name, reply ? reply : "");
    free (reply);
    char *path = zsys_sprintf ("/v1/projects/bench/jobs?filter=jobId%%3D%s", job_id);
    bool succeeded = false;
    while (submitted) {
        zclock_sleep (20);
        reply = s_http (self->api, "GET", path, NULL);
        bool ended = reply && (strstr (reply, "\"SUCCEEDED\"") || strstr (reply, "\"FAILED\"") ||
                               strstr (reply, "\"CANCELLED\""));
        succeeded = ended && strstr (reply, "\"SUCCEEDED\"");
        free (reply);
        if (ended) break;
    }
    zstr_free (&path);
    *seconds = (double)(zclock_usecs () - t0) / 1e6;
    if (submitted && !succeeded)
        fprintf (stderr, "%s: job %s did not succeed (see %s)\n", self->name, job_id, self->dir);
    return succeeded;
}

void
bench_cluster_stop (bench_cluster_t *self)
{
    s_stop (&self->agent);
    s_stop (&self->master);
}
