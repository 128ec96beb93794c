/*  hpt_types -- small enums of the job spec that several classes share

    The optimizer needs the goal and the algorithm, and the master's
    early-stopping rules the rule, without the whole job model. Each is one
    hpt_enum list: the spellings are the REST API's (goal, algorithm) and
    the job config's (earlyStopping.rule), defined once in hpt_types.c.
*/
#ifndef HPT_TYPES_H_INCLUDED
#define HPT_TYPES_H_INCLUDED

#include "hpt_enum.h"

//  HyperparameterSpec.goal. UNSPECIFIED only while resuming (taken from
//  the previous job); a config may not name it.
#define HPT_GOAL_LIST(X)                                                                           \
    X (HPT_GOAL_UNSPECIFIED, "GOAL_TYPE_UNSPECIFIED")                                              \
    X (HPT_GOAL_MAXIMIZE, "MAXIMIZE")                                                              \
    X (HPT_GOAL_MINIMIZE, "MINIMIZE")
HPT_ENUM_DECLARE (hpt_goal, HPT_GOAL_LIST)

//  HyperparameterSpec.algorithm; ALGORITHM_UNSPECIFIED means Bayesian
//  optimization.
#define HPT_ALGORITHM_LIST(X)                                                                      \
    X (HPT_ALGORITHM_UNSPECIFIED, "ALGORITHM_UNSPECIFIED")                                         \
    X (HPT_ALGORITHM_GRID_SEARCH, "GRID_SEARCH")                                                   \
    X (HPT_ALGORITHM_RANDOM_SEARCH, "RANDOM_SEARCH")
HPT_ENUM_DECLARE (hpt_algorithm, HPT_ALGORITHM_LIST)

//  hpt extension `hyperparameters.earlyStopping.rule`: median (the
//  default) or asha; decay-curve is reserved for a curve-fitting predictor
//  that is not implemented, so a config may not name it and
//  hpt_stopping_new refuses it (master/hpt_stopping.h has the rules).
#define HPT_EARLY_STOP_RULE_LIST(X)                                                                \
    X (HPT_EARLY_STOP_MEDIAN, "median")                                                            \
    X (HPT_EARLY_STOP_ASHA, "asha")                                                                \
    X (HPT_EARLY_STOP_DECAY_CURVE, "decay-curve")
HPT_ENUM_DECLARE (hpt_early_stop_rule, HPT_EARLY_STOP_RULE_LIST)

#endif
