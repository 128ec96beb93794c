/*  hpt_resume -- merging a resumed job's spec (see hpt_resume.h)
 */
#include "hpt_resume.h"
#include "hpt_alloc.h"
#include <stdlib.h>
#include <string.h>

#define S_FIELD "trainingInput.hyperparameters."

//  The params lists of two specs, compared through their canonical JSON.
static bool
s_same_params (hpt_job_t *a, hpt_job_t *b)
{
    json_t *ja = hpt_job_to_json (a), *jb = hpt_job_to_json (b);
    json_t *pa = json_object_get (
        json_object_get (json_object_get (ja, "trainingInput"), "hyperparameters"), "params");
    json_t *pb = json_object_get (
        json_object_get (json_object_get (jb, "trainingInput"), "hyperparameters"), "params");
    bool same = json_equal (pa, pb);
    json_decref (ja);
    json_decref (jb);
    return same;
}

//  goal, metric tag and algorithm: inherited when left out, else equal.
static int
s_merge_scalars (hpt_hyperparameters_t *hp, hpt_hyperparameters_t *old, const char *id,
                 hpt_error_t *error)
{
    if (hp->goal == HPT_GOAL_UNSPECIFIED)
        hp->goal = old->goal;
    else if (hp->goal != old->goal)
        return hpt_error_set (error, HPT_E_INVALID,
                              S_FIELD "goal: %s conflicts with the resumed job %s (%s)",
                              hpt_goal_name (hp->goal), id, hpt_goal_name (old->goal));
    if (!hp->metric_tag)
        hp->metric_tag = hpt_strdup (old->metric_tag);
    else if (strcmp (hp->metric_tag, old->metric_tag) != 0)
        return hpt_error_set (error, HPT_E_INVALID,
                              S_FIELD "hyperparameterMetricTag: '%s' conflicts with the resumed "
                                      "job %s ('%s')",
                              hp->metric_tag, id, old->metric_tag);
    if (!hp->has_algorithm) {
        hp->algorithm = old->algorithm;
        hp->has_algorithm = true;
    } else if (hp->algorithm != old->algorithm)
        return hpt_error_set (
            error, HPT_E_INVALID, S_FIELD "algorithm: %s conflicts with the resumed job %s (%s)",
            hpt_algorithm_name (hp->algorithm), id, hpt_algorithm_name (old->algorithm));
    return 0;
}

int
hpt_resume_merge (hpt_job_t *spec, hpt_tuner_t *previous, hpt_error_t *error)
{
    hpt_hyperparameters_t *hp = spec->input.hyperparameters;
    const char *id = hp->resume_previous_job_id;
    if (!previous)
        return hpt_error_set (error, HPT_E_INVALID, S_FIELD "resumePreviousJobId: job %s not found",
                              id);
    if (!hpt_tuner_finished (previous))
        return hpt_error_set (error, HPT_E_INVALID,
                              S_FIELD "resumePreviousJobId: job %s is %s; only a finished job "
                                      "can be resumed",
                              id, hpt_job_state_name (hpt_tuner_state (previous)));
    hpt_hyperparameters_t *old = hpt_tuner_spec (previous)->input.hyperparameters;
    if (!old || !old->param_count)
        return hpt_error_set (error, HPT_E_INVALID,
                              S_FIELD "resumePreviousJobId: job %s was not a hyperparameter "
                                      "tuning job",
                              id);
    if (s_merge_scalars (hp, old, id, error)) return -1;
    if (hp->param_count == 0) {
        free (hp->params);
        hp->params = hpt_calloc (old->param_count, sizeof (hpt_param_spec_t));
        for (size_t i = 0; i < old->param_count; i++)
            hpt_param_spec_copy (&hp->params[i], &old->params[i]);
        hp->param_count = old->param_count;
        return 0;
    }
    if (!s_same_params (spec, hpt_tuner_spec (previous)))
        return hpt_error_set (error, HPT_E_INVALID,
                              S_FIELD "params: differ from the resumed job %s; leave them out to "
                                      "inherit them",
                              id);
    return 0;
}
