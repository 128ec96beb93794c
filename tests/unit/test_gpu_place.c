/*  test_gpu_place -- GPU placement by interconnect and fragmentation
    (hpt_gpu_place), over the topologies hosts have, and through the
    scheduler: links and MIG instances from an agent's resources.
*/
#include "hpt_alloc.h"
#include "hpt_gpu_place.h"
#include "hpt_host.h"
#include "hpt_scheduler.h"
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S_MAX 24

typedef struct {
    size_t count;                        //  GPUs
    hpt_gpu_link_t links[S_MAX * S_MAX]; //  row-major
    bool free[S_MAX];                    //  per GPU
} s_host_t;

//  A host of count GPUs whose every pair is linked by code.
static void
s_init (s_host_t *host, size_t count, const char *code)
{
    memset (host, 0, sizeof (*host));
    host->count = count;
    hpt_gpu_link_t link;
    assert_true (hpt_gpu_link_parse (code, &link));
    for (size_t i = 0; i < count * count; i++)
        host->links[i] = link;
    for (size_t i = 0; i < count; i++)
        host->free[i] = true;
}

static void
s_set (s_host_t *host, size_t a, size_t b, const char *code)
{
    hpt_gpu_link_t link;
    assert_true (hpt_gpu_link_parse (code, &link));
    host->links[a * host->count + b] = host->links[b * host->count + a] = link;
}

//  Places k GPUs, marks them busy, and returns them as a bit set.
static unsigned
s_take (s_host_t *host, size_t k)
{
    size_t chosen[S_MAX];
    assert_true (hpt_gpu_place_choose (host->count, host->free, host->links, k, chosen));
    unsigned set = 0;
    for (size_t i = 0; i < k; i++) {
        assert_true (host->free[chosen[i]]);
        assert_true (i == 0 || chosen[i] > chosen[i - 1]);
        host->free[chosen[i]] = false;
        set |= 1u << chosen[i];
    }
    return set;
}

static void
s_busy (s_host_t *host, unsigned set)
{
    for (size_t i = 0; i < host->count; i++)
        if (set & (1u << i)) host->free[i] = false;
}

//  The worst link inside a set.
static hpt_gpu_link_t
s_worst (s_host_t *host, unsigned set)
{
    hpt_gpu_link_t worst = {HPT_GPU_LINK_NVLINK, HPT_GPU_LINK_NVLINKS_MAX};
    for (size_t a = 0; a < host->count; a++)
        for (size_t b = a + 1; b < host->count; b++)
            if ((set >> a & 1) && (set >> b & 1) &&
                hpt_gpu_link_compare (host->links[a * host->count + b], worst) > 0)
                worst = host->links[a * host->count + b];
    return worst;
}

static void
test_link_codes (void **state)
{
    (void)state;
    hpt_gpu_link_t a, b;
    char code[8];
    assert_true (hpt_gpu_link_parse ("NV18", &a));
    assert_string_equal (hpt_gpu_link_format (a, code, sizeof (code)), "NV18");
    assert_true (hpt_gpu_link_parse ("NV4", &b));
    assert_true (hpt_gpu_link_compare (a, b) < 0); //  more links better
    assert_true (hpt_gpu_link_parse ("PIX", &b));
    assert_true (hpt_gpu_link_compare (a, b) < 0);
    assert_true (hpt_gpu_link_parse ("SYS", &a));
    assert_true (hpt_gpu_link_compare (b, a) < 0);
    const char *bad[] = {"NV0", "NV65", "NV07", "nv4", "PIXX", "", "NV", "NV123"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
        assert_false (hpt_gpu_link_parse (bad[i], &a));
    //  Weights: one better link outweighs 8 of the next class down.
    const char *order[] = {"NV1", "PIX", "PXB", "PHB", "NODE", "SYS"};
    for (size_t i = 0; i + 1 < 6; i++) {
        assert_true (hpt_gpu_link_parse (order[i], &a));
        assert_true (hpt_gpu_link_parse (order[i + 1], &b));
        assert_true (hpt_gpu_place_weight (a) >= 4 * hpt_gpu_place_weight (b));
    }
}

//  DGX H100: 8 GPUs on an NVSwitch fabric, NV18 between every pair.
static void
test_nvswitch_8 (void **state)
{
    (void)state;
    s_host_t host;
    s_init (&host, 8, "NV18");
    assert_int_equal (s_take (&host, 1), 0x01);
    assert_int_equal (s_take (&host, 3), 0x0e);
    assert_int_equal (s_take (&host, 4), 0xf0);
    size_t chosen[8];
    assert_false (hpt_gpu_place_choose (8, host.free, host.links, 1, chosen));
    s_init (&host, 8, "NV18");
    assert_int_equal (s_take (&host, 8), 0xff);
    s_init (&host, 8, "NV18");
    assert_false (hpt_gpu_place_choose (8, host.free, host.links, 0, chosen));
    assert_false (hpt_gpu_place_choose (8, host.free, host.links, 9, chosen));
}

//  DGX-1 (V100): the hybrid cube mesh. Each socket's 4 GPUs are all
//  NVLinked (NV1/NV2), and each GPU has one NVLink across; the other
//  cross-socket pairs are SYS.
static void
s_dgx1 (s_host_t *host)
{
    s_init (host, 8, "SYS");
    const char *rows[8][8] = {
        {"", "NV1", "NV1", "NV2", "NV2", "SYS", "SYS", "SYS"},
        {"", "", "NV2", "NV1", "SYS", "NV2", "SYS", "SYS"},
        {"", "", "", "NV2", "SYS", "SYS", "NV1", "SYS"},
        {"", "", "", "", "SYS", "SYS", "SYS", "NV1"},
        {"", "", "", "", "", "NV1", "NV1", "NV2"},
        {"", "", "", "", "", "", "NV2", "NV1"},
        {"", "", "", "", "", "", "", "NV2"},
    };
    for (size_t a = 0; a < 7; a++)
        for (size_t b = a + 1; b < 8; b++)
            s_set (host, a, b, rows[a][b]);
}

static void
test_dgx1_hybrid_cube_mesh (void **state)
{
    (void)state;
    s_host_t host;
    s_dgx1 (&host);
    //  4 GPUs: a socket, every pair NVLinked.
    unsigned set = s_take (&host, 4);
    assert_int_equal (set, 0x0f);
    assert_int_equal (s_take (&host, 4), 0xf0);
    //  2 GPUs: a double-NVLink pair, never an NV1 or SYS pair.
    s_dgx1 (&host);
    set = s_take (&host, 2);
    hpt_gpu_link_t worst = s_worst (&host, set);
    assert_int_equal (worst.link_class, HPT_GPU_LINK_NVLINK);
    assert_int_equal (worst.nvlinks, 2);
    //  3 GPUs: all pairs NVLinked, as long as such a triple is free.
    s_dgx1 (&host);
    s_busy (&host, 0x01);
    set = s_take (&host, 3);
    assert_int_equal (s_worst (&host, set).link_class, HPT_GPU_LINK_NVLINK);
    //  With 0-2 busy, 3 and 7 are the only NVLinked pair across; a 2-GPU
    //  task still takes an NV2 pair of the other socket.
    s_dgx1 (&host);
    s_busy (&host, 0x07);
    set = s_take (&host, 2);
    assert_int_equal (s_worst (&host, set).nvlinks, 2);
    assert_int_equal (set & 0x0f, 0);
}

//  4 PCIe GPUs with two NVLink bridges (0-1, 2-3), one NUMA node.
static void
test_two_nvlink_pairs (void **state)
{
    (void)state;
    s_host_t host;
    s_init (&host, 4, "NODE");
    s_set (&host, 0, 1, "NV4");
    s_set (&host, 2, 3, "NV4");
    //  A 1-GPU task, then another: the second takes the first's partner
    //  and does not split the other pair.
    assert_int_equal (s_take (&host, 1), 0x1);
    assert_int_equal (s_take (&host, 1), 0x2);
    assert_int_equal (s_take (&host, 2), 0xc);
    //  A 2-GPU task takes a pair, never one GPU of each.
    s_init (&host, 4, "NODE");
    s_set (&host, 0, 1, "NV4");
    s_set (&host, 2, 3, "NV4");
    s_busy (&host, 0x2);
    assert_int_equal (s_take (&host, 2), 0xc);
}

//  4 GPUs of which only 0-1 are NVLinked: a 1-GPU task does not split the
//  only NVLink pair while another GPU is free.
static void
test_only_nvlink_pair_kept (void **state)
{
    (void)state;
    s_host_t host;
    s_init (&host, 4, "PIX");
    s_set (&host, 0, 1, "NV12");
    assert_int_equal (s_take (&host, 1), 0x4);
    assert_int_equal (s_take (&host, 1), 0x8);
    //  Then the pair goes whole to a 2-GPU task.
    assert_int_equal (s_take (&host, 2), 0x3);
}

//  PCIe only, two sockets: 0-3 on socket 0, 4-7 on socket 1, and on each
//  socket two PCIe switches of two GPUs (0-1, 2-3, 4-5, 6-7).
static void
s_pcie_two_sockets (s_host_t *host)
{
    s_init (host, 8, "SYS");
    for (size_t s = 0; s < 8; s += 4)
        for (size_t a = s; a < s + 4; a++)
            for (size_t b = a + 1; b < s + 4; b++)
                s_set (host, a, b, a / 2 == b / 2 ? "PIX" : "NODE");
}

static void
test_pcie_two_sockets (void **state)
{
    (void)state;
    s_host_t host;
    s_pcie_two_sockets (&host);
    assert_int_equal (s_take (&host, 2), 0x03); //  one switch
    assert_int_equal (s_take (&host, 4), 0xf0); //  one socket, not 2 + 2 across
    //  1 GPU with 0 busy: its switch partner, not a whole switch.
    s_pcie_two_sockets (&host);
    s_busy (&host, 0x01);
    assert_int_equal (s_take (&host, 1), 0x02);
    //  4 GPUs with 0 busy: the other socket whole, not 1,2,3 + one across.
    s_pcie_two_sockets (&host);
    s_busy (&host, 0x01);
    assert_int_equal (s_take (&host, 4), 0xf0);
    //  1 GPU with 0-2 busy: the socket's leftover, the other stays whole.
    s_pcie_two_sockets (&host);
    s_busy (&host, 0x07);
    assert_int_equal (s_take (&host, 1), 0x08);
    //  2 GPUs with 0-2 busy: one switch of socket 1, not 3 + one across.
    s_pcie_two_sockets (&host);
    s_busy (&host, 0x07);
    assert_int_equal (s_take (&host, 2), 0x30);
    //  Only across is left: it still places.
    s_pcie_two_sockets (&host);
    s_busy (&host, 0x77);
    assert_int_equal (s_take (&host, 2), 0x88);
}

//  The bottleneck decides before the sum: a chain of NVLinks with a SYS
//  pair in it loses to three GPUs on one PCIe switch (a ring runs at its
//  slowest link).
static void
test_bottleneck_first (void **state)
{
    (void)state;
    s_host_t host;
    s_init (&host, 6, "SYS");
    s_set (&host, 0, 1, "NV18");
    s_set (&host, 1, 2, "NV18");
    s_set (&host, 3, 4, "PIX");
    s_set (&host, 3, 5, "PIX");
    s_set (&host, 4, 5, "PIX");
    assert_int_equal (s_take (&host, 3), 0x38);
}

//  Beyond the exhaustive bound (C(22, 8) subsets), the greedy search
//  keeps the rules: 3 NVSwitch islands of 8, SYS across.
static void
test_greedy_islands (void **state)
{
    (void)state;
    s_host_t host;
    s_init (&host, 24, "SYS");
    for (size_t a = 0; a < 24; a++)
        for (size_t b = a + 1; b < 24; b++)
            if (a / 8 == b / 8) s_set (&host, a, b, "NV18");
    s_busy (&host, 0x3); //  two of island 0
    size_t chosen[8];
    assert_true (hpt_gpu_place_choose (24, host.free, host.links, 8, chosen));
    for (size_t i = 0; i < 8; i++)
        assert_int_equal (chosen[i], 8 + i); //  a whole island, not 6 + 2
    //  6 GPUs: island 0's leftover, which keeps islands 1 and 2 whole.
    assert_true (hpt_gpu_place_choose (24, host.free, host.links, 6, chosen));
    for (size_t i = 0; i < 6; i++)
        assert_int_equal (chosen[i], 2 + i);
}

//  ---------------------------------------------------------------------
//  Through the scheduler: links and MIG instances from an agent's HELLO

static hpt_host_t *
s_node (const char *json)
{
    json_error_t problem;
    json_t *resources = json_loads (json, 0, &problem);
    assert_non_null (resources);
    hpt_host_t *node = hpt_host_new ("gpu", resources, NULL);
    json_decref (resources);
    assert_non_null (node);
    return node;
}

//  Places one task of req; returns its placement (borrowed by task).
static json_t *
s_place (hpt_host_t *node, hpt_task_t *task, hpt_task_request_t *req)
{
    task->request = req;
    hpt_trial_t trial = {.tasks = task, .task_count = 1};
    hpt_host_t *nodes[1] = {node};
    if (!hpt_scheduler_place (nodes, 1, &trial)) return NULL;
    return task->placement;
}

static void
s_task_free (hpt_task_t *task)
{
    free (task->agent);
    json_decref (task->placement);
    task->agent = NULL;
    task->placement = NULL;
}

static void
test_scheduler_uses_links (void **state)
{
    (void)state;
    //  GPUs 0 and 1 NVLinked, 2 and 3 PCIe only, all on NUMA node 0.
    hpt_host_t *node = s_node ("{\"cpus\": 8, \"memoryGb\": 64, \"accelerators\": ["
                               "{\"type\": \"NVIDIA_A100_80GB\", \"index\": 0, \"numaNode\": 0,"
                               " \"links\": {\"1\": \"NV12\", \"2\": \"PHB\", \"3\": \"PHB\"}},"
                               "{\"type\": \"NVIDIA_A100_80GB\", \"index\": 1, \"numaNode\": 0,"
                               " \"links\": {\"0\": \"NV12\", \"2\": \"PHB\", \"3\": \"PHB\"}},"
                               "{\"type\": \"NVIDIA_A100_80GB\", \"index\": 2, \"numaNode\": 0,"
                               " \"links\": {\"0\": \"PHB\", \"1\": \"PHB\", \"3\": \"PIX\"}},"
                               "{\"type\": \"NVIDIA_A100_80GB\", \"index\": 3, \"numaNode\": 0,"
                               " \"links\": {\"0\": \"PHB\", \"1\": \"PHB\", \"2\": \"PIX\"}}]}");
    hpt_task_request_t one = {"workerpool0", 0, "x", 1, 100, "NVIDIA_A100_80GB", 1, NULL};
    hpt_task_request_t two = {"workerpool0", 0, "x", 1, 100, "NVIDIA_A100_80GB", 2, NULL};
    hpt_task_t t1 = {.task_id = "t1"}, t2 = {.task_id = "t2"};
    json_t *p = s_place (node, &t1, &one);
    assert_non_null (p);
    //  Not 0 or 1: the NVLink pair stays whole.
    assert_int_equal (json_integer_value (json_array_get (json_object_get (p, "gpus"), 0)), 2);
    p = s_place (node, &t2, &two);
    assert_non_null (p);
    assert_int_equal (json_integer_value (json_array_get (json_object_get (p, "gpus"), 0)), 0);
    assert_int_equal (json_integer_value (json_array_get (json_object_get (p, "gpus"), 1)), 1);
    hpt_scheduler_release (node, &t1);
    s_task_free (&t1);
    s_task_free (&t2);
    hpt_host_destroy (&node);
}

static void
test_scheduler_mig_instances (void **state)
{
    (void)state;
    //  GPU 0 in MIG mode (a 3g.40gb and two 1g.10gb), GPU 1 whole.
    const char *json =
        "{\"cpus\": 8, \"memoryGb\": 64, \"accelerators\": ["
        "{\"type\": \"NVIDIA_A100_80GB\", \"index\": 0, \"numaNode\": 0, \"migEnabled\": true,"
        " \"mig\": [{\"type\": \"NVIDIA_A100_80GB_3G_40GB\", \"index\": 0, \"uuid\": \"MIG-a\"},"
        "           {\"type\": \"NVIDIA_A100_80GB_1G_10GB\", \"index\": 1, \"uuid\": \"MIG-b\"},"
        "           {\"type\": \"NVIDIA_A100_80GB_1G_10GB\", \"index\": 2, \"uuid\": \"MIG-c\"},"
        "           {\"type\": \"NO_SUCH_TYPE_9G\", \"index\": 3, \"uuid\": \"MIG-d\"}]},"
        "{\"type\": \"NVIDIA_A100_80GB\", \"index\": 1, \"numaNode\": 0}]}";
    hpt_host_t *node = s_node (json);
    assert_int_equal (node->accel_count, 4); //  3 instances + GPU 1; not GPU 0, not MIG-d
    hpt_task_request_t small = {"workerpool0", 0, "x", 1, 100, "NVIDIA_A100_80GB_1G_10GB", 1, NULL};
    hpt_task_request_t whole = {"workerpool0", 0, "x", 1, 100, "NVIDIA_A100_80GB", 1, NULL};
    hpt_task_t t[4] = {{.task_id = "a"}, {.task_id = "b"}, {.task_id = "c"}, {.task_id = "d"}};
    json_t *p = s_place (node, &t[0], &small);
    assert_non_null (p);
    assert_int_equal (json_array_size (json_object_get (p, "gpus")), 0);
    assert_int_equal (json_integer_value (json_array_get (json_object_get (p, "migs"), 0)), 1);
    p = s_place (node, &t[1], &small);
    assert_int_equal (json_integer_value (json_array_get (json_object_get (p, "migs"), 0)), 2);
    assert_null (s_place (node, &t[2], &small)); //  both 1g.10gb taken
    //  The whole-GPU type gets GPU 1 only: GPU 0 is in MIG mode.
    p = s_place (node, &t[2], &whole);
    assert_int_equal (json_integer_value (json_array_get (json_object_get (p, "gpus"), 0)), 1);
    assert_null (s_place (node, &t[3], &whole));
    //  Released (and restored) by the MIG index.
    hpt_scheduler_release (node, &t[0]);
    p = s_place (node, &t[3], &small);
    assert_int_equal (json_integer_value (json_array_get (json_object_get (p, "migs"), 0)), 1);
    hpt_scheduler_release (node, &t[3]);
    hpt_scheduler_restore (node, &t[3]);
    hpt_task_t extra = {.task_id = "e"};
    assert_null (s_place (node, &extra, &small));
    //  nodes describe shows each instance with its GPU.
    json_t *shown = hpt_host_to_json (node);
    json_t *first = json_array_get (json_object_get (shown, "accelerators"), 0);
    assert_string_equal (json_string_value (json_object_get (first, "type")),
                         "NVIDIA_A100_80GB_3G_40GB");
    assert_true (json_is_true (json_object_get (first, "mig")));
    assert_int_equal (json_integer_value (json_object_get (first, "gpu")), 0);
    json_decref (shown);
    for (int i = 0; i < 4; i++)
        s_task_free (&t[i]);
    hpt_host_destroy (&node);
}

//  More GPUs than a host has (a claim): the lowest free indexes, at once.
static void
test_too_many_gpus (void **state)
{
    (void)state;
    size_t count = HPT_GPU_PLACE_SEARCH_MAX + 36;
    bool *free_flags = calloc (count, sizeof (bool));
    hpt_gpu_link_t *links = calloc (count * count, sizeof (hpt_gpu_link_t));
    for (size_t i = 0; i < count; i++)
        free_flags[i] = i != 1;
    size_t chosen[3];
    assert_true (hpt_gpu_place_choose (count, free_flags, links, 3, chosen));
    assert_true (chosen[0] == 0 && chosen[1] == 2 && chosen[2] == 3);
    free (free_flags);
    free (links);
}

int
main (void)
{
    hpt_alloc_init ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_link_codes),
        cmocka_unit_test (test_nvswitch_8),
        cmocka_unit_test (test_dgx1_hybrid_cube_mesh),
        cmocka_unit_test (test_two_nvlink_pairs),
        cmocka_unit_test (test_only_nvlink_pair_kept),
        cmocka_unit_test (test_pcie_two_sockets),
        cmocka_unit_test (test_bottleneck_first),
        cmocka_unit_test (test_greedy_islands),
        cmocka_unit_test (test_too_many_gpus),
        cmocka_unit_test (test_scheduler_uses_links),
        cmocka_unit_test (test_scheduler_mig_instances),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
