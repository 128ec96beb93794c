/*  hpt_agent -- the agent service: one host's link to the master

    Registers with the master (HELLO with the host's resources and the
    tasks it still runs), heartbeats, launches the tasks the master asks for
    (hpt_launcher), streams their logs and metrics (hpt_hypertune) and
    reports their exits. Every event goes through the spool (hpt_spool)
    first, so nothing is lost while the master is away: tasks keep running,
    events wait on disk and are replayed after the next WELCOME.

    One zloop drives it all: the DEALER socket to the master, the
    launcher's descriptor, and timers for heartbeats, metric polling and
    re-registration with backoff.
*/
#ifndef HPT_AGENT_H_INCLUDED
#define HPT_AGENT_H_INCLUDED

#include "hpt_error.h"
#include "hpt_topology.h"
#include <stdint.h>

typedef struct {
    const char *master;            //  master's agents endpoint, tcp://HOST:PORT
    const char *name;              //  this agent's unique name
    const char *workdir;           //  tasks' directories, logs and the spool live here
    const char *advertise;         //  host name tasks are reached at (TF_CONFIG)
    int port_low;                  //  first port of the TF_CONFIG range
    int port_high;                 //  last port of the range
    double cpus;                   //  CPUs offered, 0 = what the topology has
    double memory_gb;              //  memory offered, < 0 = what the topology has
    hpt_topology_t *topology;      //  the host (borrowed; outlives the agent)
    const char *curve_public;      //  this agent's CURVE public key (Z85), NULL: plaintext
    const char *curve_secret;      //  its secret key (Z85)
    const char *master_key;        //  the master's public key (Z85): the only master spoken to
    const char *run_as;            //  user tasks run as (a job's runAs aside), NULL = the agent's
    const char *allow_run_as;      //  users a job's runAs may name, comma-separated, or NULL
    const char *container_runtime; //  command prefix of the container runtime,
                                   //  NULL = podman (hpt_container.h)
    const char *const *container_run_args; //  extra arguments for every container run,
                                           //  NULL-terminated, or NULL
    const char *cdi_dirs;                  //  CDI spec directories (':'), NULL = the usual
    const char *gpu_kind;                  //  CDI kind of the GPUs, NULL = nvidia.com/gpu
    const char *metrics_listen;            //  HOST:PORT of its /metrics, NULL = none
    int gpu_sample_ms;                     //  GPU samples' period, 0 = 5000; < 0: no GPU monitor
} hpt_agent_config_t;

typedef struct _hpt_agent_t hpt_agent_t;

//  Creates the agent (umask 077, workdir created with its modes, spool
//  opened, socket connected). config and its strings are copied except
//  topology. NULL with *error on failure (the workdir, spool or package
//  cache cannot be made or belong to another user, the master's endpoint
//  is not one; with run_as or allow_run_as: the agent is not root, or a
//  user does not exist or cannot reach the workdir's tasks/ and
//  packages/).
hpt_agent_t *hpt_agent_new (const hpt_agent_config_t *config, hpt_error_t *error);

//  Runs until SIGINT or SIGTERM (returns 0), or until the master refuses
//  registration for good (PROTOCOL.md §6.1, §7): -1 with *error
//  (HPT_E_FAILED_PRECONDITION, the master's reason and the versions it
//  speaks).
int hpt_agent_run (hpt_agent_t *self, hpt_error_t *error);

//  Destroys the agent: its tasks are killed (they never outlive it) and
//  the pointer nulled.
void hpt_agent_destroy (hpt_agent_t **self_p);

#endif
