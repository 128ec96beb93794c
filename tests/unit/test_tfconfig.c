/*  test_tfconfig -- TF_CONFIG and CLUSTER_SPEC for every role, chief
    naming, evaluators outside the cluster, and refused inputs.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hpt_tfconfig.h"
#include <stdlib.h>
#include <string.h>

static const char *s_master[] = {"10.0.0.1:2222"};
static const char *s_workers[] = {"10.0.0.2:2222", "10.0.0.3:2223"};
static const char *s_ps[] = {"10.0.0.4:2222"};

static hpt_tfconfig_cluster_t
s_cluster (bool use_chief)
{
    hpt_tfconfig_cluster_t cluster = {s_master, 1, s_workers, 2, s_ps, 1, 1, use_chief};
    return cluster;
}

//  Builds TF_CONFIG, asserts success and returns it parsed.
static json_t *
s_parse (const hpt_tfconfig_cluster_t *cluster, hpt_tfconfig_role_t role, size_t index,
         const char *trial, json_t *job)
{
    hpt_tfconfig_task_t task = {role, index, trial};
    hpt_error_t error;
    char *text = hpt_tfconfig_build (cluster, &task, job, &error);
    if (!text) fprintf (stderr, "%s\n", error.message);
    assert_non_null (text);
    json_error_t json_error;
    json_t *root = json_loads (text, 0, &json_error);
    assert_non_null (root);
    free (text);
    return root;
}

static void
test_master_exact_text (void **state)
{
    hpt_tfconfig_cluster_t cluster = s_cluster (false);
    json_t *job = json_pack ("{s:s, s:f}", "scaleTier", "CUSTOM", "lr", 0.1);
    hpt_tfconfig_task_t task = {HPT_TFCONFIG_MASTER, 0, "7"};
    hpt_error_t error;
    char *text = hpt_tfconfig_build (&cluster, &task, job, &error);
    assert_non_null (text);
    assert_string_equal (text, "{\"cluster\":{\"master\":[\"10.0.0.1:2222\"],"
                               "\"worker\":[\"10.0.0.2:2222\",\"10.0.0.3:2223\"],"
                               "\"ps\":[\"10.0.0.4:2222\"]},"
                               "\"task\":{\"type\":\"master\",\"index\":0,\"trial\":\"7\"},"
                               "\"job\":{\"scaleTier\":\"CUSTOM\",\"lr\":0.1},"
                               "\"environment\":\"cloud\"}");
    free (text);
    text = hpt_tfconfig_cluster_spec (&cluster, &task, &error);
    assert_non_null (text);
    assert_null (strstr (text, "\"job\""));
    assert_non_null (strstr (text, "\"task\":{\"type\":\"master\",\"index\":0,\"trial\":\"7\"}"));
    free (text);
    json_decref (job);
}

static void
test_chief_and_roles (void **state)
{
    hpt_tfconfig_cluster_t cluster = s_cluster (true);
    json_t *root = s_parse (&cluster, HPT_TFCONFIG_MASTER, 0, "12", NULL);
    json_t *members = json_object_get (root, "cluster");
    assert_null (json_object_get (members, "master"));
    assert_string_equal (json_string_value (json_array_get (json_object_get (members, "chief"), 0)),
                         "10.0.0.1:2222");
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (root, "task"), "type")), "chief");
    assert_true (json_is_object (json_object_get (root, "job")));
    assert_int_equal (json_object_size (json_object_get (root, "job")), 0);
    json_decref (root);

    root = s_parse (&cluster, HPT_TFCONFIG_WORKER, 1, "12", NULL);
    json_t *task = json_object_get (root, "task");
    assert_string_equal (json_string_value (json_object_get (task, "type")), "worker");
    assert_int_equal (json_integer_value (json_object_get (task, "index")), 1);
    json_decref (root);

    root = s_parse (&cluster, HPT_TFCONFIG_PS, 0, NULL, NULL);
    task = json_object_get (root, "task");
    assert_string_equal (json_string_value (json_object_get (task, "type")), "ps");
    assert_null (json_object_get (task, "trial"));
    json_decref (root);
}

static void
test_evaluator_not_in_cluster (void **state)
{
    hpt_tfconfig_cluster_t cluster = s_cluster (false);
    json_t *root = s_parse (&cluster, HPT_TFCONFIG_EVALUATOR, 0, "3", NULL);
    json_t *members = json_object_get (root, "cluster");
    assert_int_equal (json_object_size (members), 3);
    assert_null (json_object_get (members, "evaluator"));
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (root, "task"), "type")), "evaluator");
    json_decref (root);
}

static void
test_basic_tier_leaves_out_empty_roles (void **state)
{
    hpt_tfconfig_cluster_t cluster = {s_master, 1, NULL, 0, NULL, 0, 0, false};
    json_t *root = s_parse (&cluster, HPT_TFCONFIG_MASTER, 0, "1", NULL);
    json_t *members = json_object_get (root, "cluster");
    assert_int_equal (json_object_size (members), 1);
    assert_non_null (json_object_get (members, "master"));
    assert_string_equal (json_string_value (json_object_get (root, "environment")), "cloud");
    json_decref (root);
}

//  Asserts that building fails with an error containing needle.
static void
s_assert_refused (const hpt_tfconfig_cluster_t *cluster, hpt_tfconfig_role_t role, size_t index,
                  const char *trial, json_t *job, const char *needle)
{
    hpt_tfconfig_task_t task = {role, index, trial};
    hpt_error_t error;
    char *text = hpt_tfconfig_build (cluster, &task, job, &error);
    assert_null (text);
    assert_int_equal (error.code, HPT_E_INVALID);
    if (!strstr (error.message, needle)) fprintf (stderr, "unexpected error: %s\n", error.message);
    assert_non_null (strstr (error.message, needle));
    //  A caller that does not care about the reason passes NULL.
    assert_null (hpt_tfconfig_build (cluster, &task, job, NULL));
}

static void
test_refused (void **state)
{
    hpt_tfconfig_cluster_t cluster = s_cluster (false);
    s_assert_refused (&cluster, HPT_TFCONFIG_WORKER, 2, "1", NULL, "index 2 out of range");
    s_assert_refused (&cluster, HPT_TFCONFIG_EVALUATOR, 1, "1", NULL, "out of range");
    s_assert_refused (&cluster, HPT_TFCONFIG_MASTER, 0, "", NULL, "trial id");
    s_assert_refused (&cluster, HPT_TFCONFIG_MASTER, 0, "a\"b", NULL, "trial id");
    json_t *array = json_array ();
    s_assert_refused (&cluster, HPT_TFCONFIG_MASTER, 0, "1", array, "not a JSON object");
    json_decref (array);
    s_assert_refused (&cluster, (hpt_tfconfig_role_t)42, 0, "1", NULL, "unknown task role");

    const char *bad[][1] = {{"nohost"}, {":80"},   {"h:0"}, {"h:65536"},
                            {"h:8x"},   {"a b:1"}, {"h:"},  {""}};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        hpt_tfconfig_cluster_t c = {bad[i], 1, NULL, 0, NULL, 0, 0, false};
        s_assert_refused (&c, HPT_TFCONFIG_MASTER, 0, "1", NULL, "not host:port");
    }
    hpt_tfconfig_cluster_t none = {s_master, 0, NULL, 0, NULL, 0, 0, false};
    s_assert_refused (&none, HPT_TFCONFIG_MASTER, 0, "1", NULL, "exactly one master");
    hpt_tfconfig_cluster_t missing = {s_master, 1, NULL, 2, NULL, 0, 0, false};
    s_assert_refused (&missing, HPT_TFCONFIG_MASTER, 0, "1", NULL, "no addresses");
    char long_host[400];
    memset (long_host, 'h', sizeof (long_host));
    strcpy (long_host + 300, ":80");
    const char *long_list[] = {long_host};
    hpt_tfconfig_cluster_t longc = {long_list, 1, NULL, 0, NULL, 0, 0, false};
    s_assert_refused (&longc, HPT_TFCONFIG_MASTER, 0, "1", NULL, "not host:port");
    const char *ipv6[] = {"[::1]:2222"};
    hpt_tfconfig_cluster_t v6 = {ipv6, 1, NULL, 0, NULL, 0, 0, false};
    json_decref (s_parse (&v6, HPT_TFCONFIG_MASTER, 0, "1", NULL));
}

static void
test_role_names (void **state)
{
    hpt_tfconfig_role_t role;
    assert_int_equal (hpt_tfconfig_role_from_name ("chief", &role), 0);
    assert_int_equal (role, HPT_TFCONFIG_MASTER);
    assert_int_equal (hpt_tfconfig_role_from_name ("parameterServer", &role), 0);
    assert_int_equal (role, HPT_TFCONFIG_PS);
    assert_int_equal (hpt_tfconfig_role_from_name ("evaluator", &role), 0);
    assert_int_equal (role, HPT_TFCONFIG_EVALUATOR);
    assert_int_equal (hpt_tfconfig_role_from_name ("boss", &role), -1);
    assert_int_equal (hpt_tfconfig_role_from_name (NULL, &role), -1);
    assert_int_equal (hpt_tfconfig_role_from_name ("ps", &role), 0);
    assert_int_equal (role, HPT_TFCONFIG_PS);
    assert_string_equal (hpt_tfconfig_role_name (HPT_TFCONFIG_MASTER), "master");
    assert_string_equal (hpt_tfconfig_role_name (HPT_TFCONFIG_PS), "ps");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_master_exact_text),
        cmocka_unit_test (test_chief_and_roles),
        cmocka_unit_test (test_evaluator_not_in_cluster),
        cmocka_unit_test (test_basic_tier_leaves_out_empty_roles),
        cmocka_unit_test (test_refused),
        cmocka_unit_test (test_role_names),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
