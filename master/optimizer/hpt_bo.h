/*  hpt_bo -- Bayesian optimization: the GP-based suggestions of hpt_optimizer

    Given the finished, pending and failed points of a job, proposes new
    points by maximizing log expected improvement under a Gaussian process
    (hpt_gp) fitted to the finished ones. hpt_optimizer owns the history,
    the initial design and the fallbacks; this class owns the model and the
    acquisition search. See hpt_bo.c for the algorithm.
*/
#ifndef HPT_BO_H_INCLUDED
#define HPT_BO_H_INCLUDED

#include "hpt_pointset.h"
#include "hpt_space.h"
#include <stddef.h>
#include <stdint.h>

typedef struct _hpt_bo_t hpt_bo_t;

//  The history as the model sees it: all arrays borrowed, row-major, one
//  double per parameter in the space's value convention, each list sorted
//  by trial id. done_y is finite, lower is better.
typedef struct {
    const double *done_values;    //  n_done points with a result
    const double *done_y;         //  their objectives, minimization orientation
    size_t n_done;                //  number of finished points
    const double *pending_values; //  n_pending points still running
    size_t n_pending;             //  number of pending points
    const double *failed_values;  //  n_failed points that failed
    size_t n_failed;              //  number of failed points
    uint64_t history_size;        //  n_done + n_pending + n_failed + non-finite results
} hpt_bo_history_t;

//  Creates the model for space (borrowed, outlives it) and seed.
hpt_bo_t *hpt_bo_new (hpt_space_t *space, uint64_t seed);

//  Destroys the model and nulls the pointer.
void hpt_bo_destroy (hpt_bo_t **self_p);

//  Writes up to n suggestions (row-major values) into out, none of them in
//  visited; each one written is added to visited. Returns how many were
//  written: 0 when the model cannot be built (fewer than 2 results), fewer
//  than n when no unvisited point was found (the caller falls back to
//  other points).
size_t hpt_bo_suggest (hpt_bo_t *self, const hpt_bo_history_t *history, hpt_pointset_t *visited,
                       size_t n, double *out);

//  The fitted length scale of each parameter (ARD Matérn-5/2, in the
//  unit-cube coordinates the model uses: a log-scaled parameter on its
//  log range, a categorical one on the Hamming distance) into scales
//  (dim values), from the same MAP fit the suggestions use on these
//  results (n_done finished points, row-major values, their objectives in
//  minimization orientation; borrowed): the fit of the first m of them,
//  m the refit checkpoint, cached. Returns m, or 0 (scales untouched)
//  with fewer than 2 results.
size_t hpt_bo_length_scales (hpt_bo_t *self, const double *done_values, const double *done_y,
                             size_t n_done, double *scales);

#endif
