/*  hpt_resume -- resumePreviousJobId: a new job that goes on from a
    finished one

    The previous job must exist and be finished, and must have been a
    tuning job. goal, params, hyperparameterMetricTag and algorithm that
    the new spec leaves out are taken from it; a value the spec gives must
    agree with it (params: the same list), since the previous history only
    means something in the same space. The tuner then seeds its optimizer
    with the previous job's trials (hpt_tuner_seed_from).
*/
#ifndef HPT_RESUME_H_INCLUDED
#define HPT_RESUME_H_INCLUDED

#include "hpt_error.h"
#include "hpt_job.h"
#include "hpt_tuner.h"

//  Merges previous (the job spec->...resumePreviousJobId names, NULL when
//  there is none) into spec. Returns 0, or -1 with *error naming the field
//  and what is wrong (HPT_E_INVALID); spec is then unchanged or partly
//  merged, and should be dropped.
int hpt_resume_merge (hpt_job_t *spec, hpt_tuner_t *previous, hpt_error_t *error);

#endif
