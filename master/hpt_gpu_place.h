/*  hpt_gpu_place -- which of a host's free GPUs a task gets: the best
    connected set, leaving the rest as whole as possible

    Input: the host's GPUs of the requested type, which of them are free,
    and the link between every pair (hpt_gpu_link: NVLink, PIX, PXB, PHB,
    NODE, SYS, from the agent's HELLO; a host that sent no links is
    compared by NUMA node, NODE or SYS). Output: k free GPUs.

    The rules, in order (docs/scheduling.md, "GPU placement"):

    1. Bottleneck: the set's worst link is as good as possible. All pairs
       NVLink-connected beats any set with a PCIe pair; one PCIe switch
       (PIX) beats several bridges (PXB), beats a host bridge (PHB), beats
       one NUMA node (NODE), beats crossing sockets (SYS): the order
       Slurm's and NCCL's topology code use. Among NVLinks, more bonded
       links are better.
    2. Interior: among equal bottlenecks, the set whose pairs are best
       connected in sum (weights below).
    3. Fragmentation: among those, the set whose GPUs are least connected
       to the free GPUs left behind (the smallest sum of weights of the
       links cut), so that the best-connected groups stay whole for the
       next task: a 1-GPU task takes a GPU whose NVLink partner is busy,
       or one without NVLink, before splitting a free NVLink pair; a task
       fills the emptier socket's leftover before opening a full one.
    4. The lowest GPU indexes (deterministic).

    Weights grow by a factor of 4 per class (SYS 1, NODE 4, PHB 16, PXB
    64, PIX 256, NVLink 4096 + 64 per link), so one better link outweighs
    several worse ones for the counts hosts have (up to 8 per class).

    Every k-subset of the free GPUs is scored when there are at most
    HPT_GPU_PLACE_EXHAUSTIVE of them (8 of 16 GPUs: 12 870); beyond that,
    a greedy search from each free GPU (add the GPU that keeps the
    bottleneck best, then the interior), scored by the same rules. A host
    with more than HPT_GPU_PLACE_SEARCH_MAX GPUs of one type (no real
    host; an agent could claim 1024) gets the lowest free indexes, so
    that no HELLO can make a placement cost more than a few milliseconds.
*/
#ifndef HPT_GPU_PLACE_H_INCLUDED
#define HPT_GPU_PLACE_H_INCLUDED

#include "hpt_gpu_link.h"
#include <stdbool.h>
#include <stddef.h>

//  Most k-subsets scored one by one.
#define HPT_GPU_PLACE_EXHAUSTIVE 16384
//  Most GPUs of one type searched by their links.
#define HPT_GPU_PLACE_SEARCH_MAX 64

//  Chooses k of count GPUs: is_free[i] says whether GPU i may be taken,
//  links[i * count + j] is the link between GPUs i and j (the diagonal is
//  not read). Writes the chosen positions, ascending, into chosen (room
//  for k). False when fewer than k are free (or k is 0).
bool hpt_gpu_place_choose (size_t count, const bool *is_free, const hpt_gpu_link_t *links, size_t k,
                           size_t *chosen);

//  The weight rules 2 and 3 sum (documented above).
unsigned hpt_gpu_place_weight (hpt_gpu_link_t link);

#endif
