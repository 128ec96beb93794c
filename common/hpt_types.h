/*  hpt_types -- small enums of the job spec that several classes share

    The optimizer needs the goal and the algorithm without the whole job
    model; the job model owns the spellings (hpt_job.c maps them to and from
    the REST enum strings).
*/
#ifndef HPT_TYPES_H_INCLUDED
#define HPT_TYPES_H_INCLUDED

typedef enum {
    HPT_GOAL_UNSPECIFIED = 0, //  only while resuming: taken from the previous job
    HPT_GOAL_MAXIMIZE,
    HPT_GOAL_MINIMIZE,
} hpt_goal_t;

typedef enum {
    HPT_ALGORITHM_UNSPECIFIED = 0, //  ALGORITHM_UNSPECIFIED = Bayesian optimization
    HPT_ALGORITHM_GRID_SEARCH,
    HPT_ALGORITHM_RANDOM_SEARCH,
} hpt_algorithm_t;

#endif
