/*  hpt-bench api-tls -- what HTTPS costs a GET of the REST API

    Makes a CA and a server certificate for 127.0.0.1 (hpt_tls_certgen,
    what `hptmaster certgen` writes), starts two hptmasters side by side
    on loopback, one plain and one with master.tls, submits the same job
    to each (no agent: it stays QUEUED, so nothing changes while it is
    read), and GETs it through libcurl, the CLI's client, with the
    certificate verified as the CLI verifies it:

      keep-alive   N GETs on one kept-alive connection per master: the
                   cost of TLS records on a request and its answer;
      new conn     M GETs each on a new connection (TCP connect and, for
                   https, a full handshake): what one `hpt` command pays,
                   since every command is a new process.

    Requests alternate between the two masters in 20 rounds, so a change
    in the machine's load during the run falls on both alike. Prints p50,
    p99 and mean latency of each, the https/http ratios, and the masters'
    CPU time per request (from /proc, 10 ms ticks: a rough figure).

    hpt-bench api-tls [--requests N] [--connections M] [--json]
*/
#include "bench_cluster.h"
#include "hpt_tls.h"
#include <czmq.h>
#include <curl/curl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define S_ROUNDS 20
#define S_JOB_PATH "/v1/projects/bench/jobs/bench"

//  One master and what was measured against it.
typedef struct {
    const char *name;   //  "http" or "https"
    char *base;         //  http[s]://127.0.0.1:PORT
    const char *ca;     //  the CA file for https, else NULL
    pid_t pid;          //  the master
    CURL *keep;         //  the kept-alive handle
    double *kept;       //  keep-alive latencies, µs
    size_t kept_count;  //  entries in kept
    double *fresh;      //  new-connection latencies, µs
    size_t fresh_count; //  entries in fresh
    double cpu[2];      //  master CPU seconds: keep-alive, new connections
    size_t answer;      //  bytes of the last answer
} s_server_t;

static size_t
s_count (char *data, size_t size, size_t nmemb, void *userp)
{
    *(size_t *)userp += size * nmemb;
    return size * nmemb;
}

//  One request on handle; its latency in µs, or -1 when it failed.
static double
s_request (s_server_t *server, CURL *handle, const char *method, const char *path, const char *body)
{
    char *url = zsys_sprintf ("%s%s", server->base, path);
    struct curl_slist *headers = curl_slist_append (NULL, "Content-Type: application/json");
    curl_easy_setopt (handle, CURLOPT_URL, url);
    curl_easy_setopt (handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (handle, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt (handle, CURLOPT_WRITEFUNCTION, s_count);
    curl_easy_setopt (handle, CURLOPT_WRITEDATA, &server->answer);
    curl_easy_setopt (handle, CURLOPT_HTTPHEADER, headers);
    if (server->ca) {
        curl_easy_setopt (handle, CURLOPT_CAINFO, server->ca);
        curl_easy_setopt (handle, CURLOPT_CAPATH, NULL);
    }
    if (body)
        curl_easy_setopt (handle, CURLOPT_POSTFIELDS, body);
    else
        curl_easy_setopt (handle, CURLOPT_HTTPGET, 1L);
    server->answer = 0;
    int64_t start = zclock_usecs ();
    CURLcode rc = curl_easy_perform (handle);
    double us = (double)(zclock_usecs () - start);
    long code = 0;
    curl_easy_getinfo (handle, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all (headers);
    zstr_free (&url);
    if (rc != CURLE_OK || code != 200) {
        fprintf (stderr, "hpt-bench api-tls: %s %s%s: %s (HTTP %ld)\n", method, server->base, path,
                 curl_easy_strerror (rc), code);
        return -1;
    }
    return us;
}

//  Writes the master's cluster.yaml in dir and starts it; 0 once its API
//  answers, -1 (after saying why) otherwise.
static int
s_start (s_server_t *server, const char *dir, const char *bin)
{
    int port = bench_free_port (), agents = bench_free_port ();
    bool tls = server->ca != NULL;
    server->base = zsys_sprintf ("%s://127.0.0.1:%d", server->name, port);
    char *config = zsys_sprintf ("%s/%s.yaml", dir, server->name);
    FILE *file = fopen (config, "w");
    if (!file) {
        zstr_free (&config);
        return -1;
    }
    fprintf (file,
             "master:\n  agents: tcp://127.0.0.1:%d\n  api: 127.0.0.1:%d\n  stateDir: %s/%s\n",
             agents, port, dir, server->name);
    if (tls) fprintf (file, "  tls: {cert: %s/pki/server.pem, key: %s/pki/server.key}\n", dir, dir);
    fclose (file);
    char *master = zsys_sprintf ("%s/hptmaster", bin);
    char *log = zsys_sprintf ("%s/%s.log", dir, server->name);
    char *argv[] = {master, "--cluster", config, NULL};
    server->pid = bench_spawn (argv, log);
    zstr_free (&master);
    zstr_free (&log);
    zstr_free (&config);
    CURL *probe = curl_easy_init ();
    bool up = false;
    for (int i = 0; server->pid > 0 && i < 400 && !up; i++) {
        zclock_sleep (25);
        char *url = zsys_sprintf ("%s/v1/nodes", server->base);
        curl_easy_setopt (probe, CURLOPT_URL, url);
        curl_easy_setopt (probe, CURLOPT_WRITEFUNCTION, s_count);
        curl_easy_setopt (probe, CURLOPT_WRITEDATA, &server->answer);
        if (tls) curl_easy_setopt (probe, CURLOPT_CAINFO, server->ca);
        up = curl_easy_perform (probe) == CURLE_OK;
        zstr_free (&url);
    }
    curl_easy_cleanup (probe);
    if (!up) fprintf (stderr, "hpt-bench api-tls: the %s master did not come up\n", server->name);
    return up ? 0 : -1;
}

static void
s_stop (s_server_t *server)
{
    if (server->pid > 0) {
        kill (server->pid, SIGTERM);
        waitpid (server->pid, NULL, 0);
    }
    if (server->keep) curl_easy_cleanup (server->keep);
    zstr_free (&server->base);
    free (server->kept);
    free (server->fresh);
}

//  Submits the job that is read, and makes the first request of the
//  kept-alive handle (connect and handshake: not counted).
static int
s_prepare (s_server_t *server, const char *bin)
{
    char *job = zsys_sprintf (
        "{\"jobId\": \"bench\", \"trainingInput\": {\"command\": [\"%s/hpt-bench-trainer\"], "
        "\"hyperparameters\": {\"goal\": \"MAXIMIZE\", \"hyperparameterMetricTag\": \"m\", "
        "\"maxTrials\": 10, \"maxParallelTrials\": 1, \"params\": [{\"parameterName\": \"x\", "
        "\"type\": \"INTEGER\", \"minValue\": 0, \"maxValue\": 100}]}}}",
        bin);
    CURL *post = curl_easy_init ();
    double us = s_request (server, post, "POST", "/v1/projects/bench/jobs", job);
    curl_easy_cleanup (post);
    zstr_free (&job);
    server->keep = curl_easy_init ();
    if (us < 0 || s_request (server, server->keep, "GET", S_JOB_PATH, NULL) < 0) return -1;
    return 0;
}

//  One round of count requests: on the kept-alive handle, or each on a new
//  connection.
static int
s_round (s_server_t *server, size_t count, bool fresh)
{
    for (size_t i = 0; i < count; i++) {
        CURL *handle = fresh ? curl_easy_init () : server->keep;
        double us = s_request (server, handle, "GET", S_JOB_PATH, NULL);
        if (fresh) curl_easy_cleanup (handle);
        if (us < 0) return -1;
        if (fresh)
            server->fresh[server->fresh_count++] = us;
        else
            server->kept[server->kept_count++] = us;
    }
    return 0;
}

//  Both phases, the masters alternating round by round.
static int
s_measure (s_server_t servers[2], size_t requests, size_t connections)
{
    for (int phase = 0; phase < 2; phase++) {
        size_t total = phase ? connections : requests;
        double before[2];
        for (int s = 0; s < 2; s++)
            before[s] = bench_cpu_seconds (servers[s].pid);
        for (size_t r = 0; r < S_ROUNDS; r++) {
            //  Spread total over the rounds, the remainder on the first ones.
            size_t count = total / S_ROUNDS + (r < total % S_ROUNDS);
            for (int s = 0; s < 2; s++)
                if (s_round (&servers[s], count, phase == 1)) return -1;
        }
        for (int s = 0; s < 2; s++)
            servers[s].cpu[phase] = bench_cpu_seconds (servers[s].pid) - before[s];
    }
    return 0;
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

//  p50, p99 (nearest rank) and mean of samples, sorted in place.
static void
s_stats (double *samples, size_t n, double out[3])
{
    qsort (samples, n, sizeof (double), s_compare);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += samples[i];
    out[0] = samples[(size_t)ceil (0.50 * (double)n) - 1];
    out[1] = samples[(size_t)ceil (0.99 * (double)n) - 1];
    out[2] = sum / (double)n;
}

static void
s_report (s_server_t servers[2], bool json)
{
    const char *phases[] = {"keep-alive", "new conn"};
    double stats[2][2][3]; //  [phase][server][p50, p99, mean]
    for (int s = 0; s < 2; s++) {
        s_stats (servers[s].kept, servers[s].kept_count, stats[0][s]);
        s_stats (servers[s].fresh, servers[s].fresh_count, stats[1][s]);
    }
    size_t counts[2] = {servers[0].kept_count, servers[0].fresh_count};
    if (!json) {
        printf ("api-tls: GET %s (%zu-byte answer), loopback, libcurl, certificate verified\n",
                S_JOB_PATH, servers[0].answer);
        printf ("%-11s %-6s %9s %9s %9s %14s\n", "", "", "p50 us", "p99 us", "mean us",
                "master CPU us");
    }
    for (int p = 0; p < 2; p++) {
        for (int s = 0; s < 2; s++) {
            double cpu_us = servers[s].cpu[p] * 1e6 / (double)counts[p];
            if (json)
                printf ("{\"phase\": \"%s\", \"scheme\": \"%s\", \"requests\": %zu, \"p50_us\": "
                        "%.1f, \"p99_us\": %.1f, \"mean_us\": %.1f, \"master_cpu_us\": %.1f}\n",
                        phases[p], servers[s].name, counts[p], stats[p][s][0], stats[p][s][1],
                        stats[p][s][2], cpu_us);
            else
                printf ("%-11s %-6s %9.1f %9.1f %9.1f %14.1f\n", s ? "" : phases[p],
                        servers[s].name, stats[p][s][0], stats[p][s][1], stats[p][s][2], cpu_us);
        }
        if (!json)
            printf ("%-11s %-6s %9.2f %9.2f %9.2f   (%zu requests each)\n", "", "ratio",
                    stats[p][1][0] / stats[p][0][0], stats[p][1][1] / stats[p][0][1],
                    stats[p][1][2] / stats[p][0][2], counts[p]);
    }
}

//  Makes the directory and the certificates, starts both masters,
//  measures and reports. 0, or 1 (the directory is kept for its logs).
static int
s_run (size_t requests, size_t connections, bool json)
{
    const char *tmp = getenv ("TMPDIR");
    char *dir = zsys_sprintf ("%s/hpt-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *bin = bench_bin_dir ();
    int rc = mkdtemp (dir) && bin ? 0 : 1;
    //  Named after mkdtemp has filled in the directory's name.
    char *pki = zsys_sprintf ("%s/pki", dir);
    char *ca = zsys_sprintf ("%s/ca.pem", pki);
    const char *hosts[] = {"127.0.0.1"};
    hpt_error_t error;
    if (rc == 0 && hpt_tls_certgen (pki, hosts, 1, NULL, &error) != 0) {
        fprintf (stderr, "hpt-bench api-tls: %s\n", error.message);
        rc = 1;
    }
    s_server_t servers[2] = {{.name = "http"}, {.name = "https", .ca = ca}};
    for (int s = 0; s < 2; s++) {
        servers[s].kept = calloc (requests, sizeof (double));
        servers[s].fresh = calloc (connections, sizeof (double));
        if (rc == 0 && (s_start (&servers[s], dir, bin) || s_prepare (&servers[s], bin))) rc = 1;
    }
    if (rc == 0 && s_measure (servers, requests, connections) == 0)
        s_report (servers, json);
    else
        rc = 1;
    for (int s = 0; s < 2; s++)
        s_stop (&servers[s]);
    if (rc == 0) {
        char *cmd = zsys_sprintf ("rm -rf '%s'", dir);
        if (system (cmd) != 0) fprintf (stderr, "hpt-bench api-tls: could not remove %s\n", dir);
        zstr_free (&cmd);
    } else
        fprintf (stderr, "hpt-bench api-tls: failed; see %s\n", dir);
    zstr_free (&ca);
    zstr_free (&pki);
    zstr_free (&dir);
    free (bin);
    return rc;
}

int
bench_api_tls (int argc, char *argv[])
{
    long requests = 2000, connections = 200;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--requests") == 0 && i + 1 < argc)
            requests = atol (argv[++i]);
        else if (strcmp (argv[i], "--connections") == 0 && i + 1 < argc)
            connections = atol (argv[++i]);
        else if (strcmp (argv[i], "--json") == 0)
            json = true;
        else {
            printf ("Usage: hpt-bench api-tls [--requests N] [--connections M] [--json]\n"
                    "  N GETs of a job per master on one kept-alive connection (default 2000),\n"
                    "  M GETs each on a new connection (default 200); http and https side by\n"
                    "  side, alternating\n");
            return strcmp (argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (requests < S_ROUNDS || connections < S_ROUNDS) {
        fprintf (stderr, "hpt-bench api-tls: --requests and --connections must be >= %d\n",
                 S_ROUNDS);
        return 2;
    }
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
    int rc = s_run ((size_t)requests, (size_t)connections, json);
    curl_global_cleanup ();
    return rc;
}
