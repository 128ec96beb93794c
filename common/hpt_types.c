/*  hpt_types -- the spellings of the shared job-spec enums (see hpt_types.h)
 */
#include "hpt_types.h"

HPT_ENUM_DEFINE (hpt_goal, HPT_GOAL_LIST)
HPT_ENUM_DEFINE (hpt_algorithm, HPT_ALGORITHM_LIST)
HPT_ENUM_DEFINE (hpt_early_stop_rule, HPT_EARLY_STOP_RULE_LIST)
