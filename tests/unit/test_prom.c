/*  Unit tests for hpt_prom and the master's route templates: the text
    exposition (HELP/TYPE once per family, escaped label values, sorted
    series, cumulative histogram buckets with +Inf equal to _count),
    streamed families rendered alike, the bound on series per family, and
    API paths reduced to route templates so job and node names never
    become label values.
*/
#include "hpt_master_metrics.h"
#include "hpt_prom.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static char *
s_render (hpt_prom_t *registry)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    hpt_prom_render (registry, out);
    fclose (out);
    return text;
}

static void
test_counters_and_gauges_render (void **state)
{
    hpt_prom_t *registry = hpt_prom_new ();
    hpt_prom_family_t *requests =
        hpt_prom_counter (registry, "x_requests_total", "Requests,\nby code.", "code,path");
    hpt_prom_add (requests, 2, "500", "/b");
    hpt_prom_add (requests, 1, "200", "/a\"q\\");
    hpt_prom_add (requests, 3, "200", "/a\"q\\");
    hpt_prom_add (requests, -5, "200", "/a\"q\\"); //  counters never go down
    hpt_prom_set (hpt_prom_gauge (registry, "x_up", "Up.", NULL), 1);
    assert_true (hpt_prom_counter (registry, "x_requests_total", "again", "code,path") == requests);
    char *text = s_render (registry);
    assert_string_equal (text, "# HELP x_requests_total Requests,\\nby code.\n"
                               "# TYPE x_requests_total counter\n"
                               "x_requests_total{code=\"200\",path=\"/a\\\"q\\\\\"} 4\n"
                               "x_requests_total{code=\"500\",path=\"/b\"} 2\n"
                               "# HELP x_up Up.\n"
                               "# TYPE x_up gauge\n"
                               "x_up 1\n");
    assert_true (hpt_prom_value (requests, "500", "/b") == 2);
    free (text);
    hpt_prom_destroy (&registry);
}

//  Streamed families (a series per node) come out as a registry's would:
//  the same escaping and numbers, whole numbers without a search.
static void
test_streamed_families_render_the_same (void **state)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    hpt_prom_stream_family (out, "x_node_cpus", "CPUs,\nper node.", "gauge");
    hpt_prom_stream_sample (out, "x_node_cpus", "node", 64, "n\"1\\");
    hpt_prom_stream_sample (out, "x_node_cpus", "node,type", 0.25, "n2", "tpu");
    hpt_prom_stream_sample (out, "x_up", NULL, -3);
    hpt_prom_stream_sample (out, "x_big", "", 1e300);
    fclose (out);
    assert_string_equal (text, "# HELP x_node_cpus CPUs,\\nper node.\n"
                               "# TYPE x_node_cpus gauge\n"
                               "x_node_cpus{node=\"n\\\"1\\\\\"} 64\n"
                               "x_node_cpus{node=\"n2\",type=\"tpu\"} 0.25\n"
                               "x_up -3\n"
                               "x_big 1e+300\n");
    free (text);
}

static void
test_histogram_buckets_are_cumulative (void **state)
{
    hpt_prom_t *registry = hpt_prom_new ();
    const double bounds[] = {0.1, 1};
    hpt_prom_family_t *latency =
        hpt_prom_histogram (registry, "x_seconds", "Latency.", "route", bounds, 2);
    hpt_prom_observe (latency, 0.05, "/r");
    hpt_prom_observe (latency, 0.1, "/r"); //  le is inclusive
    hpt_prom_observe (latency, 0.5, "/r");
    hpt_prom_observe (latency, 7, "/r");
    char *text = s_render (registry);
    assert_non_null (strstr (text, "x_seconds_bucket{route=\"/r\",le=\"0.1\"} 2\n"
                                   "x_seconds_bucket{route=\"/r\",le=\"1\"} 3\n"
                                   "x_seconds_bucket{route=\"/r\",le=\"+Inf\"} 4\n"
                                   "x_seconds_sum{route=\"/r\"} 7.65\n"
                                   "x_seconds_count{route=\"/r\"} 4\n"));
    free (text);
    hpt_prom_destroy (&registry);
}

static void
test_series_per_family_are_bounded (void **state)
{
    hpt_prom_t *registry = hpt_prom_new ();
    hpt_prom_family_t *family = hpt_prom_counter (registry, "x_total", "X.", "name");
    char name[32];
    for (int i = 0; i < HPT_PROM_MAX_SERIES + 10; i++) {
        snprintf (name, sizeof (name), "n%d", i);
        hpt_prom_add (family, 1, name);
    }
    assert_int_equal (hpt_prom_series_dropped (registry), 10);
    hpt_prom_add (family, 1, "n0"); //  an existing series still counts
    assert_true (hpt_prom_value (family, "n0") == 2);
    hpt_prom_destroy (&registry);
}

static void
test_paths_become_route_templates (void **state)
{
    assert_string_equal (hpt_master_metrics_route ("/v1/projects/p/jobs"),
                         "/v1/projects/{project}/jobs");
    assert_string_equal (hpt_master_metrics_route ("/v1/projects/p/jobs/secret_name?x=1"),
                         "/v1/projects/{project}/jobs/{job}");
    assert_string_equal (hpt_master_metrics_route ("/v1/projects/p/jobs/j:cancel"),
                         "/v1/projects/{project}/jobs/{job}:cancel");
    assert_string_equal (hpt_master_metrics_route ("/v1/projects/p/jobs/j:whatever"),
                         "/v1/projects/{project}/jobs/{job}:{verb}");
    assert_string_equal (hpt_master_metrics_route ("/v1/projects/p/jobs/j/logs"),
                         "/v1/projects/{project}/jobs/{job}/logs");
    assert_string_equal (hpt_master_metrics_route ("/v1/projects/p/jobs/j/trials/3/metrics"),
                         "/v1/projects/{project}/jobs/{job}/trials/{trial}/metrics");
    assert_string_equal (hpt_master_metrics_route ("/v1/nodes/gpu-7:drain"),
                         "/v1/nodes/{node}:drain");
    assert_string_equal (hpt_master_metrics_route ("/metrics"), "/metrics");
    assert_string_equal (hpt_master_metrics_route ("/v1/projects/p/jobs/j/other"), "other");
    assert_string_equal (hpt_master_metrics_route ("/a/b/c/d/e/f/g/h/i/j"), "other");
    assert_string_equal (hpt_master_metrics_route ("/etc/passwd"), "other");
    assert_string_equal (hpt_master_metrics_route (""), "other");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_counters_and_gauges_render),
        cmocka_unit_test (test_streamed_families_render_the_same),
        cmocka_unit_test (test_histogram_buckets_are_cumulative),
        cmocka_unit_test (test_series_per_family_are_bounded),
        cmocka_unit_test (test_paths_become_route_templates),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
