/*  hpt_gpu_monitor -- the agent's watch over its GPUs through NVML, off
    the event loop

    An actor (zactor) owning an hpt_nvml live session on the agent's GPUs.
    It samples every GPU every sample_ms (utilization, memory used, power,
    temperature) and watches their health: critical XID and double-bit ECC
    events as NVML delivers them, and every poll the checks of
    hpt_nvml_live_check (fallen off the bus, retired pages or row
    remappings pending, uncorrectable ECC errors). NVML calls may block
    (a GPU falling off the bus makes them slow), which is why they live on
    this thread and never on the agent's loop.

    It tells the agent, on the actor's pipe (read with
    hpt_gpu_monitor_recv):
      SAMPLE  a GPU's figures;
      FAILED  a GPU is unhealthy: told once per GPU, which is then no
              longer sampled or checked;
      OFF     NVML could not be opened: nothing more will come.
*/
#ifndef HPT_GPU_MONITOR_H_INCLUDED
#define HPT_GPU_MONITOR_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Room for why a GPU failed.
#define HPT_GPU_MONITOR_WHY_MAX 256

typedef enum {
    HPT_GPU_MONITOR_SAMPLE, //  figures of one GPU
    HPT_GPU_MONITOR_FAILED, //  one GPU is unhealthy
    HPT_GPU_MONITOR_OFF,    //  NVML is not there: the monitor stopped
} hpt_gpu_monitor_kind_t;

typedef struct {
    hpt_gpu_monitor_kind_t kind;       //  what
    unsigned gpu;                      //  the agent's GPU index
    double utilization;                //  SAMPLE: percent, < 0 unknown
    double memory_used_gb;             //  SAMPLE: GiB, < 0 unknown
    double power_watts;                //  SAMPLE: < 0 unknown
    double temperature;                //  SAMPLE: degrees Celsius, < 0 unknown
    int64_t xid;                       //  FAILED: the XID, -1 when none
    char why[HPT_GPU_MONITOR_WHY_MAX]; //  FAILED: why; OFF: why NVML is not used
} hpt_gpu_monitor_report_t;

typedef struct _hpt_gpu_monitor_t hpt_gpu_monitor_t;

//  Starts the monitor on count GPUs: bus_ids[i] is GPU indexes[i]'s PCI
//  bus id (copied). sample_ms: how often to sample (>= 100); health is
//  checked as often.
hpt_gpu_monitor_t *hpt_gpu_monitor_new (const char *const *bus_ids, const unsigned *indexes,
                                        size_t count, int sample_ms);

//  Stops the thread (it ends within about 200 ms) and nulls the pointer.
void hpt_gpu_monitor_destroy (hpt_gpu_monitor_t **self_p);

//  The socket the agent's loop reads reports from.
zsock_t *hpt_gpu_monitor_socket (hpt_gpu_monitor_t *self);

//  Receives one report (call when the socket is readable). 0, or -1 when
//  what came was not a report.
int hpt_gpu_monitor_recv (hpt_gpu_monitor_t *self, hpt_gpu_monitor_report_t *report);

#endif
