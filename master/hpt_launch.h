/*  hpt_launch -- the LAUNCH message of one task of a placed trial

    A pure function of the job, the trial and the placement: the trainer's
    argv (command or `python3 -m MODULE`, args, --job-dir, one
    --NAME=VALUE per hyperparameter), its environment (the job's env, then
    TF_CONFIG, CLUSTER_SPEC, CLOUD_ML_* and HPT_*, which the job's env
    cannot override), the cores, GPUs and TPU chips it was given (the agent
    sets the accelerator visibility variables from them: it knows its
    devices), its metric tag and stdout collector. It
    reads no clock, no socket and no store, so it is tested on its own and
    a master restarted from the store rebuilds the same message
    (docs/trainer-contract.md is the contract it implements).
*/
#ifndef HPT_LAUNCH_H_INCLUDED
#define HPT_LAUNCH_H_INCLUDED

#include "hpt_error.h"
#include "hpt_job.h"
#include "hpt_msg.h"
#include "hpt_tuner.h"

//  The LAUNCH of task (one of trial's tasks; every task of trial placed:
//  agent and placement {host, port, cores, gpus, tpus} set). Returns a new
//  message (the caller owns it), or
//  NULL with *error when the trial cannot be described to its trainer
//  (HPT_E_INVALID: e.g. a placement without host or port, or a message
//  over the protocol's bounds).
hpt_msg_t *hpt_launch_build (hpt_job_t *spec, hpt_trial_t *trial, hpt_task_t *task,
                             hpt_error_t *error);

#endif
