/*  hpt_core_private -- the core's state and the operations its
    subsystems share

    The master's core is one object split by concern, in the manner of
    Redis's server.h: hpt_core.c (the loop, transactions, scheduling,
    timers, jobs and nodes for the API), hpt_agent_link.c (the master's
    side of HPT/2: registration, reconciliation, events),
    hpt_core_reload.c (SIGHUP: cluster.yaml read again) and hpt_slurm.c
    (trials as Slurm jobs). They include this header; nothing else does.

    Transactions: every handler that changes state runs between
    hpt_core_begin and hpt_core_commit. In between, it changes memory and
    the store together, and queues what must happen once the change is
    durable (messages to agents: hpt_core_post; Slurm commands:
    hpt_slurm.c's outbox). hpt_core_commit sends the queue when the
    commit succeeds; when it fails, it drops the queue and
    rebuilds from the store what the transaction changed in memory (see
    "Failed commits" in hpt_core.c).
*/
#ifndef HPT_CORE_PRIVATE_H_INCLUDED
#define HPT_CORE_PRIVATE_H_INCLUDED

#include "hpt_admission.h"
#include "hpt_api.h"
#include "hpt_core.h"
#include "hpt_fleet.h"
#include "hpt_master_metrics.h"
#include "hpt_joblog.h"
#include "hpt_msg.h"
#include "hpt_suggester.h"
#include "hpt_textcache.h"

//  Where a task id leads.
typedef struct {
    hpt_tuner_t *tuner; //  its job
    hpt_trial_t *trial; //  its trial
    hpt_task_t *task;   //  the task
} hpt_task_ref_t;

//  A Slurm job of a trial (hpt_slurm.c): the store's slurm_jobs row, in
//  memory.
typedef struct {
    char *name;              //  its --job-name; its agents are NAME.KofN
    char *job_id;            //  the hpt job
    int64_t trial_id;        //  the trial it runs
    char *slurm_id;          //  Slurm's job id, NULL until sbatch answered
    int64_t tasks;           //  tasks of the trial
    hpt_slurm_state_t state; //  see hpt_states.h
    int64_t created;         //  when it was stored (epoch ms)
    char *agent_key;         //  public key (Z85) of its agents, NULL without CURVE
    char *pending;           //  Slurm's pending reason last logged, or NULL
    bool busy;               //  a command about it is in flight
    char *killed_task;       //  a task a signal killed, kept until Slurm says why, or NULL
    int killed_signal;       //  that signal
    bool recheck;            //  ask scontrol again at the next poll (it was COMPLETING)
    int rechecks;            //  times it was asked again
} hpt_slurm_job_t;

//  An agent frame read from the socket ahead of its handling (hpt_core.c,
//  "Frames' wait").
typedef struct {
    hpt_msg_t *msg;   //  decoded (owned)
    int64_t since_us; //  zclock_usecs of the socket last seen empty before it was read
} hpt_core_frame_t;

struct _hpt_core_t {
    hpt_cluster_config_t *config;          //  borrowed
    const hpt_master_settings_t *settings; //  borrowed from config
    hpt_store_t *store;                    //  the durable state
    hpt_joblog_t *joblog;                  //  the jobs' logs
    zloop_t *loop;                         //  the reactor
    zsock_t *agents;                       //  ROUTER for agents
    hpt_admission_t *admission;            //  admitted agent keys (CURVE), NULL without
    zactor_t *handshakes;                  //  monitor of the agents socket's handshakes (CURVE)
    uint64_t handshake_failures[3];        //  failed handshakes: auth, protocol, other
    int64_t last_handshake_log;            //  when one was last logged (ms)
    char *agents_endpoint;                 //  what it is bound to
    zsock_t *api_router;                   //  ROUTER for the HTTP thread
    hpt_api_t *api;                        //  the HTTP server
    hpt_api_t *api_socket;                 //  the same on a Unix socket (trusted callers), or NULL
    hpt_tuner_t **tuners;                  //  every job, submission order
    hpt_suggester_t *suggester;            //  computes suggestions off the loop
    size_t tuner_count;                    //  entries in tuners
    size_t tuner_cap;                      //  allocated
    hpt_fleet_t *fleet;                    //  every node
    zhashx_t *tasks;                       //  task id -> hpt_task_ref_t (owned)
    int64_t started;                       //  epoch ms of start
    int64_t epoch;                         //  this run of the master (WELCOME)
    uint64_t dropped;                      //  agent messages dropped
    zhashx_t *dropped_by_kind;             //  kind -> count (uint64_t *, owned)
    int64_t last_drop_log;                 //  when a drop was last logged (ms)
    zhashx_t *refused_at;                  //  routing id hex -> ms of the last NOT_REGISTERED
    int64_t fd_refusal_logged;             //  when a fd_limit refusal was last logged (ms)
    uint64_t fd_refusals_unlogged;         //  fd_limit refusals since that line
    int64_t fds_counted;                   //  descriptors open at the last count
    int64_t fds_counted_at;                //  when that was (zclock_mono; 0: never)
    int64_t fds_let_in;                    //  new agents let in since (a descriptor each)
    zlistx_t *outbox;                      //  messages to send once the transaction commits
    zhashx_t *log_bytes;            //  job id -> its log's length, written in the transaction
    zlistx_t *node_undo;            //  nodes as they were before the transaction
    bool store_ok;                  //  false from a failed commit until a probe works
    char *store_problem;            //  why the store failed last
    uint64_t commit_failures;       //  commits that failed
    int64_t last_store_log;         //  when a store failure was last logged (ms)
    hpt_textcache_t *answers;       //  rendered Jobs by job id and version
    hpt_session_t *sessions;        //  the web console's sign-in sessions
    int64_t busy_max_us;            //  the longest one event held the loop
    int64_t silence_max_ms;         //  the longest a READY agent went unheard
    bool grouping;                  //  agent frames are being handled as one group commit
    bool group_schedule;            //  one of them asked for a scheduling round
    int64_t agents_empty_at;        //  zclock_usecs when the agents' socket was last seen empty
    bool agents_idle;               //  socket and backlog were empty when the last handler ended
    hpt_core_frame_t *backlog;      //  agent frames read and not yet handled: a ring, S_BACKLOG_MAX
    size_t backlog_head;            //  the oldest one's index
    size_t backlog_count;           //  how many it holds
    bool backlog_timer;             //  a zero-delay timer will handle more of it
    int64_t frame_wait_max_us;      //  the longest an agent frame waited (a bound)
    hpt_master_metrics_t *metrics;  //  what /metrics shows
    char *config_path;              //  cluster.yaml, re-read on SIGHUP; NULL: no reloads
    hpt_cluster_config_t *reloaded; //  the configuration in force after a reload (owned)
    int heartbeat_timer;            //  the heartbeat timer's id (re-armed by a reload)
    int sighup_fd;                  //  signalfd of SIGHUP, or -1
    int stop_fd;                    //  eventfd SIGTERM and SIGINT wake the loop with, or -1
    bool reload_requested;          //  SIGHUP came: reload at the next heartbeat round
    int64_t last_round;             //  monotonic ms of the last heartbeat round, 0 before the first
    uint64_t stalls;                //  heartbeat rounds that found the loop had been held
    int64_t stalled_ms;             //  time the loop was held past a round's due time, in all
    uint64_t agents_lost;           //  agents declared LOST since the master started
    uint64_t rounds_behind;         //  heartbeat rounds that could not empty the agents' queue
    const hpt_slurm_settings_t *slurm; //  slurm: settings (borrowed), NULL without the section
    zhashx_t *slurm_jobs;              //  name -> hpt_slurm_job_t (owned)
    zactor_t *slurm_runner;            //  runs Slurm's commands off the loop
    zlistx_t *slurm_outbox;            //  requests (zmsg_t) to send once the transaction commits
    size_t slurm_in_flight;            //  requests sent and not answered
    bool slurm_polling;                //  a squeue is among them
    char *slurm_prefix;                //  "hpt-SITE-": this master's Slurm job names
    char *slurm_master;                //  the agents endpoint as compute nodes reach it
    char *slurm_master_key;            //  the master's public key (Z85), NULL without CURVE
    bool slurm_sizing;                 //  a sinfo is in flight
    int64_t slurm_sized_at;            //  when sinfo last answered (ms), 0: never
    int64_t slurm_node_cpus;           //  the partition's largest node: CPUs
    int64_t slurm_node_memory_mb;      //  its memory (the largest of any node)
    int64_t slurm_node_gpus;           //  its GPUs (GRES gpu, the most of any node)
};

int64_t hpt_core_now (void);

//  ---------------------------------------------------------------- transactions

//  Opens a transaction (inside a group commit of agent frames: joins the
//  group's). -1 when the store cannot be written (it failed and has not
//  come back): the caller then changes nothing.
int hpt_core_begin (hpt_core_t *self);

//  Commits; then sends what was posted. On failure, rolls back, rebuilds
//  memory from the store and marks the store failed. Returns 0 or -1.
//  Inside a group commit, returns 0 at once: the group commits (or fails,
//  putting everything back) when its last frame was handled.
int hpt_core_commit (hpt_core_t *self);

//  Queues msg (taken) for node, to be sent when the open transaction
//  commits. A message that breaks the protocol is logged and dropped.
void hpt_core_post (hpt_core_t *self, hpt_host_t *node, hpt_msg_t **msg_p);

//  Sends msg (taken) to node now: for what changes no state (heartbeats,
//  ACKs of replays, errors).
void hpt_core_send_now (hpt_core_t *self, hpt_host_t *node, hpt_msg_t **msg_p);

//  Sends *msg_p (destroyed) to the connection routing_id, node or not; a
//  send that fails (the connection is gone, its queue is full) is dropped
//  and counted (hpt_proto_dropped_total kind send_unroutable, send_full).
void hpt_core_send_to (hpt_core_t *self, zframe_t *routing_id, hpt_msg_t **msg_p);

//  Records node's durable fields before the transaction changes them
//  (once per node per transaction), so a failed commit can put them back;
//  created: the transaction added the node (a failed commit removes it).
void hpt_core_touch_node (hpt_core_t *self, hpt_host_t *node, bool created);

//  Writes one of hpt's events to the job's log (inside a transaction).
void hpt_core_log_event (hpt_core_t *self, hpt_tuner_t *tuner, hpt_trial_t *trial,
                         const char *text);

//  Notes the length of job_id's log after a write of the transaction.
void hpt_core_log_written (hpt_core_t *self, const char *job_id, int64_t bytes);

//  ---------------------------------------------------------------- tasks and nodes

//  The task called task_id, or NULL.
hpt_task_ref_t *hpt_core_task (hpt_core_t *self, const char *task_id);

//  An event handler begins: returns the time (zclock_usecs) to give
//  hpt_core_busy at its end. Every handler on the loop calls both, so the
//  agent frames' wait can be bounded ("Frames' wait" in hpt_core.c).
int64_t hpt_core_wake (hpt_core_t *self);

//  An event handler that began at start_us (hpt_core_wake) is done: keeps
//  the longest time one held the loop (/metrics), and logs what held it
//  for a second or more.
void hpt_core_busy (hpt_core_t *self, int64_t start_us, const char *what);

//  Counts and (at most once a second) logs an agent message dropped for
//  kind (PROTOCOL.md §8).
void hpt_core_drop (hpt_core_t *self, const char *kind);

//  A task ended: releases what it holds, lets the tuner decide, stops
//  what must be stopped.
void hpt_core_task_ended (hpt_core_t *self, hpt_task_ref_t *ref, const hpt_task_exit_t *exit);

//  A task that runs was lost with its agent: agentLostPolicy decides
//  (fail: the task ends failed with reason; requeue: its trial runs again,
//  not counted failed).
void hpt_core_task_lost (hpt_core_t *self, hpt_task_ref_t *ref, const char *reason);

//  Sends the LAUNCH of a placed task (queued until commit). A task that
//  cannot be described to its trainer ends failed instead.
void hpt_core_launch (hpt_core_t *self, hpt_task_ref_t *ref);

//  Marks node LOST and applies agentLostPolicy to its tasks.
void hpt_core_node_lost (hpt_core_t *self, hpt_host_t *node, const char *why);

//  Places and launches what can start now (inside a transaction; inside a
//  group commit, once at its end).
void hpt_core_schedule (hpt_core_t *self);

//  SIGHUP: reads config_path again and applies what may change live
//  (hpt_core_reload.c).
void hpt_core_reload_config (hpt_core_t *self);

//  (Re)arms the heartbeat timer at the settings' interval.
void hpt_core_arm_heartbeat (hpt_core_t *self);

//  The next frame on the agents socket, decoded (caller owns), or NULL
//  when it was malformed (counted and dropped; the sender is told) or the
//  read was interrupted (hpt_agent_link.c).
hpt_msg_t *hpt_agent_link_recv (hpt_core_t *self);

//  msg was just read: a READY, admitted agent sent it, so it is heard now
//  (liveness by arrival). Returns whether msg may be handled at once,
//  ahead of the frames read before it: a HEARTBEAT of such an agent,
//  which writes nothing to the store and nothing an earlier frame could
//  change.
bool hpt_agent_link_arrived (hpt_core_t *self, hpt_msg_t *msg);

//  Handles one agent frame (taken): HELLO, the events, BYE, HEARTBEAT.
void hpt_agent_link_handle (hpt_core_t *self, hpt_msg_t *msg);

//  A READY node said something: notes how long it had been silent (for
//  /metrics) and that it was seen now.
void hpt_core_heard (hpt_core_t *self, hpt_host_t *node);

//  ---------------------------------------------------------------- Slurm (hpt_slurm.c)

//  Starts the Slurm engine when cluster.yaml has slurm: (loads its jobs
//  from the store, starts the command runner, registers its reader and
//  poll timer). 0, or -1 with *error.
int hpt_slurm_start (hpt_core_t *self, hpt_error_t *error);

//  Stops it (kills a command in flight) and frees its memory.
void hpt_slurm_stop (hpt_core_t *self);

//  Whether trial should go to Slurm now: use always, or use overflow and
//  the registered agents cannot place it (placed: what the scheduler
//  said).
bool hpt_slurm_wanted (hpt_core_t *self, bool placed);

//  Submits trial (PENDING, just returned by hpt_tuner_next_trial) as a
//  Slurm job, inside the open transaction: stores the job, makes the
//  trial PROVISIONING with its tasks unplaced, and queues sbatch for the
//  commit. Returns false when slurm.maxJobs are submitted (nothing
//  changed: the trial stays PENDING) or the store refused.
bool hpt_slurm_submit (hpt_core_t *self, hpt_tuner_t *tuner, hpt_trial_t *trial);

//  NULL when the partition (as sinfo last described it) has a node that
//  can hold one Slurm task of this job's trials, or nothing is known yet;
//  otherwise why not (the caller frees it).
char *hpt_slurm_infeasible (hpt_core_t *self, const hpt_task_request_t *requests, size_t count);

//  Whether node is one of the agents a Slurm job started (those run only
//  their own trial).
bool hpt_slurm_owns_node (hpt_core_t *self, const char *name);

//  node, an agent of a running Slurm job, was lost: asks Slurm how the
//  job is (its answer ends the trial with Slurm's reason) and returns
//  true; false for any other node.
bool hpt_slurm_agent_lost (hpt_core_t *self, hpt_host_t *node);

//  A task on a Slurm job's agent was killed by a signal hpt did not send
//  (Slurm signals the whole job when it cancels, times out or preempts
//  it): asks Slurm how the job is, and returns true; the task's end then
//  waits for the answer (Slurm's state, or the signal when the job still
//  runs). False for any other task.
bool hpt_slurm_task_killed (hpt_core_t *self, hpt_task_ref_t *ref, const hpt_task_exit_t *exit);

//  Inside a transaction (hpt_core_schedule runs it first): places trials
//  whose Slurm agents have all registered, ends trials stopped before
//  their Slurm job ran, and ends the Slurm jobs of finished trials.
void hpt_slurm_sweep (hpt_core_t *self);

//  After a commit: sends the queued requests (ok) or drops them and
//  rebuilds the Slurm jobs from the store (a failed commit).
void hpt_slurm_committed (hpt_core_t *self, bool ok);

#endif
