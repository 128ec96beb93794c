/*  hpt_gpu_place -- which of a host's free GPUs a task gets (the rules are
    in the header)

    A candidate set is scored once into s_score_t and compared
    lexicographically; the enumeration visits sets in lexicographic order
    of positions and keeps the first best, which is rule 4.
*/
#include "hpt_gpu_place.h"
#include "hpt_alloc.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    hpt_gpu_link_t worst; //  the set's worst link (rule 1)
    uint64_t interior;    //  sum of the weights of its pairs (rule 2)
    uint64_t cut;         //  sum of the weights of links to free GPUs left (rule 3)
} s_score_t;

typedef struct {
    size_t count;                //  GPUs
    const bool *free;            //  per GPU
    const hpt_gpu_link_t *links; //  count x count
    size_t k;                    //  GPUs wanted
} s_input_t;

unsigned
hpt_gpu_place_weight (hpt_gpu_link_t link)
{
    static const unsigned weights[HPT_GPU_LINK_CLASSES] = {4096, 256, 64, 16, 4, 1};
    if ((unsigned)link.link_class >= HPT_GPU_LINK_CLASSES) return 1;
    if (link.link_class == HPT_GPU_LINK_NVLINK) return weights[0] + 64 * link.nvlinks;
    return weights[link.link_class];
}

static hpt_gpu_link_t
s_link (const s_input_t *in, size_t i, size_t j)
{
    return in->links[i * in->count + j];
}

//  Scores the set of k positions in set (in_set marks them).
static s_score_t
s_score (const s_input_t *in, const size_t *set, const bool *in_set)
{
    //  A one-GPU set has no pair: its bottleneck is the best there is.
    s_score_t score = {{HPT_GPU_LINK_NVLINK, HPT_GPU_LINK_NVLINKS_MAX}, 0, 0};
    for (size_t a = 0; a < in->k; a++) {
        for (size_t b = a + 1; b < in->k; b++) {
            hpt_gpu_link_t link = s_link (in, set[a], set[b]);
            if (hpt_gpu_link_compare (link, score.worst) > 0) score.worst = link;
            score.interior += hpt_gpu_place_weight (link);
        }
        for (size_t other = 0; other < in->count; other++)
            if (in->free[other] && !in_set[other])
                score.cut += hpt_gpu_place_weight (s_link (in, set[a], other));
    }
    return score;
}

//  Negative when a is the better score.
static int
s_compare (s_score_t a, s_score_t b)
{
    int worst = hpt_gpu_link_compare (a.worst, b.worst);
    if (worst) return worst;
    if (a.interior != b.interior) return a.interior > b.interior ? -1 : 1;
    if (a.cut != b.cut) return a.cut < b.cut ? -1 : 1;
    return 0;
}

//  Scores set and keeps it in best when it is better (or the first).
static void
s_consider (const s_input_t *in, const size_t *set, bool *in_set, size_t *best,
            s_score_t *best_score, bool *have)
{
    for (size_t a = 0; a < in->k; a++)
        in_set[set[a]] = true;
    s_score_t score = s_score (in, set, in_set);
    for (size_t a = 0; a < in->k; a++)
        in_set[set[a]] = false;
    if (*have && s_compare (score, *best_score) >= 0) return;
    *have = true;
    *best_score = score;
    memcpy (best, set, in->k * sizeof (size_t));
}

//  C(n, k), saturating at limit + 1.
static size_t
s_choose (size_t n, size_t k, size_t limit)
{
    if (k > n) return 0;
    uint64_t value = 1;
    for (size_t i = 1; i <= k; i++) {
        value = value * (n - k + i) / i;
        if (value > limit) return limit + 1;
    }
    return (size_t)value;
}

//  Every k-subset of the free positions, in lexicographic order.
static void
s_exhaustive (const s_input_t *in, const size_t *frees, size_t free_count, size_t *best,
              bool *in_set)
{
    size_t *pick = hpt_calloc (in->k, sizeof (size_t)), *set = hpt_calloc (in->k, sizeof (size_t));
    for (size_t a = 0; a < in->k; a++)
        pick[a] = a;
    s_score_t best_score;
    bool have = false;
    for (;;) {
        for (size_t a = 0; a < in->k; a++)
            set[a] = frees[pick[a]];
        s_consider (in, set, in_set, best, &best_score, &have);
        //  The next combination: bump the rightmost pick that can move.
        size_t a = in->k;
        while (a > 0 && pick[a - 1] == free_count - in->k + a - 1)
            a--;
        if (a == 0) break;
        pick[a - 1]++;
        for (size_t b = a; b < in->k; b++)
            pick[b] = pick[b - 1] + 1;
    }
    free (pick);
    free (set);
}

static int
s_ascending (const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

//  Grows a set from seed: each step adds the free GPU whose worst link to
//  the set is best, then whose links to it weigh most.
static void
s_grow (const s_input_t *in, size_t seed, size_t *set, bool *in_set)
{
    set[0] = seed;
    in_set[seed] = true;
    for (size_t size = 1; size < in->k; size++) {
        size_t pick = in->count;
        hpt_gpu_link_t pick_worst = {HPT_GPU_LINK_SYS, 0};
        uint64_t pick_sum = 0;
        for (size_t c = 0; c < in->count; c++) {
            if (!in->free[c] || in_set[c]) continue;
            hpt_gpu_link_t worst = {HPT_GPU_LINK_NVLINK, HPT_GPU_LINK_NVLINKS_MAX};
            uint64_t sum = 0;
            for (size_t a = 0; a < size; a++) {
                hpt_gpu_link_t link = s_link (in, set[a], c);
                if (hpt_gpu_link_compare (link, worst) > 0) worst = link;
                sum += hpt_gpu_place_weight (link);
            }
            int better = pick == in->count ? -1 : hpt_gpu_link_compare (worst, pick_worst);
            if (better < 0 || (better == 0 && sum > pick_sum)) {
                pick = c;
                pick_worst = worst;
                pick_sum = sum;
            }
        }
        set[size] = pick;
        in_set[pick] = true;
    }
    for (size_t a = 0; a < in->k; a++)
        in_set[set[a]] = false;
    qsort (set, in->k, sizeof (size_t), s_ascending);
}

static void
s_greedy (const s_input_t *in, const size_t *frees, size_t free_count, size_t *best, bool *in_set)
{
    size_t *set = hpt_calloc (in->k, sizeof (size_t));
    s_score_t best_score;
    bool have = false;
    for (size_t f = 0; f < free_count; f++) {
        s_grow (in, frees[f], set, in_set);
        s_consider (in, set, in_set, best, &best_score, &have);
    }
    free (set);
}

bool
hpt_gpu_place_choose (size_t count, const bool *is_free, const hpt_gpu_link_t *links, size_t k,
                      size_t *chosen)
{
    size_t *frees = hpt_calloc (count ? count : 1, sizeof (size_t));
    size_t free_count = 0;
    for (size_t i = 0; i < count; i++)
        if (is_free[i]) frees[free_count++] = i;
    if (k == 0 || free_count < k) {
        free (frees);
        return false;
    }
    if (count > HPT_GPU_PLACE_SEARCH_MAX) {
        memcpy (chosen, frees, k * sizeof (size_t));
        free (frees);
        return true;
    }
    s_input_t in = {count, is_free, links, k};
    bool *in_set = hpt_calloc (count, sizeof (bool));
    if (s_choose (free_count, k, HPT_GPU_PLACE_EXHAUSTIVE) <= HPT_GPU_PLACE_EXHAUSTIVE)
        s_exhaustive (&in, frees, free_count, chosen, in_set);
    else
        s_greedy (&in, frees, free_count, chosen, in_set);
    free (in_set);
    free (frees);
    return true;
}
