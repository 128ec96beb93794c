/*  test_nvml -- hpt_nvml over the scripted fake NVML (tests/fakenvml):
    the snapshot (NVLinks, switch links, PCIe paths, MIG profiles) and the
    live session the GPU health monitor is to use (XID and double-bit ECC
    events, lost GPUs, pending retirements and remappings, samples).
*/
#include "hpt_alloc.h"
#include "hpt_nvml.h"
#include "hpt_test_data.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char s_control[256];

//  Points NVML at the fake and at host (a file of tests/data/fakenvml, or
//  a JSON text written to a temporary file with a control file).
static void
s_use (const char *host, const char *text)
{
    char path[1024];
    setenv ("HPT_NVML_LIBRARY", HPT_FAKENVML_PATH, 1);
    if (host) {
        setenv ("HPT_FAKE_NVML", hpt_test_path (path, sizeof (path), host), 1);
        return;
    }
    snprintf (s_control, sizeof (s_control), "/tmp/hpt-test-nvml-%d.control", (int)getpid ());
    FILE *control = fopen (s_control, "w");
    assert_non_null (control);
    fclose (control);
    snprintf (path, sizeof (path), "/tmp/hpt-test-nvml-%d.json", (int)getpid ());
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fprintf (file, text, s_control);
    fclose (file);
    setenv ("HPT_FAKE_NVML", path, 1);
}

static void
s_command (const char *line)
{
    FILE *control = fopen (s_control, "a");
    assert_non_null (control);
    fprintf (control, "%s\n", line);
    fclose (control);
}

static void
test_snapshot_links_and_migs (void **state)
{
    (void)state;
    s_use ("tests/data/fakenvml/dgx-h100.json", NULL);
    hpt_error_t error;
    hpt_nvml_t *nvml = hpt_nvml_new (&error);
    assert_non_null (nvml);
    assert_int_equal (hpt_nvml_count (nvml), 8);
    const hpt_nvml_gpu_t *gpu = hpt_nvml_gpu (nvml, 0);
    assert_string_equal (gpu->pci_bus_id, "0000:18:00.0");
    assert_int_equal (gpu->switch_links, 18);
    assert_int_equal (gpu->peer_count, 0);
    assert_int_equal (hpt_nvml_path (nvml, 0, 1), HPT_NVML_PATH_SINGLE);
    assert_int_equal (hpt_nvml_path (nvml, 0, 2), HPT_NVML_PATH_NODE);
    assert_int_equal (hpt_nvml_path (nvml, 0, 4), HPT_NVML_PATH_SYSTEM);
    assert_int_equal (hpt_nvml_path (nvml, 0, 0), HPT_NVML_PATH_UNKNOWN);
    hpt_nvml_destroy (&nvml);

    s_use ("tests/data/fakenvml/a100-nvlink-pairs.json", NULL);
    nvml = hpt_nvml_new (&error);
    gpu = hpt_nvml_gpu (nvml, 0);
    assert_int_equal (gpu->peer_count, 1);
    assert_string_equal (gpu->peers[0].bus_id, "0000:31:00.0");
    assert_int_equal (gpu->peers[0].links, 12);
    assert_int_equal (gpu->switch_links, 0);
    hpt_nvml_destroy (&nvml);

    s_use ("tests/data/fakenvml/a100-mig.json", NULL);
    nvml = hpt_nvml_new (&error);
    gpu = hpt_nvml_gpu (nvml, 0);
    assert_true (gpu->mig_enabled);
    assert_int_equal (gpu->mig_count, 4);
    assert_string_equal (gpu->migs[0].profile, "3g.40gb");
    assert_string_equal (gpu->migs[3].uuid, "MIG-aaaaaaaa-0000-5000-8000-000000000004");
    assert_false (hpt_nvml_gpu (nvml, 1)->mig_enabled);
    hpt_nvml_destroy (&nvml);
}

static const char *s_two =
    "{\"control\": \"%s\", \"gpus\": ["
    "{\"name\": \"NVIDIA H100 80GB HBM3\", \"uuid\": \"GPU-1\", \"busId\": \"0000:18:00.0\","
    " \"memoryMb\": 1024, \"utilization\": [0, 40, 90]},"
    "{\"name\": \"NVIDIA H100 80GB HBM3\", \"uuid\": \"GPU-2\", \"busId\": \"0000:2a:00.0\","
    " \"memoryMb\": 1024}]}";

static void
test_live_events_and_health (void **state)
{
    (void)state;
    s_use (NULL, s_two);
    const char *buses[] = {"0000:18:00.0", "0000:2a:00.0", "0000:99:00.0"};
    hpt_error_t error;
    hpt_nvml_live_t *live = hpt_nvml_live_new (buses, 3, &error);
    assert_non_null (live);
    hpt_nvml_event_t event;
    char why[256];
    //  Quiet: no event, both GPUs healthy; the one NVML lacks is lost.
    assert_int_equal (hpt_nvml_live_wait (live, 20, &event, &error), 0);
    assert_int_equal (hpt_nvml_live_check (live, 0, why, sizeof (why)), 0);
    assert_int_equal (hpt_nvml_live_check (live, 2, why, sizeof (why)), -1);
    //  An XID on GPU 1, a double-bit ECC error on GPU 0.
    s_command ("xid 1 79");
    assert_int_equal (hpt_nvml_live_wait (live, 1000, &event, &error), 1);
    assert_int_equal (event.gpu, 1);
    assert_int_equal (event.kind, HPT_NVML_EVENT_XID);
    assert_int_equal (event.xid, 79);
    s_command ("dbe 0");
    assert_int_equal (hpt_nvml_live_wait (live, 1000, &event, &error), 1);
    assert_int_equal (event.gpu, 0);
    assert_int_equal (event.kind, HPT_NVML_EVENT_DOUBLE_BIT);
    assert_int_equal (hpt_nvml_live_check (live, 0, why, sizeof (why)), -1);
    assert_non_null (strstr (why, "ECC"));
    //  Pending retirements, then a GPU off the bus.
    s_command ("pending 1");
    assert_int_equal (hpt_nvml_live_check (live, 1, why, sizeof (why)), -1);
    assert_non_null (strstr (why, "pending"));
    //  Samples follow the series, the last value repeated.
    hpt_nvml_sample_t sample;
    double seen[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal (hpt_nvml_live_sample (live, 0, &sample), 0);
        seen[i] = sample.utilization;
    }
    assert_true (seen[0] == 0 && seen[1] == 40 && seen[2] == 90 && seen[3] == 90);
    assert_true (sample.memory_used > 0 && sample.power_watts > 0 && sample.temperature > 0);
    s_command ("lost 0");
    assert_int_equal (hpt_nvml_live_sample (live, 0, &sample), -1);
    assert_int_equal (hpt_nvml_live_check (live, 0, why, sizeof (why)), -1);
    assert_non_null (strstr (why, "fallen off the bus"));
    hpt_nvml_live_destroy (&live);
    assert_null (live);
    unlink (s_control);
}

static void
test_absent_library (void **state)
{
    (void)state;
    setenv ("HPT_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    hpt_error_t error;
    assert_null (hpt_nvml_new (&error));
    assert_int_equal (error.code, HPT_E_UNAVAILABLE);
    assert_null (hpt_nvml_live_new (NULL, 0, &error));
}

int
main (void)
{
    hpt_alloc_init ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_snapshot_links_and_migs),
        cmocka_unit_test (test_live_events_and_health),
        cmocka_unit_test (test_absent_library),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
