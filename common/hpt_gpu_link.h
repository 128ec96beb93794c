/*  hpt_gpu_link -- how two GPUs of a host are connected, as a class and a
    code

    The agent measures the link between every pair of its GPUs (NVML's
    NVLinks and PCIe common ancestors, else hwloc's PCI tree) and sends
    each as the code nvidia-smi topo -m prints; the master's placement
    ranks sets of GPUs by them. This is the one definition of the codes,
    their order and their meaning, shared by both ends:

        NV<n>  n bonded NVLinks (directly, or through NVSwitches)
        PIX    at most one PCIe switch (bridge) between them
        PXB    several PCIe bridges, no host bridge
        PHB    a PCIe host bridge (the CPU's root complex)
        NODE   host bridges of one NUMA node
        SYS    the SMP interconnect between NUMA nodes (sockets)

    Better first: NVLink (more links better) < PIX < PXB < PHB < NODE <
    SYS, the order Slurm's and NCCL's topology code use.
*/
#ifndef HPT_GPU_LINK_H_INCLUDED
#define HPT_GPU_LINK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    HPT_GPU_LINK_NVLINK, //  NVLink (nvlinks > 0)
    HPT_GPU_LINK_PIX,    //  one PCIe switch
    HPT_GPU_LINK_PXB,    //  several PCIe bridges
    HPT_GPU_LINK_PHB,    //  a host bridge
    HPT_GPU_LINK_NODE,   //  one NUMA node
    HPT_GPU_LINK_SYS,    //  across NUMA nodes
} hpt_gpu_link_class_t;
#define HPT_GPU_LINK_CLASSES 6

//  Most NVLinks a code may name (NV1 .. NV64).
#define HPT_GPU_LINK_NVLINKS_MAX 64

typedef struct {
    hpt_gpu_link_class_t link_class; //  the class
    unsigned nvlinks;                //  bonded NVLinks, > 0 exactly for HPT_GPU_LINK_NVLINK
} hpt_gpu_link_t;

//  Writes link's code ("NV18", "PIX", ...) into out (at least 8 bytes).
//  Returns out.
char *hpt_gpu_link_format (hpt_gpu_link_t link, char *out, size_t size);

//  Parses a code. False (link untouched) for anything else than NV1-NV64,
//  PIX, PXB, PHB, NODE or SYS.
bool hpt_gpu_link_parse (const char *code, hpt_gpu_link_t *link);

//  Orders links best first: negative when a is better than b, 0 when
//  equal. Among NVLinks, more links are better.
int hpt_gpu_link_compare (hpt_gpu_link_t a, hpt_gpu_link_t b);

#endif
