/*  hpt_core_private -- the core's state and the operations its
    subsystems share

    The master's core is one object split by concern, in the manner of
    Redis's server.h: hpt_core.c (the loop, transactions, scheduling,
    timers, jobs and nodes for the API), hpt_agent_link.c (the master's
    side of HPT/2: registration, reconciliation, events) and
    hpt_core_reload.c (SIGHUP: cluster.yaml read again). They include
    this header; nothing else does.

    Transactions: every handler that changes state runs between
    hpt_core_begin and hpt_core_commit. In between, it changes memory and
    the store together, and queues what must happen once the change is
    durable (messages to agents: hpt_core_post). hpt_core_commit sends the
    queue when the commit succeeds; when it fails, it drops the queue and
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
#include "hpt_textcache.h"

//  Where a task id leads.
typedef struct {
    hpt_tuner_t *tuner; //  its job
    hpt_trial_t *trial; //  its trial
    hpt_task_t *task;   //  the task
} hpt_task_ref_t;

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
    hpt_master_metrics_t *metrics;  //  what /metrics shows
    char *config_path;              //  cluster.yaml, re-read on SIGHUP; NULL: no reloads
    hpt_cluster_config_t *reloaded; //  the configuration in force after a reload (owned)
    int heartbeat_timer;            //  the heartbeat timer's id (re-armed by a reload)
    int sighup_fd;                  //  signalfd of SIGHUP, or -1
    bool reload_requested;          //  SIGHUP came: reload at the next heartbeat round
    int64_t last_round;             //  monotonic ms of the last heartbeat round, 0 before the first
    uint64_t stalls;                //  heartbeat rounds that found the loop had been held
    int64_t stalled_ms;             //  time the loop was held past a round's due time, in all
    uint64_t agents_lost;           //  agents declared LOST since the master started
    uint64_t rounds_behind;         //  heartbeat rounds that could not empty the agents' queue
};

int64_t hpt_core_now (void);

//  ---------------------------------------------------------------- transactions

//  Opens a transaction. -1 when the store cannot be written (it failed
//  and has not come back): the caller then changes nothing.
int hpt_core_begin (hpt_core_t *self);

//  Commits; then sends what was posted. On failure, rolls back, rebuilds
//  memory from the store and marks the store failed. Returns 0 or -1.
int hpt_core_commit (hpt_core_t *self);

//  Queues msg (taken) for node, to be sent when the open transaction
//  commits. A message that breaks the protocol is logged and dropped.
void hpt_core_post (hpt_core_t *self, hpt_host_t *node, hpt_msg_t **msg_p);

//  Sends msg (taken) to node now: for what changes no state (heartbeats,
//  ACKs of replays, errors).
void hpt_core_send_now (hpt_core_t *self, hpt_host_t *node, hpt_msg_t **msg_p);

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

//  Places and launches what can start now (inside a transaction).
void hpt_core_schedule (hpt_core_t *self);

//  SIGHUP: reads config_path again and applies what may change live
//  (hpt_core_reload.c).
void hpt_core_reload_config (hpt_core_t *self);

//  (Re)arms the heartbeat timer at the settings' interval.
void hpt_core_arm_heartbeat (hpt_core_t *self);

//  The agent socket's reader (hpt_agent_link.c).
int hpt_agent_link_on_message (zloop_t *loop, zsock_t *reader, void *arg);

//  A READY node said something: notes how long it had been silent (for
//  /metrics) and that it was seen now.
void hpt_core_heard (hpt_core_t *self, hpt_host_t *node);

#endif
