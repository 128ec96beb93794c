/*  hpt_nvml -- what NVIDIA's management library says about this host's GPUs

    The agent never links against NVML: the library is loaded with dlopen at
    run time, so one hptagent binary serves GPU hosts and CPU-only hosts
    alike. This class is the only code that knows NVML's entry points and
    structure layouts. It has two faces:

    - the snapshot (hpt_nvml_new): name, memory, UUID, PCI bus id, MIG
      instances, NVLinks and the PCIe common ancestor of every pair of
      GPUs, taken once at agent start; the library is unloaded again and
      the topology merges the snapshot into what hwloc found, by PCI bus
      id;
    - the live session (hpt_nvml_live_new): the library stays loaded for
      one thread, which waits for XID and ECC events, polls health and
      samples utilization. A session is used by one thread; NVML itself is
      thread-safe, so a snapshot may be taken while a session is open.
      The agent's GPU health and utilization monitor that is to own the
      session is not built yet (issue 20); tests/unit/test_nvml proves
      the session against the fake NVML.

    The library searched is "libnvidia-ml.so.1", or the path in the
    environment variable HPT_NVML_LIBRARY when it is set (to test the
    fallback, to use a driver installed out of the loader's path, or to
    load the tests' scripted stand-in, tests/fakenvml).

    hpt_nvml_type_for_name is the one place that maps a GPU model name, as
    NVML or hwloc's PCI database spells it, onto an hpt accelerator type.
*/
#ifndef HPT_NVML_H_INCLUDED
#define HPT_NVML_H_INCLUDED

#include "hpt_error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Size of the buffers below; NVML's v2 name and UUID buffers are 96 bytes.
#define HPT_NVML_STRING_MAX 96
//  "0000:3b:00.0" plus the terminator, with room for a long domain.
#define HPT_NVML_BUSID_MAX 32
//  NVLinks per GPU NVML numbers (NVML_NVLINK_MAX_LINKS of current drivers).
#define HPT_NVML_NVLINKS_MAX 18

typedef struct {
    char uuid[HPT_NVML_STRING_MAX];    //  "MIG-..." as CUDA_VISIBLE_DEVICES takes it
    char name[HPT_NVML_STRING_MAX];    //  e.g. "NVIDIA H200 MIG 1g.18gb"
    char profile[HPT_NVML_STRING_MAX]; //  "1g.18gb" (from the name), "" when it names none
    uint64_t memory_bytes;             //  memory of this instance
    unsigned slot; //  NVML's index of it on its GPU (what CDI's "GPU:SLOT" names)
} hpt_nvml_mig_t;

typedef struct {
    char bus_id[HPT_NVML_BUSID_MAX]; //  the GPU at the other end, normalized
    unsigned links;                  //  active NVLinks to it
} hpt_nvml_peer_t;

typedef struct {
    char pci_bus_id[HPT_NVML_BUSID_MAX];         //  normalized "0000:3b:00.0"
    char name[HPT_NVML_STRING_MAX];              //  model, e.g. "NVIDIA H200"
    char uuid[HPT_NVML_STRING_MAX];              //  "GPU-..."
    unsigned pci_device_id;                      //  PCI device id (the vendor is NVIDIA)
    uint64_t memory_bytes;                       //  total device memory
    bool mig_enabled;                            //  MIG mode currently on
    size_t mig_count;                            //  populated MIG instances
    hpt_nvml_mig_t *migs;                        //  mig_count entries, owned by the snapshot
    unsigned switch_links;                       //  active NVLinks to NVSwitches
    size_t peer_count;                           //  GPUs it has direct NVLinks to
    hpt_nvml_peer_t peers[HPT_NVML_NVLINKS_MAX]; //  peer_count entries
} hpt_nvml_gpu_t;

//  NVML's PCIe common-ancestor levels (nvmlGpuTopologyLevel_t), the
//  classes nvidia-smi topo -m prints.
typedef enum {
    HPT_NVML_PATH_UNKNOWN = -1,    //  NVML could not say
    HPT_NVML_PATH_INTERNAL = 0,    //  the same board (multi-GPU cards)
    HPT_NVML_PATH_SINGLE = 10,     //  one PCIe switch: PIX
    HPT_NVML_PATH_MULTIPLE = 20,   //  several switches, no host bridge: PXB
    HPT_NVML_PATH_HOSTBRIDGE = 30, //  the same host bridge: PHB
    HPT_NVML_PATH_NODE = 40,       //  host bridges of one NUMA node: NODE
    HPT_NVML_PATH_SYSTEM = 50,     //  across the SMP interconnect: SYS
} hpt_nvml_path_t;

typedef struct _hpt_nvml_t hpt_nvml_t;

//  Loads NVML (HPT_NVML_LIBRARY or libnvidia-ml.so.1), reads every GPU and
//  unloads it. Returns NULL with *error (HPT_E_UNAVAILABLE, saying which
//  library or call failed) when NVML is absent or fails. A host without
//  NVIDIA driver is not an error for the agent: it falls back to hwloc's
//  PCI names.
hpt_nvml_t *hpt_nvml_new (hpt_error_t *error);

//  Destroys the snapshot and nulls the pointer.
void hpt_nvml_destroy (hpt_nvml_t **self_p);

//  Number of GPUs in the snapshot.
size_t hpt_nvml_count (hpt_nvml_t *self);

//  GPU i (borrowed, valid until the snapshot is destroyed), NULL when out
//  of range.
const hpt_nvml_gpu_t *hpt_nvml_gpu (hpt_nvml_t *self, size_t i);

//  The PCIe path between GPUs i and j of the snapshot
//  (nvmlDeviceGetTopologyCommonAncestor); HPT_NVML_PATH_UNKNOWN when NVML
//  did not say or an index is out of range.
hpt_nvml_path_t hpt_nvml_path (hpt_nvml_t *self, size_t i, size_t j);

//  Maps a model name ("NVIDIA H200", "Tesla V100-SXM2-16GB", hwloc's
//  "GV100GL [Tesla V100 SXM2 32GB]", ...) to an hpt accelerator type name
//  from hpt_accel.h (a static string), or NULL when the name names no model
//  hpt knows; the caller then uses NVIDIA_GENERIC_GPU.
const char *hpt_nvml_type_for_name (const char *name);

//  Maps an NVIDIA PCI device id to a type name (static), or NULL.
const char *hpt_nvml_type_for_device_id (unsigned device_id);

//  Writes bus_id ("00000000:3B:00.0", "3b:00.0", ...) into out as
//  "0000:3b:00.0". Returns false, out untouched, when it does not parse.
bool hpt_nvml_normalize_bus_id (const char *bus_id, char *out, size_t out_size);

//  -------------------------------------------------------------------------
//  Live session (one thread: the GPU monitor's)

typedef struct _hpt_nvml_live_t hpt_nvml_live_t;

//  What happened to a GPU of the session.
typedef enum {
    HPT_NVML_EVENT_XID,        //  a critical XID (xid set)
    HPT_NVML_EVENT_DOUBLE_BIT, //  an uncorrectable (double-bit) ECC error
} hpt_nvml_event_kind_t;

typedef struct {
    size_t gpu;                 //  position in the session's bus id list
    hpt_nvml_event_kind_t kind; //  what
    unsigned long long xid;     //  the XID for HPT_NVML_EVENT_XID
} hpt_nvml_event_t;

//  One sample of a GPU; a figure NVML would not give is < 0.
typedef struct {
    double utilization; //  percent of time a kernel ran, 0-100
    double memory_used; //  bytes
    double power_watts; //  board power
    double temperature; //  GPU core, degrees Celsius
} hpt_nvml_sample_t;

//  Opens a session on the GPUs at bus_ids (normalized, count of them; a
//  GPU NVML does not find is left out of events and answers as lost) and
//  registers for critical XID and double-bit ECC events where the driver
//  supports them. NULL with *error when NVML cannot be loaded or started.
hpt_nvml_live_t *hpt_nvml_live_new (const char *const *bus_ids, size_t count, hpt_error_t *error);

//  Ends the session (nvmlShutdown, dlclose) and nulls the pointer.
void hpt_nvml_live_destroy (hpt_nvml_live_t **self_p);

//  Waits up to timeout_ms for one event. 1 with *event, 0 when none came
//  (or the driver has no events: the call then sleeps the timeout), -1
//  when NVML failed (*error says why).
int hpt_nvml_live_wait (hpt_nvml_live_t *self, unsigned timeout_ms, hpt_nvml_event_t *event,
                        hpt_error_t *error);

//  Samples GPU gpu. 0, or -1 when the GPU is lost (fallen off the bus, or
//  not found): *sample is then all -1.
int hpt_nvml_live_sample (hpt_nvml_live_t *self, size_t gpu, hpt_nvml_sample_t *sample);

//  Polls GPU gpu's health: fallen off the bus, retired pages pending,
//  remapped rows pending or failed, uncorrected ECC errors since the
//  session began. 0 when healthy; -1 with the reason in why (size bytes)
//  otherwise. A check the GPU does not support is skipped.
int hpt_nvml_live_check (hpt_nvml_live_t *self, size_t gpu, char *why, size_t size);

#endif
