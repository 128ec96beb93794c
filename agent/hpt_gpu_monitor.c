/*  hpt_gpu_monitor -- the agent's watch over its GPUs through NVML, off
    the event loop

    The thread's loop: wait up to 200 ms for an NVML event (or sleep that
    long when the driver has none), checking the pipe for $TERM between
    waits; a critical XID or a double-bit ECC error fails its GPU at once;
    every sample_ms, each GPU still healthy is checked and then sampled.
    A report crosses the pipe as one frame: the struct's bytes (both ends
    are this process).
*/
#include "hpt_gpu_monitor.h"
#include "hpt_alloc.h"
#include "hpt_nvml.h"
#include <stdio.h>
#include <string.h>

//  How long one wait for an NVML event lasts: also how late $TERM is seen.
#define S_WAIT_MS 200

typedef struct {
    char **bus_ids;    //  count PCI bus ids (owned)
    unsigned *indexes; //  count agent GPU indexes (owned)
    size_t count;      //  GPUs
    int sample_ms;     //  sampling and checking period
} s_args_t;

struct _hpt_gpu_monitor_t {
    zactor_t *actor; //  the thread
    s_args_t *args;  //  what it watches (freed after the thread ends)
};

static void
s_report (zsock_t *pipe, const hpt_gpu_monitor_report_t *report)
{
    zframe_t *frame = zframe_new (report, sizeof (*report));
    zframe_send (&frame, pipe, 0);
}

static void
s_fail (zsock_t *pipe, const s_args_t *args, size_t gpu, int64_t xid, const char *why, bool *failed)
{
    hpt_gpu_monitor_report_t report = {
        .kind = HPT_GPU_MONITOR_FAILED, .gpu = args->indexes[gpu], .xid = xid};
    snprintf (report.why, sizeof (report.why), "%s", why);
    s_report (pipe, &report);
    failed[gpu] = true;
}

//  Checks and samples every GPU still healthy.
static void
s_round (zsock_t *pipe, const s_args_t *args, hpt_nvml_live_t *live, bool *failed)
{
    for (size_t gpu = 0; gpu < args->count; gpu++) {
        if (failed[gpu]) continue;
        char why[HPT_GPU_MONITOR_WHY_MAX];
        if (hpt_nvml_live_check (live, gpu, why, sizeof (why)) != 0) {
            s_fail (pipe, args, gpu, -1, why, failed);
            continue;
        }
        hpt_nvml_sample_t sample;
        if (hpt_nvml_live_sample (live, gpu, &sample) != 0) continue; //  the next check says why
        hpt_gpu_monitor_report_t report = {
            .kind = HPT_GPU_MONITOR_SAMPLE,
            .gpu = args->indexes[gpu],
            .utilization = sample.utilization,
            .memory_used_gb =
                sample.memory_used >= 0 ? sample.memory_used / (1024.0 * 1024.0 * 1024.0) : -1,
            .power_watts = sample.power_watts,
            .temperature = sample.temperature,
            .xid = -1};
        s_report (pipe, &report);
    }
}

//  An NVML event: the GPU it names fails.
static void
s_on_event (zsock_t *pipe, const s_args_t *args, const hpt_nvml_event_t *event, bool *failed)
{
    if (event->gpu >= args->count || failed[event->gpu]) return;
    char why[HPT_GPU_MONITOR_WHY_MAX];
    if (event->kind == HPT_NVML_EVENT_XID)
        snprintf (why, sizeof (why), "XID %llu (a critical GPU error)", event->xid);
    else
        snprintf (why, sizeof (why), "a double-bit (uncorrectable) ECC error");
    s_fail (pipe, args, event->gpu, event->kind == HPT_NVML_EVENT_XID ? (int64_t)event->xid : -1,
            why, failed);
}

static void
s_actor (zsock_t *pipe, void *arg)
{
    s_args_t *args = arg;
    zsock_signal (pipe, 0);
    hpt_error_t error;
    hpt_nvml_live_t *live =
        hpt_nvml_live_new ((const char *const *)args->bus_ids, args->count, &error);
    if (!live) {
        hpt_gpu_monitor_report_t report = {.kind = HPT_GPU_MONITOR_OFF, .xid = -1};
        snprintf (report.why, sizeof (report.why), "%.255s", error.message);
        s_report (pipe, &report);
    }
    bool *failed = hpt_calloc (args->count + 1, sizeof (bool));
    zpoller_t *poller = zpoller_new (pipe, NULL);
    int64_t next_round = zclock_mono ();
    bool nvml_broken = false;
    while (!zsys_interrupted) {
        if (zpoller_wait (poller, live && !nvml_broken ? 0 : S_WAIT_MS)) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (term) break;
        }
        if (!live || nvml_broken) continue;
        hpt_nvml_event_t event;
        int got = hpt_nvml_live_wait (live, S_WAIT_MS, &event, &error);
        if (got == 1) s_on_event (pipe, args, &event, failed);
        if (got < 0) {
            //  The event set broke: health is still polled below.
            zsys_warning ("hptagent: GPU events: %s; polling only", error.message);
            nvml_broken = true;
        }
        if (zclock_mono () >= next_round) {
            s_round (pipe, args, live, failed);
            next_round = zclock_mono () + args->sample_ms;
        }
    }
    zpoller_destroy (&poller);
    free (failed);
    hpt_nvml_live_destroy (&live);
}

hpt_gpu_monitor_t *
hpt_gpu_monitor_new (const char *const *bus_ids, const unsigned *indexes, size_t count,
                     int sample_ms)
{
    hpt_gpu_monitor_t *self = hpt_calloc (1, sizeof (hpt_gpu_monitor_t));
    self->args = hpt_calloc (1, sizeof (s_args_t));
    self->args->count = count;
    self->args->sample_ms = sample_ms < 100 ? 100 : sample_ms;
    self->args->bus_ids = hpt_calloc (count + 1, sizeof (char *));
    self->args->indexes = hpt_calloc (count + 1, sizeof (unsigned));
    for (size_t i = 0; i < count; i++) {
        self->args->bus_ids[i] = hpt_strdup (bus_ids[i]);
        self->args->indexes[i] = indexes[i];
    }
    self->actor = zactor_new (s_actor, self->args);
    return self;
}

void
hpt_gpu_monitor_destroy (hpt_gpu_monitor_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_gpu_monitor_t *self = *self_p;
    zactor_destroy (&self->actor);
    for (size_t i = 0; i < self->args->count; i++)
        free (self->args->bus_ids[i]);
    free (self->args->bus_ids);
    free (self->args->indexes);
    free (self->args);
    free (self);
    *self_p = NULL;
}

zsock_t *
hpt_gpu_monitor_socket (hpt_gpu_monitor_t *self)
{
    return zactor_sock (self->actor);
}

int
hpt_gpu_monitor_recv (hpt_gpu_monitor_t *self, hpt_gpu_monitor_report_t *report)
{
    zframe_t *frame = zframe_recv (zactor_sock (self->actor));
    int rc = frame && zframe_size (frame) == sizeof (*report) ? 0 : -1;
    if (rc == 0) memcpy (report, zframe_data (frame), sizeof (*report));
    zframe_destroy (&frame);
    return rc;
}
