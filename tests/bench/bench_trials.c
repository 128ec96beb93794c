/*  hpt-bench trials -- throughput and scheduling overhead, end to end

    Starts a real hptmaster and one hptagent on loopback (state in a
    temporary directory under $TMPDIR, default /tmp), submits one job of N trivial trials
    (hpt-bench-trainer: one metric, then exit) with P in parallel, and
    waits for it. Prints:
      trials_per_s        N / (submission to job SUCCEEDED)
      next_launch_p50_ms  from a trial's process exit to the start of the
      next_launch_p99_ms  next trial's process (the trainer stamps both
                          ends itself; wall clock, one host), over every
                          trial that started after another one exited
    Then stops both daemons and reads the stamps from the store.

    hpt-bench trials --count N --parallel P [--algorithm random|grid|gp] [--json]
*/
#include "hpt_store.h"
#include <czmq.h>
#include <errno.h>
#include <math.h>
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

static int
s_free_port (void)
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

//  One HTTP/1.0 request to 127.0.0.1:port; returns the body (caller frees)
//  or NULL.
static char *
s_http (int port, const char *method, const char *path, const char *body)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons ((uint16_t)port),
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    if (connect (fd, (struct sockaddr *)&addr, sizeof (addr)) != 0) {
        close (fd);
        return NULL;
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
    char *start = strstr (reply, "\r\n\r\n");
    char *out = start ? strdup (start + 4) : NULL;
    free (reply);
    return out;
}

static pid_t
s_spawn (char *const argv[], const char *log)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2 (&actions, 1, 2);
    pid_t pid = -1;
    if (posix_spawn (&pid, argv[0], &actions, NULL, argv, environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy (&actions);
    return pid;
}

static void
s_stop (pid_t pid)
{
    if (pid <= 0) return;
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
s_percentile (double *sorted, size_t n, double p)
{
    if (n == 0) return NAN;
    size_t i = (size_t)ceil (p * (double)n) - 1;
    return sorted[i < n ? i : n - 1];
}

typedef struct {
    double start; //  t_start_us
    double end;   //  t_end_us
} s_stamp_t;

static int
s_by_start (const void *a, const void *b)
{
    double x = ((const s_stamp_t *)a)->start, y = ((const s_stamp_t *)b)->start;
    return x < y ? -1 : x > y;
}

int
bench_trials (int argc, char *argv[])
{
    int count = 200, parallel = 4;
    bool json = false;
    const char *algorithm = "RANDOM_SEARCH";
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--count") == 0 && i + 1 < argc)
            count = atoi (argv[++i]);
        else if (strcmp (argv[i], "--parallel") == 0 && i + 1 < argc)
            parallel = atoi (argv[++i]);
        else if (strcmp (argv[i], "--algorithm") == 0 && i + 1 < argc) {
            const char *a = argv[++i];
            algorithm = strcmp (a, "gp") == 0     ? "ALGORITHM_UNSPECIFIED"
                        : strcmp (a, "grid") == 0 ? "GRID_SEARCH"
                                                  : "RANDOM_SEARCH";
        } else if (strcmp (argv[i], "--json") == 0)
            json = true;
        else {
            printf ("Usage: hpt-bench trials --count N --parallel P [--algorithm random|grid|gp] "
                    "[--json]\n");
            return strcmp (argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (count < 1 || parallel < 1) {
        fprintf (stderr, "hpt-bench trials: --count and --parallel must be >= 1\n");
        return 2;
    }
    char self[4096];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof (self) - 1);
    if (n <= 0) return 1;
    self[n] = '\0';
    char *bin = strdup (self);
    *strrchr (bin, '/') = '\0';
    //  $TMPDIR picks the disk: /dev/shm takes fsync out of the figure
    //  when the question is CPU cost, not storage.
    const char *tmp = getenv ("TMPDIR");
    char dir[4096];
    snprintf (dir, sizeof (dir), "%s/hpt-bench-trials-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (dir)) {
        fprintf (stderr, "hpt-bench: cannot create a directory under %s\n",
                 tmp && *tmp ? tmp : "/tmp");
        return 1;
    }
    int api = s_free_port (), agents = s_free_port ();
    char *config = zsys_sprintf ("%s/cluster.yaml", dir);
    FILE *file = fopen (config, "w");
    fprintf (file,
             "master:\n  agents: tcp://127.0.0.1:%d\n  api: 127.0.0.1:%d\n  stateDir: %s/state\n"
             "machineTypes:\n  standard: {cpus: 1, memoryGb: 0.01}\n",
             agents, api, dir);
    fclose (file);
    char *master_bin = zsys_sprintf ("%s/hptmaster", bin);
    char *agent_bin = zsys_sprintf ("%s/hptagent", bin);
    char *trainer = zsys_sprintf ("%s/hpt-bench-trainer", bin);
    char *master_log = zsys_sprintf ("%s/master.log", dir);
    char *agent_log = zsys_sprintf ("%s/agent.log", dir);
    char *endpoint = zsys_sprintf ("tcp://127.0.0.1:%d", agents);
    char *workdir = zsys_sprintf ("%s/agent", dir);
    char *cpus = zsys_sprintf ("%d", parallel);
    char *master_argv[] = {master_bin, "--cluster", config, NULL};
    char *agent_argv[] = {agent_bin,   "--master",    endpoint,    "--name", "bench",
                          "--workdir", workdir,       "--cpus",    cpus,     "--memory-gb",
                          "1",         "--advertise", "127.0.0.1", NULL};
    pid_t master = s_spawn (master_argv, master_log);
    char *reply = NULL;
    for (int i = 0; i < 200 && !reply; i++) {
        zclock_sleep (25);
        reply = s_http (api, "GET", "/v1/nodes", NULL);
    }
    free (reply);
    pid_t agent = s_spawn (agent_argv, agent_log);
    bool ready = false;
    for (int i = 0; i < 400 && !ready; i++) {
        zclock_sleep (25);
        reply = s_http (api, "GET", "/v1/nodes/bench", NULL);
        ready = reply && strstr (reply, "\"READY\"");
        free (reply);
    }
    int rc = 0;
    double seconds = 0;
    if (!ready) {
        fprintf (stderr, "hpt-bench trials: the agent did not register (see %s)\n", dir);
        rc = 1;
    } else {
        char *job = zsys_sprintf (
            "{\"jobId\": \"bench\", \"trainingInput\": {\"command\": [\"%s\"], "
            "\"hyperparameters\": {\"goal\": \"MAXIMIZE\", \"hyperparameterMetricTag\": \"m\", "
            "\"maxTrials\": %d, \"maxParallelTrials\": %d, \"maxFailedTrials\": %d, "
            "\"algorithm\": \"%s\", \"params\": [{\"parameterName\": \"x\", \"type\": "
            "\"INTEGER\", \"minValue\": 0, \"maxValue\": 1000000000}]}}}",
            trainer, count, parallel, count, algorithm);
        int64_t t0 = zclock_usecs ();
        reply = s_http (api, "POST", "/v1/projects/bench/jobs", job);
        zstr_free (&job);
        //  An accepted job comes back as a Job resource with its jobId.
        bool submitted =
            reply && strstr (reply, "\"jobId\": \"bench\"") && !strstr (reply, "\"error\"");
        if (!submitted)
            fprintf (stderr, "hpt-bench trials: submission refused: %s\n", reply ? reply : "");
        free (reply);
        const char *state = "";
        while (submitted) {
            zclock_sleep (20);
            reply = s_http (api, "GET", "/v1/projects/bench/jobs?filter=jobId%3Dbench", NULL);
            if (reply && (strstr (reply, "\"SUCCEEDED\"") || strstr (reply, "\"FAILED\""))) {
                state = strstr (reply, "\"SUCCEEDED\"") ? "SUCCEEDED" : "FAILED";
                free (reply);
                break;
            }
            free (reply);
        }
        seconds = (double)(zclock_usecs () - t0) / 1e6;
        if (strcmp (state, "SUCCEEDED") != 0) {
            fprintf (stderr, "hpt-bench trials: the job did not succeed (see %s)\n", dir);
            rc = 1;
        }
    }
    s_stop (agent);
    s_stop (master);

    //  The trainers' own stamps, from the store.
    double *latency = calloc ((size_t)count + 1, sizeof (double));
    size_t latencies = 0;
    if (rc == 0) {
        char *db = zsys_sprintf ("%s/state/hpt.db", dir);
        char *error = NULL;
        hpt_store_t *store = hpt_store_new (db, &error);
        zstr_free (&db);
        s_stamp_t *stamps = calloc ((size_t)count, sizeof (s_stamp_t));
        size_t stamp_count = 0;
        for (int t = 1; store && t <= count; t++) {
            json_t *list = NULL;
            hpt_store_metrics_of_trial (store, "bench", t, NULL, &list);
            size_t i;
            json_t *point;
            s_stamp_t stamp = {0, 0};
            json_array_foreach (list, i, point) {
                const char *tag = json_string_value (json_object_get (point, "tag"));
                double value = json_number_value (json_object_get (point, "value"));
                if (tag && strcmp (tag, "t_start_us") == 0) stamp.start = value;
                if (tag && strcmp (tag, "t_end_us") == 0) stamp.end = value;
            }
            json_decref (list);
            if (stamp.start > 0 && stamp.end > 0) stamps[stamp_count++] = stamp;
        }
        hpt_store_destroy (&store);
        free (error);
        qsort (stamps, stamp_count, sizeof (s_stamp_t), s_by_start);
        //  For every trial, the latest exit before its start is the exit
        //  that made room for it (with P in parallel, the first P started
        //  without waiting for anything).
        for (size_t i = 0; i < stamp_count; i++) {
            double before = -1;
            for (size_t j = 0; j < stamp_count; j++)
                if (stamps[j].end <= stamps[i].start && stamps[j].end > before)
                    before = stamps[j].end;
            if (before > 0 && i >= (size_t)parallel)
                latency[latencies++] = (stamps[i].start - before) / 1000.0;
        }
        free (stamps);
    }
    qsort (latency, latencies, sizeof (double), s_compare);
    double p50 = s_percentile (latency, latencies, 0.50),
           p99 = s_percentile (latency, latencies, 0.99);
    double rate = rc == 0 && seconds > 0 ? count / seconds : 0;
    if (json)
        printf ("{\"count\": %d, \"parallel\": %d, \"seconds\": %.3f, \"trials_per_s\": %.1f, "
                "\"next_launch_p50_ms\": %.3f, \"next_launch_p99_ms\": %.3f, \"samples\": %zu}\n",
                count, parallel, seconds, rate, p50, p99, latencies);
    else
        printf ("trials: %d, parallel %d, %.3f s: %.1f trials/s; trial exit -> next trial start: "
                "p50 %.3f ms, p99 %.3f ms (%zu samples)\n",
                count, parallel, seconds, rate, p50, p99, latencies);
    free (latency);
    if (rc == 0) {
        char *cmd = zsys_sprintf ("rm -rf '%s'", dir);
        if (system (cmd) != 0) fprintf (stderr, "hpt-bench trials: could not remove %s\n", dir);
        zstr_free (&cmd);
    }
    zstr_free (&config);
    zstr_free (&master_bin);
    zstr_free (&agent_bin);
    zstr_free (&trainer);
    zstr_free (&master_log);
    zstr_free (&agent_log);
    zstr_free (&endpoint);
    zstr_free (&workdir);
    zstr_free (&cpus);
    free (bin);
    return rc;
}
