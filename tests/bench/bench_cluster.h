/*  bench_cluster -- a real hptmaster and one hptagent on loopback, for
    the end-to-end benchmarks of hpt-bench (trials, metrics)

    bench_cluster_new makes a directory under $TMPDIR (default /tmp; use
    /dev/shm to take the disk out of a CPU figure), writes a cluster.yaml
    with one "standard" machine type of one CPU, starts hptmaster and one
    hptagent (name "bench", cpus as asked) from the directory of the
    running hpt-bench, and waits until the agent is READY. Submitting and
    waiting go through the REST API, as a user's client would. Destroying
    the cluster stops both daemons (SIGTERM) and removes the directory
    unless the run failed, so its logs can be read.
*/
#ifndef BENCH_CLUSTER_H_INCLUDED
#define BENCH_CLUSTER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct _bench_cluster_t bench_cluster_t;

//  Starts a master and an agent with cpus CPUs. name prefixes messages.
//  With curve, the agent channel is CURVE (keys made in the directory,
//  docs/security.md) instead of plaintext loopback. Returns NULL (after
//  saying why on stderr) when they do not come up.
bench_cluster_t *bench_cluster_new (const char *name, int cpus, bool curve);

//  As bench_cluster_new, with master_lines (NULL or lines each ending in
//  a newline, indented by two spaces) added under master: in
//  cluster.yaml, e.g. "  agentTimeout: 2s\n", and agent_extra (NULL, or
//  more arguments for the agent, NULL-terminated, borrowed for the
//  cluster's life).
bench_cluster_t *bench_cluster_new_with (const char *name, int cpus, bool curve,
                                         const char *master_lines, const char *const *agent_extra);

//  Starts a master alone (no agent): master_lines as above; master_bin is
//  the hptmaster to run (NULL: the one beside hpt-bench), e.g. another
//  build's, to compare two versions in one run. NULL (after saying why)
//  when it does not come up.
bench_cluster_t *bench_cluster_new_master (const char *name, const char *master_lines,
                                           const char *master_bin);

//  The master's agents endpoint (caller frees with zstr_free) and its
//  process id.
char *bench_cluster_agents_endpoint (bench_cluster_t *self);
pid_t bench_cluster_master_pid (bench_cluster_t *self);

//  Starts the master and the agent again on the cluster's directory
//  after bench_cluster_stop, and waits until the agent is READY. Returns
//  false (after saying why on stderr) when they do not come up.
bool bench_cluster_start (bench_cluster_t *self);

//  One HTTP/1.0 request to the master's API (path with its query); body
//  may be NULL. Returns the HTTP status (0 when there was no answer) and
//  puts the answer's body in *reply (caller frees; NULL without an
//  answer) and its size in *size when size is not NULL. Safe to call
//  from several threads at once.
int bench_cluster_http (bench_cluster_t *self, const char *method, const char *path,
                        const char *body, char **reply, size_t *size);

//  CPU seconds (user + system) the master and the agent have used so far.
void bench_cluster_cpu (bench_cluster_t *self, double *master, double *agent);

//  Stops both daemons; removes the directory when keep is false. Nulls
//  the pointer.
void bench_cluster_destroy (bench_cluster_t **self_p, bool keep);

//  The cluster's directory (logs, state/hpt.db).
const char *bench_cluster_dir (bench_cluster_t *self);

//  A Job resource (JSON text, caller frees) with jobId "bench": max_trials
//  runs of hpt-bench-trainer, parallel at a time, any number allowed to
//  fail, MAXIMIZE tag "m" over one INTEGER x with the given algorithm
//  (AI Platform's name). training_extra is inserted among trainingInput's
//  members: "" or members each followed by ", ".
char *bench_cluster_job (bench_cluster_t *self, const char *training_extra, int max_trials,
                         int parallel, const char *algorithm);

//  Submits a Job resource (JSON text) whose jobId is job_id, waits until
//  the job ends, and returns true only if it SUCCEEDED. *seconds is the
//  time from submission to the end as seen by polling every 20 ms.
bool bench_cluster_run_job (bench_cluster_t *self, const char *job_id, const char *job,
                            double *seconds);

//  Stops both daemons so that the store can be opened; the directory stays
//  until destroy.
void bench_cluster_stop (bench_cluster_t *self);

//  ----------------------------------- for benchmarks that start daemons

//  A TCP port on 127.0.0.1 that is free now, or -1.
int bench_free_port (void);

//  The directory of the running hpt-bench (and of the daemons), or NULL.
//  The caller frees it.
char *bench_bin_dir (void);

//  Starts argv (argv[0] a path) with stdout and stderr into log; the
//  process id, or -1.
pid_t bench_spawn (char *const argv[], const char *log);

//  CPU seconds (user + system) pid has used so far.
double bench_cpu_seconds (pid_t pid);

#endif
