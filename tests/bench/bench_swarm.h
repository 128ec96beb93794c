/*  bench_swarm -- many fake agents in one thread, for hpt-bench agents

    A swarm is N agents, each one DEALER socket that speaks HPT/2 through
    the project's codec (proto/hpt_msg) the way hptagent does: HELLO with
    a resource document (cpus CPUs, no accelerators) and backoff until
    WELCOME, HEARTBEAT every heartbeatMs, numbered events kept until
    ACKed and sent again after every WELCOME, HELLO again on ERROR
    NOT_REGISTERED, and REJECT's retryMs. No process runs: a LAUNCH is a
    pretend task that sends TASK_STARTED at once and, trial_ms later,
    METRICS (tag "m", the value of bench_swarm_objective on the trial's
    --NAME=VALUE arguments) then TASK_EXITED with exit code 0. A STOP ends
    it with SIGTERM.

    The swarm runs in a zactor; its counters are read with
    bench_swarm_stats, which asks the actor (nothing is shared). An agent
    counts as lost when the master answers it NOT_REGISTERED after it had
    been welcomed: the master gave it up (or restarted).
*/
#ifndef BENCH_SWARM_H_INCLUDED
#define BENCH_SWARM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _bench_swarm_t bench_swarm_t;

typedef struct {
    int count;          //  agents
    const char *master; //  the master's agents endpoint (tcp://...)
    int cpus;           //  CPUs each agent offers
    int64_t trial_ms;   //  how long a pretend task runs
    const char *prefix; //  agent names are PREFIX-00001 ...
    int64_t connect_ms; //  agents connect spread over this long (0: all at once)
} bench_swarm_config_t;

typedef struct {
    int registered;          //  agents welcomed at least once
    int ready;               //  agents registered now
    int lost;                //  agents the master gave up on after welcoming them
    uint64_t welcomes;       //  WELCOMEs received (re-registrations included)
    uint64_t not_registered; //  ERROR NOT_REGISTERED received
    uint64_t rejects;        //  REJECTs received
    uint64_t launches;       //  LAUNCHes received
    uint64_t exits;          //  TASK_EXITED sent (first sends)
    uint64_t sent;           //  messages sent
    uint64_t received;       //  messages received
    double ack_p50_ms;       //  event sent -> its ACK, since the last reset
    double ack_p99_ms;
    double ack_max_ms;
    size_t ack_samples;
    double master_silence_max_ms; //  longest a registered agent heard nothing from the master
} bench_swarm_stats_t;

//  Starts the swarm (its agents connect at once, or spread over
//  connect_ms). config is copied. NULL when the thread does not start.
bench_swarm_t *bench_swarm_new (const bench_swarm_config_t *config);

//  Stops every agent (no BYE: they just go) and nulls the pointer.
void bench_swarm_destroy (bench_swarm_t **self_p);

//  The counters now.
void bench_swarm_stats (bench_swarm_t *self, bench_swarm_stats_t *stats);

//  Clears the ACK latency samples and the longest master silence, so that
//  the next stats cover what happens from now on.
void bench_swarm_reset (bench_swarm_t *self);

//  The objective a pretend trial reports for parameters x0..x3 in [0, 1]
//  (the job of hpt-bench agents): a smooth bowl with its minimum 0 at
//  x_j = 0.2 + 0.15 j.
double bench_swarm_objective (const double *x, size_t count);

#endif
