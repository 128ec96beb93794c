/*  hpt_topology -- what this host offers to trials: cores, memory, NUMA
    nodes and accelerators

    The agent discovers its host once at start (hwloc for the machine and
    its PCI devices, NVML when the NVIDIA driver is there), may restrict or
    declare resources from an operator's file (--resources), and then sends
    the result to the master in HELLO. The master schedules against it; the
    agent binds each task's CPUs with hpt_topology_cpu_list.

    Numbering, which the master and agent share:
    - a "cpu" is a physical core, named by its hwloc logical index (0..N-1
      in topology order); the lists below hold those indexes. A host whose
      topology shows no cores (some VMs) counts each PU as a core.
    - an accelerator's index is its position among the host's devices of
      the same kind (GPU or TPU) ordered by PCI bus id: for GPUs exactly the
      number CUDA uses with CUDA_DEVICE_ORDER=PCI_BUS_ID. Restricting by
      --resources keeps the original indexes.
    - NUMA nodes are named by their OS index (what numactl -m takes).
    - a MIG instance's index is its position among all the host's MIG
      instances, GPU by GPU in index order, then in NVML's slot order; the
      agent gives the task its MIG UUID (hpt_topology_mig_uuid).

    The GPU link matrix (each GPU's links to the others, as
    hpt_gpu_link codes) comes from NVML's NVLinks and PCIe common
    ancestors, else from hwloc's PCI tree (the bridges between two GPUs),
    else from the NUMA nodes.
*/
#ifndef HPT_TOPOLOGY_H_INCLUDED
#define HPT_TOPOLOGY_H_INCLUDED

#include "hpt_error.h"
#include "hpt_gpu_link.h"
#include "hpt_nvml.h"
#include <hwloc.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  Room for an hpt accelerator type name ("NVIDIA_H200_141GB").
#define HPT_TOPOLOGY_TYPE_MAX 40

typedef struct {
    unsigned index;   //  OS index of the node
    double memory_gb; //  local memory, GiB rounded to 0.1
    size_t cpu_count; //  entries in cpus
    unsigned *cpus;   //  logical core indexes in this node (owned by the topology)
} hpt_numa_node_t;

typedef struct {
    char type[HPT_TOPOLOGY_TYPE_MAX];    //  hpt_accel.h name, e.g. "NVIDIA_TESLA_V100"
    bool is_tpu;                         //  TPU (else an NVIDIA GPU)
    unsigned index;                      //  CUDA index (PCI bus order) among GPUs, or among TPUs
    char pci_bus_id[HPT_NVML_BUSID_MAX]; //  "0000:3b:00.0"; "" when declared by hand
    int numa_node;                       //  OS index of its NUMA node, -1 when not one node
    char name[HPT_NVML_STRING_MAX];      //  model name from NVML, else hwloc
    double memory_gb;                    //  device memory, GiB rounded to 0.1; 0 unknown
    char uuid[HPT_NVML_STRING_MAX];      //  "GPU-..." from NVML or hwloc; "" unknown
    bool declared;                       //  from --resources, not detected
    size_t cpu_count;                    //  entries in cpus
    unsigned *cpus;                      //  logical indexes of the cores local to it (owned)
    bool mig_enabled;                    //  MIG mode on: offered only as its instances
    size_t mig_count;                    //  MIG instances (NVML, MIG mode on)
    hpt_nvml_mig_t *migs;                //  mig_count entries (owned)
    unsigned mig_base;                   //  host-wide index of its first MIG instance
    size_t link_count;                   //  entries in links (GPUs only; 0 unknown)
    hpt_gpu_link_t *links;               //  links[j]: the link to GPU index j (owned)
} hpt_accelerator_t;

//  The plain view of the host that HELLO carries. Every pointer in it is
//  owned by the hpt_topology_t it came from and lives as long as it.
typedef struct {
    size_t cpus;                     //  physical cores offered
    size_t pus;                      //  hardware threads of those cores
    double memory_gb;                //  memory offered, GiB rounded to 0.1
    size_t numa_count;               //  entries in numa_nodes
    hpt_numa_node_t *numa_nodes;     //  in OS order
    size_t accelerator_count;        //  entries in accelerators
    hpt_accelerator_t *accelerators; //  GPUs then TPUs, each by PCI bus id
} hpt_resources_t;

typedef struct _hpt_topology_t hpt_topology_t;

//  Discovers this machine: hwloc (with PCI devices), NVML when
//  libnvidia-ml.so.1 (or $HPT_NVML_LIBRARY) loads, and TPUs under
//  /dev/accel*. NULL on failure with *error (HPT_E_UNAVAILABLE when hwloc
//  cannot read the machine, HPT_E_INVALID for more accelerators than hpt
//  takes).
hpt_topology_t *hpt_topology_new (hpt_error_t *error);

//  Reads a host from an hwloc XML topology (lstopo --of xml) instead of the
//  machine; /dev is not consulted, nor NVML unless HPT_NVML_LIBRARY is set
//  (a test's stand-in library), so tests see exactly the file.
//  NULL on failure with *error naming the file: HPT_E_NOT_FOUND when it
//  does not exist, HPT_E_INVALID when it is not an hwloc topology.
hpt_topology_t *hpt_topology_new_from_xml (const char *path, hpt_error_t *error);

//  Destroys the topology and nulls the pointer.
void hpt_topology_destroy (hpt_topology_t **self_p);

//  The resources (borrowed, valid until destroy or the next restriction).
const hpt_resources_t *hpt_topology_resources (hpt_topology_t *self);

//  Applies an operator's resources file (YAML):
//      cpus: 8              # at most the detected cores: the first 8 are kept
//      memoryGb: 60         # at most the detected memory
//      accelerators:        # when present, the complete list of what is offered
//        - {type: NVIDIA_TESLA_T4, count: 2}
//  A count may exceed what was detected only on a host where detection
//  found no accelerator at all: the devices are then declared (no bus id,
//  no NUMA node, all cores local). Otherwise each count must be at most the
//  detected devices of that type (the lowest indexes are kept), and types
//  left out are withdrawn. Returns 0 on success; -1 on error, with every
//  problem at once in error as "FILE:LINE:COL: field: message" lines,
//  each ending in a newline (HPT_E_INVALID; HPT_E_NOT_FOUND when there is
//  no such file, HPT_E_UNAVAILABLE when it cannot be read). Nothing
//  changes then.
int hpt_topology_restrict (hpt_topology_t *self, const char *path, hpt_error_t *error);

//  The resources as the JSON --print-topology prints (new reference, the
//  caller owns it): {"cpus", "pus", "memoryGb", "numaNodes", "accelerators",
//  "discovery"}.
json_t *hpt_topology_to_json (hpt_topology_t *self);

//  Same, as indented text with short decimals; the caller frees it.
char *hpt_topology_to_json_text (hpt_topology_t *self);

//  How the resources were found: "hwloc", "hwloc+nvml", "xml" or
//  "xml+nvml" (borrowed static string).
const char *hpt_topology_discovery (hpt_topology_t *self);

//  Why NVML was not used on a live machine (borrowed), or NULL when it was
//  used or not tried (XML).
const char *hpt_topology_nvml_error (hpt_topology_t *self);

//  The host's MIG instance index (borrowed: its UUID, "MIG-...", and NVML
//  slot), with its GPU's index in *gpu; NULL when there is none of that
//  index.
const hpt_nvml_mig_t *hpt_topology_mig (hpt_topology_t *self, unsigned index, unsigned *gpu);

//  The GPU link matrix as nvidia-smi topo -m prints it (GPU rows and
//  columns, the link codes, each GPU's NUMA node and local cores); the
//  caller frees it. "No GPUs" when there are none.
char *hpt_topology_matrix_text (hpt_topology_t *self);

//  The OS PU list ("0-3,16-19", Linux cpulist form, for
//  sched_setaffinity/taskset) of the given logical cores; NULL when a core
//  index is out of range or withdrawn. The caller frees the string.
char *hpt_topology_cpu_list (hpt_topology_t *self, const unsigned *cores, size_t count);

#endif
