/*  hpt_scheduler -- gang placement of trial clusters on nodes

    A trial starts only when every one of its tasks has a place: the
    scheduler reserves tentatively task by task and rolls everything back
    if one task does not fit, so nothing is ever held half-placed.

    For each task, nodes are tried in the order given (the core passes
    them sorted by name, so placement is deterministic). A node fits when
    it is schedulable (connected, not drained) and has the CPUs, memory
    and accelerators free. A task's GPUs are the best-connected free set
    (NVLink, then one PCIe switch, ..., then one NUMA node, then across
    sockets) that leaves the node's other free GPUs least fragmented
    (hpt_gpu_place); a MIG type is one instance, on the GPU with the fewest
    free instances. The task's CPUs are then bound to free cores local to
    them. A TPU task takes every TPU of its host.
    Every task also gets a port from its node's range for TF_CONFIG, one
    that no task on another node advertising the same host address holds
    (two agents on one machine share its ports).

    The placement is written to task->placement as
    {"host": H, "port": P, "cores": [..], "gpus": [..], "tpus": [..],
     "migs": [..] (only when it holds a MIG instance)}
    (indices as the agent numbers them) and task->agent names the node.
*/
#ifndef HPT_SCHEDULER_H_INCLUDED
#define HPT_SCHEDULER_H_INCLUDED

#include "hpt_host.h"
#include "hpt_tuner.h"

//  Places every task of trial on nodes (borrowed array of count). Returns
//  true and reserves on success; false leaves everything as it was.
bool hpt_scheduler_place (hpt_host_t **nodes, size_t count, hpt_trial_t *trial);

//  Releases what task holds on node (after its process exited).
void hpt_scheduler_release (hpt_host_t *node, hpt_task_t *task);

//  Re-reserves what a stored placement holds (after a master restart).
void hpt_scheduler_restore (hpt_host_t *node, hpt_task_t *task);

//  NULL when every request fits on some node's whole capacity (ignoring
//  what is in use and drains); otherwise a message naming the first task
//  that can never fit and what it lacks. The caller frees the message.
char *hpt_scheduler_infeasible (hpt_host_t **nodes, size_t count,
                                const hpt_task_request_t *requests, size_t request_count);

#endif
