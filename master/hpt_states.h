/*  hpt_states -- the lifecycle states of jobs, trials, tasks and nodes

    One definition of each (hpt_enum.h): the values the master's state
    machines use, and the spellings the store writes in its columns and the
    REST API shows. Nothing else spells a state.

    Job:   QUEUED -> PREPARING (first trial placed) -> RUNNING (a task
           started) -> SUCCEEDED | FAILED | CANCELLING -> CANCELLED
    Trial: PENDING -> PROVISIONING (placed, LAUNCH sent) -> RUNNING ->
           SUCCEEDED | FAILED | STOPPING -> SUCCEEDED (stopped early) |
           CANCELLED
    Task:  LAUNCHING -> RUNNING -> STOPPING -> EXITED
    Node:  READY (connected), DISCONNECTED (known from the store, not yet
           back after a master restart), LOST (silent past the timeout)
    Drain: NONE, DRAINING (no new tasks; some still run), DRAINED

    And the one other spelled set the store keeps: the roles of API users
    (docs/security.md): viewer reads, user also submits and changes its
    own jobs, admin does everything.
*/
#ifndef HPT_STATES_H_INCLUDED
#define HPT_STATES_H_INCLUDED

#include "hpt_enum.h"
#include <stdbool.h>

#define HPT_JOB_STATE_LIST(X)                                                                      \
    X (HPT_JOB_QUEUED, "QUEUED")                                                                   \
    X (HPT_JOB_PREPARING, "PREPARING")                                                             \
    X (HPT_JOB_RUNNING, "RUNNING")                                                                 \
    X (HPT_JOB_SUCCEEDED, "SUCCEEDED")                                                             \
    X (HPT_JOB_FAILED, "FAILED")                                                                   \
    X (HPT_JOB_CANCELLING, "CANCELLING")                                                           \
    X (HPT_JOB_CANCELLED, "CANCELLED")
HPT_ENUM_DECLARE (hpt_job_state, HPT_JOB_STATE_LIST)

#define HPT_TRIAL_STATE_LIST(X)                                                                    \
    X (HPT_TRIAL_PENDING, "PENDING")                                                               \
    X (HPT_TRIAL_PROVISIONING, "PROVISIONING")                                                     \
    X (HPT_TRIAL_RUNNING, "RUNNING")                                                               \
    X (HPT_TRIAL_SUCCEEDED, "SUCCEEDED")                                                           \
    X (HPT_TRIAL_FAILED, "FAILED")                                                                 \
    X (HPT_TRIAL_STOPPING, "STOPPING")                                                             \
    X (HPT_TRIAL_CANCELLED, "CANCELLED")
HPT_ENUM_DECLARE (hpt_trial_state, HPT_TRIAL_STATE_LIST)

#define HPT_TASK_STATE_LIST(X)                                                                     \
    X (HPT_TASK_LAUNCHING, "LAUNCHING")                                                            \
    X (HPT_TASK_RUNNING, "RUNNING")                                                                \
    X (HPT_TASK_STOPPING, "STOPPING")                                                              \
    X (HPT_TASK_EXITED, "EXITED")
HPT_ENUM_DECLARE (hpt_task_state, HPT_TASK_STATE_LIST)

#define HPT_HOST_STATE_LIST(X)                                                                     \
    X (HPT_HOST_READY, "READY")                                                                    \
    X (HPT_HOST_DISCONNECTED, "DISCONNECTED")                                                      \
    X (HPT_HOST_LOST, "LOST")
HPT_ENUM_DECLARE (hpt_host_state, HPT_HOST_STATE_LIST)

#define HPT_DRAIN_STATE_LIST(X)                                                                    \
    X (HPT_DRAIN_NONE, "NONE")                                                                     \
    X (HPT_DRAIN_DRAINING, "DRAINING")                                                             \
    X (HPT_DRAIN_DRAINED, "DRAINED")
HPT_ENUM_DECLARE (hpt_drain_state, HPT_DRAIN_STATE_LIST)

//  A Slurm job of a trial (docs/slurm.md): SUBMITTING (stored, sbatch
//  not answered yet), QUEUED (Slurm has it; its agents have not all
//  registered), PLACED (the trial's tasks were placed on its agents),
//  ENDING (hpt cancels it: its trial ended, or it was never recorded).
#define HPT_SLURM_STATE_LIST(X)                                                                    \
    X (HPT_SLURM_SUBMITTING, "SUBMITTING")                                                         \
    X (HPT_SLURM_QUEUED, "QUEUED")                                                                 \
    X (HPT_SLURM_PLACED, "PLACED")                                                                 \
    X (HPT_SLURM_ENDING, "ENDING")
HPT_ENUM_DECLARE (hpt_slurm_state, HPT_SLURM_STATE_LIST)

#define HPT_ROLE_LIST(X)                                                                           \
    X (HPT_ROLE_VIEWER, "viewer")                                                                  \
    X (HPT_ROLE_USER, "user")                                                                      \
    X (HPT_ROLE_ADMIN, "admin")
HPT_ENUM_DECLARE (hpt_role, HPT_ROLE_LIST)

//  The state a trial shows as trials[].state in the REST API, whose enum
//  is the job states' (AI Platform's HyperparameterOutput): PENDING is
//  QUEUED, PROVISIONING is PREPARING, and STOPPING is RUNNING (the
//  trainer runs until it exits). hpt's own state is shown as hptState.
hpt_job_state_t hpt_trial_state_public (hpt_trial_state_t state);

//  A job in one of its end states (SUCCEEDED, FAILED, CANCELLED).
bool hpt_job_state_final (hpt_job_state_t state);

#endif
