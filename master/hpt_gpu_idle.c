/*  hpt_gpu_idle -- whether a trial holds GPUs it does not use

    Per GPU index (at most S_GPUS of them per trial, more are ignored):
    the time of the first sample of the current idle run (0: busy or not
    seen), and the time of its last sample. The notice lists the GPUs
    whose run is long enough, lowest index first.
*/
#include "hpt_gpu_idle.h"
#include "hpt_alloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_GPUS 64

struct _hpt_gpu_idle_t {
    double idle_since[S_GPUS]; //  first sample of the idle run, 0 none
    double last[S_GPUS];       //  last sample's time
    char notice[512];          //  the text hpt_gpu_idle_notice returns
};

hpt_gpu_idle_t *
hpt_gpu_idle_new (void)
{
    return hpt_calloc (1, sizeof (hpt_gpu_idle_t));
}

void
hpt_gpu_idle_destroy (hpt_gpu_idle_t **self_p)
{
    if (!self_p || !*self_p) return;
    free (*self_p);
    *self_p = NULL;
}

//  The GPU index of "hpt/gpu/<index>/utilization", or -1.
static int
s_gpu_of (const char *tag)
{
    int index = -1, end = 0;
    if (sscanf (tag, "hpt/gpu/%3d/utilization%n", &index, &end) != 1 || tag[end] != '\0') return -1;
    return index >= 0 && index < S_GPUS ? index : -1;
}

bool
hpt_gpu_idle_point (hpt_gpu_idle_t *self, const char *tag, double value, double time)
{
    int gpu = tag ? s_gpu_of (tag) : -1;
    if (gpu < 0) return false;
    if (time < self->last[gpu]) return true; //  out of order: an older sample
    self->last[gpu] = time;
    if (value >= HPT_GPU_IDLE_PERCENT)
        self->idle_since[gpu] = 0;
    else if (self->idle_since[gpu] == 0)
        self->idle_since[gpu] = time > 0 ? time : 1e-9;
    return true;
}

const char *
hpt_gpu_idle_notice (hpt_gpu_idle_t *self)
{
    char list[256] = "";
    size_t length = 0;
    double longest = 0;
    for (int gpu = 0; gpu < S_GPUS; gpu++) {
        double run = self->idle_since[gpu] ? self->last[gpu] - self->idle_since[gpu] : 0;
        if (run < HPT_GPU_IDLE_SECONDS) continue;
        int n = snprintf (list + length, sizeof (list) - length, "%s%d", length ? ", " : "", gpu);
        if (n > 0 && (size_t)n < sizeof (list) - length) length += (size_t)n;
        if (run > longest) longest = run;
    }
    if (!length) return NULL;
    snprintf (self->notice, sizeof (self->notice),
              "holds GPUs it does not use: GPU %s idle (utilization under %g%%) for %.0f minutes",
              list, HPT_GPU_IDLE_PERCENT, longest / 60.0);
    return self->notice;
}
