/*  hpt_cluster_config -- the master's cluster.yaml

    What `hptmaster --cluster cluster.yaml` reads: where the master listens
    (agents over ZeroMQ, the HTTP API), where it keeps its state, its
    timing (heartbeats, agent timeout, stop grace period), what happens to
    trials of a lost agent, the optimizer's base seed, and the machine
    types and scale tiers that turn a job into the tasks of a trial cluster
    (hpt_machine). Every field has a default, so an empty file is a valid
    configuration. The file is validated like a job config: every problem
    at once, each as FILE:LINE:COL: field.path: message (hpt_diag), with
    "did you mean" for unknown keys. See ops/cluster.example.yaml and
    README "Cluster configuration".

    master.tls {cert, key} makes the HTTP API serve HTTPS; both files are
    required together. The reader checks that they are given; whether they
    are a usable pair is checked when the master starts (hpt_tls).

    Security rule: an agents endpoint that other hosts can reach (tcp on
    an address that is not loopback) needs master.security.curve (the
    agents then prove who they are with their keys, docs/security.md), or
    an explicit master.security.insecure: true. Loopback and ipc stay
    key-free.
*/
#ifndef HPT_CLUSTER_CONFIG_H_INCLUDED
#define HPT_CLUSTER_CONFIG_H_INCLUDED

#include "hpt_diag.h"
#include "hpt_enum.h"
#include "hpt_job.h"
#include "hpt_machine.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPT_CLUSTER_DEFAULT_AGENTS "tcp://127.0.0.1:7460"
#define HPT_CLUSTER_DEFAULT_API "127.0.0.1:7470"
#define HPT_CLUSTER_DEFAULT_STATE_DIR "./hpt-state"
#define HPT_CLUSTER_DEFAULT_MAX_AGENTS 4096
//  A job's maxParallelTrials is capped: each trial in flight costs the
//  optimizer and the store, and one job must not take the master over.
#define HPT_CLUSTER_DEFAULT_MAX_PARALLEL_TRIALS 1000

//  master.agentLostPolicy: what happens to the trials of a lost agent.
//  fail (the default): they fail ("agent lost"); requeue: they go back to
//  the queue, not counted as failed.
#define HPT_AGENT_LOST_POLICY_LIST(X)                                                              \
    X (HPT_AGENT_LOST_FAIL, "fail")                                                                \
    X (HPT_AGENT_LOST_REQUEUE, "requeue")
HPT_ENUM_DECLARE (hpt_agent_lost_policy, HPT_AGENT_LOST_POLICY_LIST)

//  The `master:` section, defaults filled in. Strings are owned by the
//  config and live as long as it does.
typedef struct {
    char *agents;                  //  ZeroMQ endpoint to bind: tcp://HOST:PORT or ipc://PATH
    char *api;                     //  HTTP API as written, HOST:PORT
    char *api_host;                //  its host part (brackets of an IPv6 literal removed)
    uint16_t api_port;             //  its port; 0 = let the system pick a free one
    char *state_dir;               //  SQLite database and logs, relative to the cwd
    int64_t heartbeat_interval_ms; //  heartbeat period, both ways
    int64_t agent_timeout_ms;      //  silence after which an agent is LOST
    int64_t stop_grace_ms;         //  SIGTERM to SIGKILL for stopped tasks
    hpt_agent_lost_policy_t agent_lost_policy; //  trials of a lost agent
    uint64_t seed;               //  base seed; a job's seed derives from it and its id
    int64_t max_agents;          //  most nodes registered at once (LOST ones count)
    int64_t max_parallel_trials; //  most trials in flight a job may ask for
    char *curve_cert;            //  security.curve.cert: the master's secret certificate, or NULL
    char *curve_agent_certs;     //  security.curve.agentCerts: admitted agents' public certificates
    bool insecure;               //  security.insecure: plaintext beyond loopback, accepted
    char *api_socket;      //  apiSocket: the API's Unix socket; NULL: STATEDIR/api.sock, "": none
    int64_t api_rate;      //  apiRequestsPerSecond: per remote client (bursts of twice that)
    char **api_host_names; //  apiHostNames: Host header values the API answers (NULL: defaults)
    size_t api_host_name_count; //  entries in api_host_names
    char *tls_cert;             //  tls.cert: the API's certificate (PEM), or NULL: plain HTTP
    char *tls_key;              //  tls.key: its key (PEM); set exactly when tls_cert is
} hpt_master_settings_t;

//  slurm.use: which trials run through Slurm. always: every trial;
//  overflow: only the trials that do not fit the registered agents now.
#define HPT_SLURM_USE_LIST(X)                                                                      \
    X (HPT_SLURM_USE_ALWAYS, "always")                                                             \
    X (HPT_SLURM_USE_OVERFLOW, "overflow")
HPT_ENUM_DECLARE (hpt_slurm_use, HPT_SLURM_USE_LIST)

//  The `slurm:` section (docs/slurm.md); present is false without one.
//  Strings are owned by the config.
typedef struct {
    bool present;            //  the file has a slurm: section
    char *partition;         //  --partition (required)
    char *account;           //  --account, or NULL
    char *qos;               //  --qos, or NULL
    char *reservation;       //  --reservation, or NULL
    char **sbatch_args;      //  more sbatch options, each "--name[=value]"
    size_t sbatch_arg_count; //  entries in sbatch_args
    char *agent_command;     //  hptagent's path on the compute nodes
    char *workdir;           //  node-local directory for the agents Slurm starts
    char *master;            //  the agents endpoint as the nodes reach it, or NULL: derived
    hpt_slurm_use_t use;     //  always or overflow
    int64_t max_jobs;        //  Slurm jobs submitted at once, at most
    int64_t poll_ms;         //  how often squeue is asked
    int64_t command_ms;      //  time limit of one sbatch/squeue/scancel
} hpt_slurm_settings_t;

typedef struct _hpt_cluster_config_t hpt_cluster_config_t;

//  Creates a configuration with every default (what an empty file gives).
//  The caller owns it.
hpt_cluster_config_t *hpt_cluster_config_new (void);

//  Destroys the configuration and nulls the pointer.
void hpt_cluster_config_destroy (hpt_cluster_config_t **self_p);

//  Reads cluster.yaml text. Returns the configuration (the caller owns
//  it) or NULL with every problem in diag (created by the caller with
//  hpt_diag_new (FILE, false)); never a partial configuration.
hpt_cluster_config_t *hpt_cluster_config_read_text (const char *text, size_t size,
                                                    hpt_diag_t *diag);

//  Reads a cluster.yaml file; a file that cannot be read is one problem
//  ("cannot open: ..."). Same ownership as read_text.
hpt_cluster_config_t *hpt_cluster_config_read_file (const char *path, hpt_diag_t *diag);

//  The configuration an operator's command names: path's, or every
//  default (hpt_cluster_config_new, exactly what an empty file gives) when
//  path is NULL (`hptmaster` without --cluster). Returns it (the caller
//  owns it) or NULL after printing the file's problems to stderr.
hpt_cluster_config_t *hpt_cluster_config_load (const char *path);

//  The master settings (borrowed; valid while the configuration lives).
const hpt_master_settings_t *hpt_cluster_config_master (hpt_cluster_config_t *self);

//  The slurm settings (borrowed; present is false without the section).
const hpt_slurm_settings_t *hpt_cluster_config_slurm (hpt_cluster_config_t *self);

//  The machine types and scale tiers, built-ins with the file's
//  definitions applied (borrowed; valid while the configuration lives).
hpt_machine_catalog_t *hpt_cluster_config_machines (hpt_cluster_config_t *self);

//  For a reload (SIGHUP): gives next the running configuration's values
//  of the settings that need a restart (master.agents, api, apiSocket,
//  stateDir, tls, security), so next can replace running at once.
//  Returns the field names next had changed, comma-separated (caller
//  frees), or NULL when it changed none of them. Everything else
//  (timing, agentLostPolicy, seed, maxAgents, apiRequestsPerSecond,
//  apiHostNames, machineTypes, scaleTiers) takes effect from next.
char *hpt_cluster_config_keep_fixed (hpt_cluster_config_t *next,
                                     const hpt_cluster_config_t *running);

//  Expands a validated job into the tasks of one trial cluster (master,
//  workers, ps, evaluators, each in index order) with their requests. See
//  hpt_machine_catalog_tasks for the contract: 0 and a fresh array
//  (free with hpt_task_specs_destroy) or -1 and error (HPT_E_INVALID)
//  naming the field, e.g. "trainingInput.workerType: unknown machine type
//  'foo'".
int hpt_cluster_config_tasks (hpt_cluster_config_t *self, hpt_job_t *job, hpt_task_spec_t **tasks,
                              size_t *count, hpt_error_t *error);

#endif
