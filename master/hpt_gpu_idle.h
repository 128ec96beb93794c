/*  hpt_gpu_idle -- whether a trial holds GPUs it does not use

    The agent reports each GPU a task holds as hpt/gpu/<index>/utilization
    points (percent, docs/trainer-contract.md). This watcher follows them
    per GPU, by the points' own times: a GPU whose every sample has been
    under HPT_GPU_IDLE_PERCENT for at least HPT_GPU_IDLE_SECONDS is idle,
    and the trial gets a notice naming it (the commonest waste on shared
    GPU clusters); a busy sample ends the idle run. In memory only: a
    restarted master starts the runs again from the next samples.
*/
#ifndef HPT_GPU_IDLE_H_INCLUDED
#define HPT_GPU_IDLE_H_INCLUDED

#include <stdbool.h>

#define HPT_GPU_IDLE_PERCENT 1.0
#define HPT_GPU_IDLE_SECONDS 300.0

typedef struct _hpt_gpu_idle_t hpt_gpu_idle_t;

hpt_gpu_idle_t *hpt_gpu_idle_new (void);

void hpt_gpu_idle_destroy (hpt_gpu_idle_t **self_p);

//  Takes one metric point (time in epoch seconds). Returns whether it was
//  a utilization point (any other tag is ignored).
bool hpt_gpu_idle_point (hpt_gpu_idle_t *self, const char *tag, double value, double time);

//  The notice, or NULL when no GPU is idle (borrowed, valid until the
//  next call).
const char *hpt_gpu_idle_notice (hpt_gpu_idle_t *self);

#endif
