/*  hpt_optimizer -- suggests the next trials of a job from its history

    One interface for all algorithms of a job: GRID_SEARCH (every point of
    a finite space in a stable order), RANDOM_SEARCH (a scrambled Halton
    sequence over the unit cube, decoded through the space) and
    ALGORITHM_UNSPECIFIED, which is Bayesian optimization with a Gaussian
    process (see hpt_bo.c). The master tells it every trial it launches
    (pending), every result and every failure, and asks for suggestions.

    The optimizer holds nothing that the history does not: all randomness
    comes from (seed, history), so an optimizer rebuilt from the stored
    trials gives the same suggestions as the one that was lost. History
    entries are kept sorted by trial id, so the order in which trials are
    told does not matter either.
*/
#ifndef HPT_OPTIMIZER_H_INCLUDED
#define HPT_OPTIMIZER_H_INCLUDED

#include "hpt_space.h"
#include "hpt_types.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _hpt_optimizer_t hpt_optimizer_t;

//  Creates an optimizer over space (borrowed: it must outlive the
//  optimizer) for goal (HPT_GOAL_MAXIMIZE or HPT_GOAL_MINIMIZE; anything
//  else minimizes) with the given algorithm and seed. Returns NULL when
//  space is NULL.
hpt_optimizer_t *hpt_optimizer_new (hpt_space_t *space, hpt_goal_t goal, hpt_algorithm_t algorithm,
                                    uint64_t seed);

//  Destroys the optimizer and nulls the pointer.
void hpt_optimizer_destroy (hpt_optimizer_t **self_p);

//  Records a launched trial whose result is not known yet. values (borrowed)
//  holds one double per parameter in the space's value convention
//  (hpt_param.h); values are snapped to legal ones. A trial id told again
//  replaces its earlier pending entry; one that already has a result or
//  failed is ignored.
void hpt_optimizer_add_pending (hpt_optimizer_t *self, uint64_t trial_id, const double *values);

//  Records a finished trial and removes its pending entry if any. A NaN or
//  infinite objective counts as a failure. A trial id told again replaces
//  its earlier result.
void hpt_optimizer_add_result (hpt_optimizer_t *self, uint64_t trial_id, const double *values,
                               double objective);

//  Records a failed or infeasible trial and removes its pending entry. Its
//  point is not suggested again and its neighbourhood is discouraged.
void hpt_optimizer_add_failed (hpt_optimizer_t *self, uint64_t trial_id, const double *values);

//  Writes up to n suggestions into out (the caller's array of n *
//  hpt_space_size doubles, row-major). Returns how many were written: fewer
//  than n only when the grid or a finite space is used up. Suggestions are
//  not recorded: the caller tells each one it launches with add_pending.
size_t hpt_optimizer_suggest (hpt_optimizer_t *self, size_t n, double *out);

//  Whether nothing is left to suggest: every grid point (every point of a
//  finite space) is pending, finished or failed. Always false for a space
//  with a DOUBLE parameter, except for GRID_SEARCH, which has no grid then.
bool hpt_optimizer_exhausted (hpt_optimizer_t *self);

//  Tells the optimizer how many trials the job may run (maxTrials), so a
//  small budget is not spent on the initial design alone: Bayesian
//  optimization then designs at most a third of it (at least d + 1
//  points). Without it (benchmarks), the design is min(3 (d + 1), 30).
void hpt_optimizer_set_budget (hpt_optimizer_t *self, uint64_t max_trials);

//  How much each parameter matters to the objective, as the GP sees it:
//  its fitted length scale (hpt_bo_length_scales: unit-cube coordinates,
//  short = the objective changes within a small part of the parameter's
//  range) into scales (hpt_space_size values). Every algorithm gets an
//  answer (grid and random search fit a model for it). *results gets how
//  many finished results there are. Returns how many of them the fit
//  used, 0 (scales untouched) with fewer than 2.
size_t hpt_optimizer_length_scales (hpt_optimizer_t *self, double *scales, size_t *results);

//  A copy of everything a suggestion depends on: goal, algorithm, seed,
//  budget and the three history lists. It owns its arrays and shares
//  nothing with the optimizer it was taken from, so another thread may
//  compute suggestions from it (hpt_suggester) while the owner carries on.
typedef struct _hpt_optimizer_history_t hpt_optimizer_history_t;

//  Takes a snapshot of self's settings and history. Caller owns it.
hpt_optimizer_history_t *hpt_optimizer_history (hpt_optimizer_t *self);

//  Destroys a snapshot and nulls the pointer.
void hpt_optimizer_history_destroy (hpt_optimizer_history_t **self_p);

//  Creates an optimizer over space (borrowed, as for new) with the
//  snapshot's settings and history: it suggests exactly what the
//  optimizer the snapshot was taken from would have. NULL when space is
//  NULL or has another number of parameters.
hpt_optimizer_t *hpt_optimizer_new_from (hpt_space_t *space,
                                         const hpt_optimizer_history_t *history);

//  Replaces self's history with the snapshot's, keeping self's model
//  caches (a fit depends only on the history, so a cached one is reused
//  only when it is the one the history would fit). Returns false (self
//  untouched) when the snapshot has other settings (goal, algorithm,
//  seed, budget, dimension).
bool hpt_optimizer_set_history (hpt_optimizer_t *self, const hpt_optimizer_history_t *history);

#endif
