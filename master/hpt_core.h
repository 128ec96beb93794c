/*  hpt_core -- the master's core loop: jobs, agents, scheduling

    One zloop owns all of the master's state (docs/architecture.md): the tuners of
    every job, the nodes (agents), and the index from task ids to tasks.
    It reads two ROUTER sockets: agents (HPT/2 over TCP, proto/PROTOCOL.md)
    and the HTTP API thread (inproc, hpt_api.h's frame contract, answered by
    hpt_routes). Timers send heartbeats, declare silent agents lost and
    enforce the grace period after a restart. Every state change is in the
    store before the core acts on it or acknowledges it; while the store
    cannot be written, the core changes nothing and says so (hpt_core.c,
    "Failed commits").

    The functions below are the core's operations for hpt_routes; the loop
    itself is hpt_core_run.
*/
#ifndef HPT_CORE_H_INCLUDED
#define HPT_CORE_H_INCLUDED

#include "hpt_cluster_config.h"
#include "hpt_host.h"
#include "hpt_joblog.h"
#include "hpt_master_metrics.h"
#include "hpt_session.h"
#include "hpt_store.h"
#include "hpt_textcache.h"
#include "hpt_tuner.h"

typedef struct _hpt_core_t hpt_core_t;

//  Creates the core: opens the store under the configuration's stateDir
//  (created if missing), binds the agents endpoint, starts the HTTP API
//  (HTTPS with master.tls, whose files are checked first: an error names
//  master.tls.cert or master.tls.key), and reloads every job and node
//  from the store. config is borrowed and
//  must outlive the core. On failure returns NULL with *error.
hpt_core_t *hpt_core_new (hpt_cluster_config_t *config, hpt_error_t *error);

//  Destroys the core (stops the API, closes sockets and the store) and
//  nulls the pointer. Tasks on agents keep running.
void hpt_core_destroy (hpt_core_t **self_p);

//  Blocks SIGHUP in the calling thread and every thread it starts
//  afterwards, and notes it in threads started earlier; call it first
//  thing in main. A core then hears SIGHUP without its loop being
//  interrupted and, at its next heartbeat round, reads again
//  what can change without a restart: the admitted agent keys, and
//  cluster.yaml when hpt_core_set_config_file named it
//  (hpt_core_reload.c). Without the block, SIGHUP does what its
//  disposition says.
void hpt_core_block_sighup (void);

//  The file a reload reads (copied).
void hpt_core_set_config_file (hpt_core_t *self, const char *path);

//  Runs the loop until SIGINT/SIGTERM. Returns 0.
int hpt_core_run (hpt_core_t *self);

//  The HTTP API's port and the agents endpoint actually bound (for port
//  0 in the configuration).
uint16_t hpt_core_api_port (hpt_core_t *self);
const char *hpt_core_agents_endpoint (hpt_core_t *self);

//  ---------------------------------------------- operations for hpt_routes

hpt_store_t *hpt_core_store (hpt_core_t *self);

//  The master's metrics (borrowed).
hpt_master_metrics_t *hpt_core_metrics (hpt_core_t *self);

//  The master's settings (borrowed).
const hpt_master_settings_t *hpt_core_settings (hpt_core_t *self);

//  Submits a validated job (read by hpt_job_reader and passed by
//  hpt_job_check_submission; ownership of spec passes to the core); it is
//  stored before this returns, owned by created_by (the API user, or
//  NULL). On success returns the tuner. On failure
//  returns NULL with *error: HPT_E_INVALID (a job no agent can run, a bad
//  resume), HPT_E_EXISTS (the id is taken), HPT_E_UNAVAILABLE
//  (the store cannot be written now: nothing was stored).
hpt_tuner_t *hpt_core_submit (hpt_core_t *self, hpt_job_t *spec, const char *project,
                              const char *created_by, hpt_error_t *error);

//  The job called job_id, or NULL (borrowed). A finished job may be
//  evicted (hpt_tuner_evict): what it shows without its trials is there,
//  its trials are not until hpt_core_readmit.
hpt_tuner_t *hpt_core_job (hpt_core_t *self, const char *job_id);

//  Makes sure the job's trials are in memory (read back from the store
//  if it was evicted), and marks it used: the least recently used
//  finished jobs are evicted again in a later turn, never during the
//  caller's. -1 with *error when the store cannot be read.
int hpt_core_readmit (hpt_core_t *self, hpt_tuner_t *tuner, hpt_error_t *error);

//  Every job in submission order (borrowed array of borrowed tuners,
//  valid until the next submission; finished ones may be evicted).
hpt_tuner_t **hpt_core_jobs (hpt_core_t *self, size_t *count);

//  Cancels a job, stored before this returns. -1 with *error when it is
//  already finished (HPT_E_FAILED_PRECONDITION) or the store cannot be
//  written (HPT_E_UNAVAILABLE).
int hpt_core_cancel (hpt_core_t *self, hpt_tuner_t *tuner, hpt_error_t *error);

//  Replaces a job's labels with patch's (jobs.patch), stored before this
//  returns. etag, when not NULL, must be the job's current one, else
//  HPT_E_ABORTED and nothing changes; HPT_E_UNAVAILABLE when the store
//  cannot be written.
int hpt_core_set_labels (hpt_core_t *self, hpt_tuner_t *tuner, hpt_job_t *patch, const char *etag,
                         hpt_error_t *error);

//  Every node ordered by name (borrowed), and one node by name.
hpt_host_t **hpt_core_nodes (hpt_core_t *self, size_t *count);
hpt_host_t *hpt_core_node (hpt_core_t *self, const char *name);

//  Drains a node (no new tasks; with now, its tasks are stopped and their
//  trials requeued) or undrains it. Stored before this returns; -1 with
//  *error (HPT_E_UNAVAILABLE) when the store cannot be written.
int hpt_core_drain (hpt_core_t *self, hpt_host_t *node, const char *reason, const char *by,
                    bool now, hpt_error_t *error);
int hpt_core_undrain (hpt_core_t *self, hpt_host_t *node, hpt_error_t *error);

//  Forgets a node that is not connected (LOST, or not back since a
//  restart) and holds no task: it frees its place under maxAgents; its
//  trials keep its name. A connected node is refused
//  (HPT_E_FAILED_PRECONDITION: drain it and stop its agent first). node is
//  destroyed on success.
int hpt_core_delete_node (hpt_core_t *self, hpt_host_t *node, hpt_error_t *error);

//  Creates a user or gives it a new role and token (token_hash: only the
//  hash is stored); revokes a user's token. Stored before they return.
int hpt_core_put_user (hpt_core_t *self, const char *name, hpt_role_t role, const char *token_hash,
                       hpt_error_t *error);
int hpt_core_revoke_user (hpt_core_t *self, const char *name, hpt_error_t *error);

//  Appends an entry to the audit trail (logged instead when the store
//  cannot be written).
void hpt_core_audit (hpt_core_t *self, const hpt_store_audit_t *entry);

//  The jobs' logs (borrowed).
hpt_joblog_t *hpt_core_joblog (hpt_core_t *self);

//  How many jobs' optimizers the suggester holds (running jobs, and
//  finished ones until it has been told to drop them).
size_t hpt_core_suggester_models (hpt_core_t *self);

//  Whether the store can be written now; when not, why (borrowed), and
//  how many commits failed since the start.
bool hpt_core_store_ok (hpt_core_t *self);
const char *hpt_core_store_problem (hpt_core_t *self);
uint64_t hpt_core_commit_failures (hpt_core_t *self);

//  Failed secure handshakes on the agents socket (auth, protocol, other)
//  and connections the ZAP handler refused, since the start (0 without
//  CURVE).
void hpt_core_security_counts (hpt_core_t *self, uint64_t handshakes[3], uint64_t *refused);

//  Messages from agents that were malformed or unexpected, counted and
//  dropped.
uint64_t hpt_core_dropped_messages (hpt_core_t *self);

//  The same by kind: kind name -> uint64_t * (borrowed).
zhashx_t *hpt_core_dropped_by_kind (hpt_core_t *self);

//  Rendered Job resources by job id and version (borrowed): a GET of an
//  unchanged job is served from here.
hpt_textcache_t *hpt_core_answers (hpt_core_t *self);

//  The web console's sign-in sessions (borrowed).
hpt_session_t *hpt_core_sessions (hpt_core_t *self);

//  The loop's health since the start, for /metrics. A loop held too long
//  is what makes healthy agents look silent.
typedef struct {
    double busy_max_s;    //  the longest one event (API request, agent message, timer round) took
    double silence_max_s; //  the longest a connected agent went unheard, as the loop saw it
    double frame_wait_max_s; //  the longest an agent frame waited to be handled (an upper bound)
    uint64_t stalls;         //  heartbeat rounds that found the loop held past an interval
    double stalled_s;        //  the time it was held, in all (not held against the agents)
    uint64_t agents_lost;    //  agents declared LOST
    uint64_t rounds_behind;  //  heartbeat rounds that judged no one: the agents' queue stayed full
} hpt_core_loop_figures_t;

void hpt_core_loop_figures (hpt_core_t *self, hpt_core_loop_figures_t *figures);

#endif
