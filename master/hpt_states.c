/*  hpt_states -- spellings of the lifecycle states (see hpt_states.h)
 */
#include "hpt_states.h"

HPT_ENUM_DEFINE (hpt_job_state, HPT_JOB_STATE_LIST)
HPT_ENUM_DEFINE (hpt_trial_state, HPT_TRIAL_STATE_LIST)
HPT_ENUM_DEFINE (hpt_task_state, HPT_TASK_STATE_LIST)
HPT_ENUM_DEFINE (hpt_host_state, HPT_HOST_STATE_LIST)
HPT_ENUM_DEFINE (hpt_drain_state, HPT_DRAIN_STATE_LIST)
HPT_ENUM_DEFINE (hpt_role, HPT_ROLE_LIST)
HPT_ENUM_DEFINE (hpt_slurm_state, HPT_SLURM_STATE_LIST)

bool
hpt_job_state_final (hpt_job_state_t state)
{
    return state == HPT_JOB_SUCCEEDED || state == HPT_JOB_FAILED || state == HPT_JOB_CANCELLED;
}

hpt_job_state_t
hpt_trial_state_public (hpt_trial_state_t state)
{
    switch (state) {
        case HPT_TRIAL_PENDING:
            return HPT_JOB_QUEUED;
        case HPT_TRIAL_PROVISIONING:
            return HPT_JOB_PREPARING;
        case HPT_TRIAL_SUCCEEDED:
            return HPT_JOB_SUCCEEDED;
        case HPT_TRIAL_FAILED:
            return HPT_JOB_FAILED;
        case HPT_TRIAL_CANCELLED:
            return HPT_JOB_CANCELLED;
        case HPT_TRIAL_RUNNING:
        case HPT_TRIAL_STOPPING:
        default:
            return HPT_JOB_RUNNING;
    }
}
