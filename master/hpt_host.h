/*  hpt_host -- the master's view of one agent host and its free resources

    A node is created when an agent first says HELLO (or is loaded from
    the store after a restart, then waits for its agent to come back). It
    records what the agent offers (CPUs, memory, accelerators with their
    NUMA node, a port range for TF_CONFIG), what is reserved by placed
    tasks, whether the agent is connected, and the operator's drain state.
    Nodes that advertise the same host address share its ports: a port is
    taken only when none of them holds it.
    Reservations are the scheduler's; the node only does the arithmetic.

    A GPU in MIG mode is not offered whole: each of its MIG instances is an
    accelerator of its own (its MIG type, e.g. NVIDIA_A100_80GB_1G_10GB,
    its host-wide MIG index) with the GPU's NUMA node and cores. The link
    between two GPUs is what the agent measured (accelerators[].links),
    else NODE for two GPUs of one NUMA node and SYS otherwise.

    A GPU the agent reported unhealthy (GPU_FAILED) is failed: neither it
    nor its MIG instances are placed on, until an operator undrains the
    node (hpt nodes undrain). The failures live in the resources document
    under "failedGpus" ({"3": "XID 79 ..."}), which the store keeps with
    the node and a new HELLO inherits.
*/
#ifndef HPT_HOST_H_INCLUDED
#define HPT_HOST_H_INCLUDED

#include "hpt_error.h"
#include "hpt_gpu_link.h"
#include "hpt_states.h"
#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char *type;            //  accelerator type name
    int index;             //  CUDA index (PCI bus order) within its kind
    char *pci_bus_id;      //  e.g. "0000:3b:00.0", may be NULL
    int numa_node;         //  -1 when unknown
    int *cpus;             //  cores local to it
    size_t cpu_count;      //  entries in cpus
    bool used;             //  reserved by a task
    bool mig;              //  a MIG instance: index is its host-wide MIG index
    int parent;            //  a MIG instance's GPU index, -1 otherwise
    size_t link_count;     //  entries in links
    hpt_gpu_link_t *links; //  links[j]: the agent's link to GPU index j, when known[j]
    bool *known;           //  per entry of links: measured
    char *failure;         //  why it (or its GPU) failed, NULL while healthy
} hpt_host_accel_t;

typedef struct {
    char *name;               //  agent name (unique)
    zframe_t *routing_id;     //  ROUTER identity of its connection, NULL when none
    hpt_host_state_t state;   //  connection state
    hpt_drain_state_t drain;  //  operator drain state
    char *drain_reason;       //  why, as the operator said
    char *drained_by;         //  who
    int64_t drain_time;       //  epoch ms
    char *advertise;          //  host name tasks use in TF_CONFIG
    int port_lo;              //  first port of its range
    int port_hi;              //  last port of its range
    int next_port;            //  where the next port search starts
    uint8_t *ports_used;      //  one byte per port of the range
    double cpus;              //  CPUs offered
    double used_cpus;         //  CPUs reserved
    int64_t memory_mb;        //  memory offered
    int64_t used_memory_mb;   //  memory reserved
    int *free_cores;          //  per core: 1 when not bound to a task
    size_t core_count;        //  physical cores (for binding)
    hpt_host_accel_t *accels; //  accelerators offered
    size_t accel_count;       //  entries in accels
    json_t *resources;        //  what the agent reported, as JSON
    int64_t last_seen;        //  epoch ms of its last message
    int64_t acked_seq;        //  highest event seq stored
    char *version;            //  the agent's software version (HELLO)
    char *key;                //  its CURVE public key (Z85), NULL without CURVE
    size_t running_tasks;     //  tasks placed and not exited
    int64_t agent_tasks;      //  tasks the agent says it runs (HEARTBEAT runningTasks), -1 unknown
    double load;              //  the host's 1-minute load average (HEARTBEAT), -1 unknown
    int64_t agent_last_seq; //  highest event seq the agent assigned (HELLO, HEARTBEAT), -1 unknown
    bool containers;        //  the agent runs container tasks (resources.containers)
    bool container_gpus;    //  ... and can give them GPUs (a CDI spec for its GPUs)
} hpt_host_t;

//  Creates a node from the resources an agent reported (borrowed JSON in
//  the shape of `hptagent --print-topology`, plus optional "ports":
//  [lo, hi] and "advertise"). Returns NULL with *error (HPT_E_INVALID)
//  when the resources are unusable.
hpt_host_t *hpt_host_new (const char *name, json_t *resources, hpt_error_t *error);

//  The link between two GPUs of the node (see above).
hpt_gpu_link_t hpt_host_link (const hpt_host_accel_t *a, const hpt_host_accel_t *b);

//  Marks GPU index (and its MIG instances) failed with why, in memory
//  and in the node's resources ("failedGpus"). False when the node has
//  no such GPU (nothing changes then).
bool hpt_host_fail_gpu (hpt_host_t *self, int index, const char *why);

//  Returns every failed GPU to service (undrain).
void hpt_host_clear_failures (hpt_host_t *self);

//  Destroys a node and nulls the pointer.
void hpt_host_destroy (hpt_host_t **self_p);

//  Whether the node may take new tasks now.
bool hpt_host_schedulable (hpt_host_t *self);

//  Frees everything placed tasks hold (the scheduler then restores what
//  the tasks still running hold, after a failed commit).
void hpt_host_clear_reservations (hpt_host_t *self);

//  Reserves a free port of the range that no other of nodes (count of
//  them, borrowed; self may be among them) advertising the same host
//  address holds: agents on one machine draw TF_CONFIG ports from one pool,
//  so two tasks there never get the same ADDRESS:PORT. -1 when every port
//  of the range is taken.
int hpt_host_take_port (hpt_host_t *self, hpt_host_t *const *nodes, size_t count);

//  Whether the node holds port (reserved by one of its tasks).
bool hpt_host_holds_port (hpt_host_t *self, int port);

//  Releases a port.
void hpt_host_release_port (hpt_host_t *self, int port);

//  Takes what an agent's HEARTBEAT says about its host: running_tasks
//  and load (-1 when it did not say), and the highest seq it assigned.
void hpt_host_heartbeat (hpt_host_t *self, int64_t running_tasks, double load, int64_t last_seq);

//  The node as the REST API shows it (caller owns). What the agent
//  reports of itself is shown apart from what the master placed:
//  agentRunningTasks and load (when reported), pendingEvents (events the
//  agent has not yet had stored, when known).
json_t *hpt_host_to_json (hpt_host_t *self);

#endif
