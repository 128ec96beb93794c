/*  hpt_slurm_runner -- Slurm's commands, run off the master's loop

    sbatch, squeue, scontrol and scancel talk to slurmctld, which can be
    slow or gone: a call can take seconds or hang. The master's loop must
    never wait for one, so they run here, in an actor thread, one at a
    time, each as a child process with a time limit. The core sends a
    request on the actor's pipe and reads the reply in its loop (a zloop
    reader), like any other event.

    Request (frames, all strings): TAG, TIMEOUT_MS, STDIN, ARGV0, ARGV1...
    Reply: TAG, STATUS, STDOUT, STDERR, where STATUS is the exit code
    ("0".."255"), "signal N", "timeout" (killed, with its process group,
    at the limit) or "error" (it could not be started; STDERR says why).
    STDOUT and STDERR keep at most HPT_SLURM_RUNNER_OUTPUT_MAX bytes each
    (the rest is read and dropped), so no command can make the master
    allocate without bound.

    Invariants: at most one child at a time; a child is always waited
    for; destroying the actor kills a running child's process group.
*/
#ifndef HPT_SLURM_RUNNER_H_INCLUDED
#define HPT_SLURM_RUNNER_H_INCLUDED

#include <czmq.h>

#define HPT_SLURM_RUNNER_OUTPUT_MAX (1024 * 1024)

//  The actor (zactor_new (hpt_slurm_runner_actor, NULL)).
void hpt_slurm_runner_actor (zsock_t *pipe, void *args);

//  A request, to send on the actor's pipe (the caller owns it): argv is
//  NULL-terminated; stdin_text may be NULL.
zmsg_t *hpt_slurm_runner_request (const char *tag, int64_t timeout_ms, const char *stdin_text,
                                  const char *const *argv);

#endif
