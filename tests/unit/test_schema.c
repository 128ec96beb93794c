/*  Unit tests for hpt_schema, the config-reading framework the job,
    cluster and resources readers share: field tables (unknown and
    required keys), the member handlers, the converters and their
    messages, and the paths problems are reported at.
*/
#include "hpt_alloc.h"
#include "hpt_schema.h"
#include "hpt_types.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct {
    char *name;
    int64_t count;
    double ratio;
    bool on;
    double timeout;
    int64_t grace_ms;
    hpt_goal_t goal;
} s_target_t;

static const hpt_schema_field_t s_fields[] = {
    HPT_SCHEMA_ENTRY ("name", hpt_schema_nonempty_field, .required = "a label",
                      .offset = offsetof (s_target_t, name)),
    HPT_SCHEMA_INT64 ("count", s_target_t, count, 1, 10),
    HPT_SCHEMA_DOUBLE ("ratio", s_target_t, ratio, 0, 1, true),
    HPT_SCHEMA_BOOL ("on", s_target_t, on),
    HPT_SCHEMA_SECONDS ("timeout", s_target_t, timeout),
    HPT_SCHEMA_MILLIS ("grace", s_target_t, grace_ms, 0, 60000),
    HPT_SCHEMA_ENUM ("goal", s_target_t, goal, hpt_goal_enum, 1u << HPT_GOAL_UNSPECIFIED),
};

//  Reads text against s_fields into *target; returns the problems printed
//  one per line (caller frees), "" when there is none.
static char *
s_read (const char *text, s_target_t *target)
{
    memset (target, 0, sizeof (*target));
    hpt_diag_t *diag = hpt_diag_new ("s.yaml", false);
    hpt_schema_t schema;
    hpt_schema_init (&schema, diag);
    hpt_node_t *root = hpt_schema_parse (&schema, text, strlen (text), false);
    if (root) hpt_schema_object (&schema, root, HPT_SCHEMA_FIELDS (s_fields), target);
    hpt_node_destroy (&root);
    assert_int_equal (schema.problems, hpt_diag_count (diag));
    char *all = hpt_strdup ("");
    for (size_t i = 0; i < hpt_diag_count (diag); i++) {
        char *line = hpt_diag_format (diag, i);
        char *joined = hpt_asprintf ("%s%s\n", all, line);
        free (line);
        free (all);
        all = joined;
    }
    hpt_diag_destroy (&diag);
    return all;
}

//  Asserts that text gives exactly the problem lines want.
static void
s_expect (const char *text, const char *want)
{
    s_target_t target;
    char *got = s_read (text, &target);
    assert_string_equal (got, want);
    free (got);
    free (target.name);
}

static void
test_members (void **state)
{
    s_target_t t;
    char *got = s_read ("name: x\ncount: '7'\nratio: 0.5\non: Yes\ntimeout: 1.5s\n"
                        "grace: 250ms\ngoal: MINIMIZE\n",
                        &t);
    assert_string_equal (got, "");
    assert_string_equal (t.name, "x");
    assert_int_equal (t.count, 7); //  int64 as a string, as the REST API writes it
    assert_true (t.ratio == 0.5);
    assert_true (t.on);
    assert_true (t.timeout == 1.5);
    assert_int_equal (t.grace_ms, 250);
    assert_int_equal (t.goal, HPT_GOAL_MINIMIZE);
    free (got);
    free (t.name);
    //  A null value is an omitted field.
    got = s_read ("name: x\ncount:\n", &t);
    assert_string_equal (got, "");
    assert_int_equal (t.count, 0);
    free (got);
    free (t.name);
}

static void
test_keys (void **state)
{
    s_expect ("name: x\ncuont: 1\n", "s.yaml:2:1: cuont: unknown field (did you mean 'count'?)\n");
    s_expect ("name: x\nzzzzzz: 1\n",
              "s.yaml:2:1: zzzzzz: unknown field (expected name, count, ratio, on, timeout, "
              "grace, goal)\n");
    s_expect ("count: 1\n", "s.yaml:1:1: name: required field is missing (a label)\n");
    s_expect ("name: ~\n", "s.yaml:1:1: name: required field is missing (a label)\n");
    s_expect ("- a\n", "s.yaml:1:1: expected a mapping, got a list\n");
    s_expect ("name: [x\n", "s.yaml:2:1: invalid YAML: did not find expected ',' or ']' while "
                            "parsing a flow sequence\n");
}

static void
test_scalars (void **state)
{
    s_expect ("name: ''\n", "s.yaml:1:7: name: must not be empty\n");
    s_expect ("name: {a: 1}\n", "s.yaml:1:7: name: expected a string, got a mapping\n");
    s_expect ("name: x\ncount: 11\n", "s.yaml:2:8: count: must be between 1 and 10, got 11\n");
    s_expect ("name: x\ncount: 1.0\n", "s.yaml:2:8: count: expected an integer, got '1.0'\n");
    s_expect ("name: x\nratio: 0\n", "s.yaml:2:8: ratio: must be positive and at most 1, got 0\n");
    s_expect ("name: x\nratio: inf\n", "s.yaml:2:8: ratio: expected a number, got 'inf'\n");
    s_expect ("name: x\nratio: 0x1\n", "s.yaml:2:8: ratio: expected a number, got '0x1'\n");
    s_expect ("name: x\non: maybe\n",
              "s.yaml:2:5: on: expected a boolean (true or false), got 'maybe'\n");
}

static void
test_enums (void **state)
{
    //  The refused value is neither accepted nor offered.
    s_expect ("name: x\ngoal: GOAL_TYPE_UNSPECIFIED\n",
              "s.yaml:2:7: goal: unknown value 'GOAL_TYPE_UNSPECIFIED' (expected MAXIMIZE or "
              "MINIMIZE)\n");
    s_expect ("name: x\ngoal: maximise\n",
              "s.yaml:2:7: goal: unknown value 'maximise' (did you mean MAXIMIZE?)\n");
}

static void
test_durations (void **state)
{
    s_expect ("name: x\ntimeout: 500ms\n",
              "s.yaml:2:10: timeout: expected a duration in seconds like \"7200s\", got '500ms'\n");
    s_expect ("name: x\ntimeout: 0s\n",
              "s.yaml:2:10: timeout: duration must be positive, got '0s'\n");
    s_expect ("name: x\ngrace: 0.0001s\n",
              "s.yaml:2:8: grace: must be at least 1ms (or 0s), got '0.0001s'\n");
    s_expect ("name: x\ngrace: 61s\n", "s.yaml:2:8: grace: must be at most 60s, got '61s'\n");
    s_expect ("name: x\ngrace: 1.s\n",
              "s.yaml:2:8: grace: expected a duration like \"10s\", \"1.5s\" or \"500ms\", got "
              "'1.s'\n");
}

static void
test_lists_and_paths (void **state)
{
    hpt_diag_t *diag = hpt_diag_new ("s.json", true);
    hpt_schema_t schema;
    hpt_schema_init (&schema, diag);
    const char *text = "{\"a/b\": [\"x\", \"\", 3]}";
    hpt_node_t *root = hpt_schema_parse (&schema, text, strlen (text), true);
    assert_non_null (root);
    char **strv = NULL;
    size_t count = 0;
    hpt_schema_push_key (&schema, "a/b");
    assert_false (
        hpt_schema_strings (&schema, hpt_node_get (root, "a/b"), 10, true, &strv, &count));
    assert_false (hpt_schema_strings (&schema, hpt_node_get (root, "a/b"), 2, true, &strv, &count));
    hpt_schema_pop (&schema);
    assert_null (strv);
    assert_int_equal (hpt_diag_count (diag), 3);
    const char *want[] = {"s.json: /a~1b/1: must not be empty",
                          "s.json: /a~1b/2: expected a string, got a number",
                          "s.json: /a~1b: at most 2 entries are allowed, got 3"};
    for (size_t i = 0; i < 3; i++) {
        char *line = hpt_diag_format (diag, i);
        assert_string_equal (line, want[i]);
        free (line);
    }
    //  Google's field path quotes a name that is not an identifier.
    assert_string_equal (hpt_diag_entry (diag, 0)->field, "`a/b`[1]");
    assert_string_equal (hpt_diag_entry (diag, 2)->field, "`a/b`");
    hpt_node_destroy (&root);
    hpt_diag_destroy (&diag);
}

//  Google's field path: proto (snake_case) field names, [i] for list
//  items, map keys as they are (backticks when not identifiers), cut but
//  terminated when too long; the BadRequest detail carries it in field and
//  the JSON pointer in hptPointer.
static void
test_google_paths (void **state)
{
    hpt_diag_t *diag = hpt_diag_new ("request", true);
    hpt_schema_t schema;
    hpt_schema_init (&schema, diag);
    hpt_schema_push_key (&schema, "trainingInput");
    hpt_schema_push_key (&schema, "hyperparameters");
    hpt_schema_push_key (&schema, "params");
    hpt_schema_push_index (&schema, 0);
    hpt_schema_error_child (&schema, NULL, "maxValue", "too small");
    hpt_schema_pop (&schema);
    hpt_schema_pop (&schema);
    hpt_schema_pop (&schema);
    hpt_schema_push_key (&schema, "env");
    hpt_schema_push_map_key (&schema, "myVar");
    hpt_schema_error (&schema, NULL, "bad name");
    hpt_schema_pop (&schema);
    hpt_schema_push_map_key (&schema, "a-b`c");
    hpt_schema_error (&schema, NULL, "bad name");
    hpt_schema_pop (&schema);
    hpt_schema_pop (&schema);
    hpt_schema_pop (&schema);
    for (size_t i = 0; i < HPT_SCHEMA_MAX_DEPTH + 4; i++)
        hpt_schema_push_key (&schema, "aVeryLongFieldNameThatRepeatsItselfOverAndOverAgain");
    hpt_schema_error (&schema, NULL, "deep");
    for (size_t i = 0; i < HPT_SCHEMA_MAX_DEPTH + 4; i++)
        hpt_schema_pop (&schema);
    assert_int_equal (hpt_diag_count (diag), 4);
    assert_string_equal (hpt_diag_entry (diag, 0)->field,
                         "training_input.hyperparameters.params[0].max_value");
    assert_string_equal (hpt_diag_entry (diag, 0)->pointer,
                         "/trainingInput/hyperparameters/params/0/maxValue");
    assert_string_equal (hpt_diag_entry (diag, 1)->field, "training_input.env.myVar");
    assert_string_equal (hpt_diag_entry (diag, 2)->field, "training_input.env.`a-b``c`");
    assert_int_equal (strlen (hpt_diag_entry (diag, 3)->field), 511);
    assert_int_equal (strlen (hpt_diag_entry (diag, 3)->pointer), 511);
    json_t *detail = hpt_diag_to_json (diag);
    json_t *first = json_array_get (json_object_get (detail, "fieldViolations"), 0);
    assert_string_equal (json_string_value (json_object_get (first, "field")),
                         "training_input.hyperparameters.params[0].max_value");
    assert_string_equal (json_string_value (json_object_get (first, "hptPointer")),
                         "/trainingInput/hyperparameters/params/0/maxValue");
    assert_string_equal (json_string_value (json_object_get (first, "description")), "too small");
    json_decref (detail);
    hpt_diag_destroy (&diag);
}

static void
test_did_you_mean (void **state)
{
    const char *names[] = {"maxTrials", "maxParallelTrials", "goal"};
    assert_string_equal (hpt_schema_did_you_mean ("MAXTRIALS", names, 3), "maxTrials");
    assert_null (hpt_schema_did_you_mean ("zzzz", names, 3));
    char buf[32];
    hpt_schema_millis_text (1500, buf, sizeof (buf));
    assert_string_equal (buf, "1500ms");
    hpt_schema_millis_text (2000, buf, sizeof (buf));
    assert_string_equal (buf, "2s");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_members),      cmocka_unit_test (test_keys),
        cmocka_unit_test (test_scalars),      cmocka_unit_test (test_enums),
        cmocka_unit_test (test_durations),    cmocka_unit_test (test_lists_and_paths),
        cmocka_unit_test (test_did_you_mean), cmocka_unit_test (test_google_paths),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
