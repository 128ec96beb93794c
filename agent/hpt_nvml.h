/*  hpt_nvml -- what NVIDIA's management library says about this host's GPUs

    The agent never links against NVML: the library is loaded with dlopen at
    run time, so one hptagent binary serves GPU hosts and CPU-only hosts
    alike. hpt_nvml_new takes one snapshot (name, memory, UUID, PCI bus id
    and MIG instances of every GPU) and unloads the library again; the
    topology merges the snapshot into what hwloc found, by PCI bus id.

    The library searched is "libnvidia-ml.so.1", or the path in the
    environment variable HPT_NVML_LIBRARY when it is set (to test the
    fallback, or to use a driver installed out of the loader's path).

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

typedef struct {
    char uuid[HPT_NVML_STRING_MAX]; //  "MIG-..." as CUDA_VISIBLE_DEVICES takes it
    char name[HPT_NVML_STRING_MAX]; //  e.g. "NVIDIA H200 MIG 1g.18gb"
    uint64_t memory_bytes;          //  memory of this instance
} hpt_nvml_mig_t;

typedef struct {
    char pci_bus_id[HPT_NVML_BUSID_MAX]; //  normalized "0000:3b:00.0"
    char name[HPT_NVML_STRING_MAX];      //  model, e.g. "NVIDIA H200"
    char uuid[HPT_NVML_STRING_MAX];      //  "GPU-..."
    unsigned pci_device_id;              //  PCI device id (the vendor is NVIDIA)
    uint64_t memory_bytes;               //  total device memory
    bool mig_enabled;                    //  MIG mode currently on
    size_t mig_count;                    //  populated MIG instances
    hpt_nvml_mig_t *migs;                //  mig_count entries, owned by the snapshot
} hpt_nvml_gpu_t;

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

#endif
