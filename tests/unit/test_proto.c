/*  Unit tests for hpt_msg, the HPT/2 codec: every message through real
    inproc ROUTER/DEALER sockets, every validation rule with its error
    text, and garbage that must be refused without a crash.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hpt_msg.h"
#include "hpt_topology.h"
#include "hpt_test_data.h"

//  ---------------------------------------------------------------------
//  Helpers

static json_t *
s_resources (void)
{
    return json_pack (
        "{s:i, s:f, s:[{s:i, s:[i,i]}], s:[{s:s, s:i, s:s, s:i, s:s, s:f, s:s, "
        "s:[i,i], s:{s:s, s:s}}, {s:s, s:i, s:b, s:[{s:s, s:i, s:s, s:f}]}], s:s}",
        "cpus", 16, "memoryGb", 64.0, "numaNodes", "index", 0, "cpus", 0, 1, "accelerators", "type",
        "NVIDIA_TESLA_V100", "index", 0, "pciBusId", "0000:3b:00.0", "numaNode", 0, "name",
        "Tesla V100", "memoryGb", 15.8, "uuid", "GPU-1234", "cpus", 0, 1, "links", "1", "NV2", "2",
        "SYS", "type", "NVIDIA_A100_80GB", "index", 1, "migEnabled", 1, "mig", "type",
        "NVIDIA_A100_80GB_1G_10GB", "index", 0, "uuid", "MIG-4f2d1e0c-7b3a-5c9d-8e1f-2a3b4c5d6e7f",
        "memoryGb", 9.8, "discovery", "hwloc");
}

//  A valid message of type id with every field set (optional ones too).
static hpt_msg_t *
s_make (hpt_msg_id_t id)
{
    hpt_msg_t *msg = hpt_msg_new (id);
    assert_non_null (msg);
    switch (id) {
        case HPT_MSG_HELLO: {
            assert_int_equal (hpt_msg_set_name (msg, "gpu-box-1"), 0);
            hpt_msg_set_version (msg, "0.1.0");
            hpt_msg_set_advertise (msg, "gpu-box-1.lab");
            hpt_msg_set_ports (msg, 20000, 20999);
            json_t *resources = s_resources ();
            hpt_msg_set_resources (msg, resources);
            json_decref (resources);
            hpt_msg_add_task (msg, "JOB/7/worker/2", 4242, "RUNNING");
            hpt_msg_add_task (msg, "JOB/7/master/0", 4243, "STOPPING");
            hpt_msg_set_acked_seq (msg, 10);
            hpt_msg_set_last_seq (msg, 12);
            break;
        }
        case HPT_MSG_WELCOME:
            hpt_msg_set_heartbeat_ms (msg, 1000);
            hpt_msg_set_agent_timeout_ms (msg, 10000);
            hpt_msg_set_master_epoch (msg, 3);
            hpt_msg_set_acked_seq (msg, 10);
            break;
        case HPT_MSG_REJECT:
            hpt_msg_set_reason (msg, "unsupported protocol version HPT/3");
            hpt_msg_set_retry_ms (msg, 0);
            hpt_msg_add_protocol (msg, 2);
            break;
        case HPT_MSG_HEARTBEAT:
            hpt_msg_set_seq (msg, 12);
            hpt_msg_set_running_tasks (msg, 2);
            hpt_msg_set_load (msg, 1.5);
            break;
        case HPT_MSG_ACK:
            hpt_msg_set_seq (msg, 11);
            break;
        case HPT_MSG_TASK_STARTED:
            hpt_msg_set_seq (msg, 11);
            hpt_msg_set_task_id (msg, "JOB/7/worker/2");
            hpt_msg_set_pid (msg, 4242);
            hpt_msg_set_start_time (msg, 1764386000000);
            break;
        case HPT_MSG_TASK_EXITED:
            hpt_msg_set_seq (msg, 12);
            hpt_msg_set_task_id (msg, "JOB/7/worker/2");
            hpt_msg_set_exit_code (msg, -1);
            hpt_msg_set_signal (msg, 9);
            hpt_msg_set_core_dumped (msg, true);
            hpt_msg_set_reason (msg, "killed by signal 9 after STOP (cancelled)");
            hpt_msg_set_end_time (msg, 1764386001000);
            break;
        case HPT_MSG_METRICS:
            hpt_msg_set_seq (msg, 13);
            hpt_msg_set_task_id (msg, "JOB/7/master/0");
            hpt_msg_add_point (msg, "training/hptuning/metric", 0.93, 100, 1764386000500);
            hpt_msg_add_point (msg, "loss", -2.5e-7, -1, 1764386000600);
            break;
        case HPT_MSG_LOGS:
            hpt_msg_set_seq (msg, 14);
            hpt_msg_set_task_id (msg, "JOB/7/master/0");
            hpt_msg_set_stream (msg, "stderr");
            hpt_msg_set_data (msg, "epoch 1: acc=0.9 \xc3\xa9\n", 20);
            break;
        case HPT_MSG_LAUNCH:
            hpt_msg_set_task_id (msg, "JOB/7/worker/2");
            hpt_msg_set_trial_id (msg, "7");
            hpt_msg_add_arg (msg, "python3");
            hpt_msg_add_arg (msg, "-m");
            hpt_msg_add_arg (msg, "trainer.task");
            hpt_msg_add_arg (msg, "");
            hpt_msg_add_arg (msg, "--learning_rate=0.01");
            hpt_msg_set_env_var (msg, "TF_CONFIG", "{\"cluster\": {}}");
            hpt_msg_set_env_var (msg, "CUDA_VISIBLE_DEVICES", "0,1");
            hpt_msg_set_working_dir (msg, "jobs/JOB/7/worker-2");
            hpt_msg_set_metric_tag (msg, "training/hptuning/metric");
            hpt_msg_add_package_uri (msg, "file:///srv/pkg/trainer-0.1.tar.gz");
            hpt_msg_add_gpu (msg, 0);
            hpt_msg_add_gpu (msg, 1);
            hpt_msg_add_tpu (msg, 3);
            hpt_msg_add_core (msg, 0);
            hpt_msg_add_core (msg, 1);
            hpt_msg_set_stdout_regex (msg, "accuracy=([0-9.]+)");
            hpt_msg_set_run_as (msg, "hpt-task_1.a");
            break;
        case HPT_MSG_STOP:
            hpt_msg_set_task_id (msg, "JOB/7/worker/2");
            hpt_msg_set_reason (msg, "cancelled");
            hpt_msg_set_grace_ms (msg, 3000);
            break;
        case HPT_MSG_DRAIN:
            hpt_msg_set_draining (msg, true);
            hpt_msg_set_reason (msg, "disk replacement");
            break;
        case HPT_MSG_ERROR:
            hpt_msg_set_code (msg, "NOT_REGISTERED");
            hpt_msg_set_reason (msg, "send HELLO first");
            break;
        case HPT_MSG_BYE:
            hpt_msg_set_reason (msg, "shutting down");
            break;
        case HPT_MSG_GPU_FAILED:
            hpt_msg_set_seq (msg, 15);
            hpt_msg_set_gpu_index (msg, 3);
            hpt_msg_set_reason (msg, "XID 79: GPU has fallen off the bus");
            hpt_msg_set_xid (msg, 79);
            hpt_msg_set_time (msg, 1764386002000);
            break;
    }
    hpt_error_t error;
    int rc = hpt_msg_validate (msg, &error);
    if (rc) fprintf (stderr, "%s\n", error.message);
    assert_int_equal (rc, 0);
    return msg;
}

//  Receives one message (NULL when it was dropped or none came).
static hpt_msg_t *
s_recv (zsock_t *input)
{
    hpt_msg_fault_t fault = {0};
    hpt_msg_t *msg = hpt_msg_recv_fault (input, &fault);
    hpt_msg_fault_reset (&fault);
    return msg;
}

//  The body text of msg (caller frees).
static char *
s_body (hpt_msg_t *msg)
{
    char *text = hpt_msg_body_dump (msg);
    assert_non_null (text);
    return text;
}

//  Decodes a message built from frames (NULL-terminated list of strings)
//  and expects it to fail with text containing expected.
static void
s_expect_frames (const char *expected, hpt_msg_fault_kind_t kind, ...)
{
    zmsg_t *msg = zmsg_new ();
    va_list args;
    va_start (args, kind);
    const char *frame;
    while ((frame = va_arg (args, const char *)))
        zmsg_addstr (msg, frame);
    va_end (args);
    hpt_msg_fault_t fault = {0};
    hpt_msg_t *decoded = hpt_msg_decode_fault (&msg, &fault);
    if (decoded || !strstr (fault.text, expected) || fault.kind != kind)
        fprintf (stderr, "expected '%s' (%s), got '%s' (%s)\n", expected, hpt_msg_fault_name (kind),
                 fault.text, hpt_msg_fault_name (fault.kind));
    assert_null (decoded);
    assert_null (msg);
    assert_non_null (strstr (fault.text, expected));
    assert_int_equal (fault.kind, kind);
    hpt_msg_fault_reset (&fault);
}

//  Expects body (for message type name) to be refused with expected.
static void
s_expect_body (const char *type, const char *body, const char *expected)
{
    char signature[64];
    snprintf (signature, sizeof signature, "HPT/2 %s", type);
    s_expect_frames (expected, HPT_MSG_FAULT_BODY, signature, body, NULL);
    //  The spool path applies the same rules.
    hpt_error_t error;
    hpt_msg_t *loaded = hpt_msg_body_load (hpt_msg_id_parse (type), body, &error);
    assert_null (loaded);
    assert_non_null (strstr (error.message, expected));
}

//  Takes a valid message of type id, replaces (or with value NULL removes)
//  one field of its body by raw JSON, and expects the result refused.
static void
s_expect_mutation (hpt_msg_id_t id, const char *field, const char *value, const char *expected)
{
    hpt_msg_t *msg = s_make (id);
    char *text = s_body (msg);
    json_t *body = json_loads (text, 0, NULL);
    free (text);
    if (value) {
        json_t *json = json_loads (value, JSON_DECODE_ANY, NULL);
        assert_non_null (json);
        json_object_set_new (body, field, json);
    } else
        json_object_del (body, field);
    text = json_dumps (body, JSON_COMPACT);
    s_expect_body (hpt_msg_id_name (id), text, expected);
    free (text);
    json_decref (body);
    hpt_msg_destroy (&msg);
}

static char *
s_repeat (char c, size_t n)
{
    char *text = malloc (n + 1);
    memset (text, c, n);
    text[n] = 0;
    return text;
}

//  ---------------------------------------------------------------------
//  Round trips

static void
test_round_trip_sockets (void **state)
{
    zsock_t *router = zsock_new_router ("inproc://test-proto");
    zsock_t *dealer = zsock_new_dealer (">inproc://test-proto");
    assert_non_null (router);
    assert_non_null (dealer);
    zsock_set_rcvtimeo (router, 2000);
    zsock_set_rcvtimeo (dealer, 2000);
    for (int id = 1; id <= HPT_MSG_ID_COUNT; id++) {
        //  Agent to master.
        hpt_msg_t *msg = s_make ((hpt_msg_id_t)id);
        char *sent = s_body (msg);
        assert_int_equal (hpt_msg_send (&msg, dealer), 0);
        assert_null (msg);
        hpt_msg_t *got = s_recv (router);
        assert_non_null (got);
        assert_int_equal (hpt_msg_id (got), id);
        assert_non_null (hpt_msg_routing_id (got));
        char *received = s_body (got);
        assert_string_equal (sent, received);
        free (received);

        //  Master answers over the same routing id.
        hpt_msg_t *answer = s_make ((hpt_msg_id_t)id);
        hpt_msg_set_routing_id (answer, hpt_msg_routing_id (got));
        hpt_msg_destroy (&got);
        assert_int_equal (hpt_msg_send (&answer, router), 0);
        got = s_recv (dealer);
        assert_non_null (got);
        assert_null (hpt_msg_routing_id (got));
        received = s_body (got);
        assert_string_equal (sent, received);
        free (received);
        free (sent);
        hpt_msg_destroy (&got);
    }
    //  A ROUTER cannot send without a routing id; the message is gone.
    hpt_msg_t *msg = s_make (HPT_MSG_ACK);
    assert_int_equal (hpt_msg_send (&msg, router), -1);
    assert_null (msg);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
}

static void
test_typed_fields (void **state)
{
    hpt_msg_t *hello = s_make (HPT_MSG_HELLO);
    zmsg_t *wire = hpt_msg_encode (hello);
    assert_non_null (wire);
    char *signature = zframe_strdup (zmsg_first (wire));
    assert_string_equal (signature, "HPT/2 HELLO");
    free (signature);
    hpt_error_t error;
    hpt_msg_t *copy = hpt_msg_decode (&wire, &error);
    assert_non_null (copy);
    assert_null (wire);
    assert_int_equal (hpt_msg_protocol (copy), 2);
    assert_int_equal (hpt_msg_signature_version (copy), 2);
    assert_string_equal (hpt_msg_name (copy), "gpu-box-1");
    assert_string_equal (hpt_msg_version (copy), "0.1.0");
    assert_string_equal (hpt_msg_advertise (copy), "gpu-box-1.lab");
    assert_int_equal (hpt_msg_port_low (copy), 20000);
    assert_int_equal (hpt_msg_port_high (copy), 20999);
    assert_int_equal (hpt_msg_acked_seq (copy), 10);
    assert_int_equal (hpt_msg_last_seq (copy), 12);
    json_t *resources = hpt_msg_resources (copy);
    assert_int_equal (json_integer_value (json_object_get (resources, "cpus")), 16);
    assert_string_equal (json_string_value (json_object_get (resources, "discovery")), "hwloc");
    assert_int_equal (hpt_msg_task_count (copy), 2);
    const char *task_id, *task_state;
    int64_t pid;
    assert_int_equal (hpt_msg_task_at (copy, 1, &task_id, &pid, &task_state), 0);
    assert_string_equal (task_id, "JOB/7/master/0");
    assert_int_equal (pid, 4243);
    assert_string_equal (task_state, "STOPPING");
    assert_int_equal (hpt_msg_task_at (copy, 2, &task_id, &pid, &task_state), -1);
    //  A field of another message type reads as absent and cannot be set.
    assert_null (hpt_msg_task_id (copy));
    assert_int_equal (hpt_msg_set_task_id (copy, "x"), -1);
    assert_int_equal (hpt_msg_add_gpu (copy, 1), -1);
    hpt_msg_destroy (&copy);
    hpt_msg_destroy (&hello);

    hpt_msg_t *launch = s_make (HPT_MSG_LAUNCH);
    copy = hpt_msg_dup (launch);
    hpt_msg_destroy (&launch);
    assert_string_equal (hpt_msg_task_id (copy), "JOB/7/worker/2");
    assert_string_equal (hpt_msg_trial_id (copy), "7");
    assert_int_equal (hpt_msg_arg_count (copy), 5);
    assert_string_equal (hpt_msg_arg (copy, 2), "trainer.task");
    assert_string_equal (hpt_msg_arg (copy, 3), "");
    assert_null (hpt_msg_arg (copy, 5));
    assert_string_equal (hpt_msg_env_var (copy, "CUDA_VISIBLE_DEVICES"), "0,1");
    assert_int_equal (json_object_size (hpt_msg_env (copy)), 2);
    assert_null (hpt_msg_env_var (copy, "HOME"));
    assert_string_equal (hpt_msg_working_dir (copy), "jobs/JOB/7/worker-2");
    assert_string_equal (hpt_msg_run_as (copy), "hpt-task_1.a");
    assert_string_equal (hpt_msg_metric_tag (copy), "training/hptuning/metric");
    assert_int_equal (hpt_msg_package_uri_count (copy), 1);
    assert_int_equal (hpt_msg_gpu_count (copy), 2);
    assert_int_equal (hpt_msg_gpu (copy, 1), 1);
    assert_int_equal (hpt_msg_tpu_count (copy), 1);
    assert_int_equal (hpt_msg_tpu (copy, 0), 3);
    assert_int_equal (hpt_msg_core_count (copy), 2);
    assert_int_equal (hpt_msg_core (copy, 0), 0);
    assert_int_equal (hpt_msg_core (copy, 9), -1);
    assert_string_equal (hpt_msg_stdout_regex (copy), "accuracy=([0-9.]+)");
    hpt_msg_destroy (&copy);

    hpt_msg_t *metrics = s_make (HPT_MSG_METRICS);
    const char *tag;
    double value;
    int64_t step, time_ms;
    assert_int_equal (hpt_msg_point_count (metrics), 2);
    assert_int_equal (hpt_msg_point_at (metrics, 0, &tag, &value, &step, &time_ms), 0);
    assert_string_equal (tag, "training/hptuning/metric");
    assert_true (value == 0.93);
    assert_int_equal (step, 100);
    assert_int_equal (time_ms, 1764386000500);
    assert_int_equal (hpt_msg_point_at (metrics, 1, &tag, &value, &step, &time_ms), 0);
    assert_int_equal (step, -1);
    assert_true (value == -2.5e-7);
    assert_int_equal (hpt_msg_add_point (metrics, "nan", 0.0 / 0.0, 1, 1), -1);
    hpt_msg_destroy (&metrics);

    hpt_msg_t *exited = s_make (HPT_MSG_TASK_EXITED);
    assert_int_equal (hpt_msg_exit_code (exited), -1);
    assert_int_equal (hpt_msg_signal (exited), 9);
    assert_true (hpt_msg_core_dumped (exited));
    hpt_msg_destroy (&exited);

    //  An agent running nothing says so with the empty list it starts with.
    hpt_msg_t *idle = hpt_msg_new (HPT_MSG_HELLO);
    hpt_msg_set_name (idle, "idle-box");
    hpt_msg_set_version (idle, "0.1.0");
    hpt_msg_set_advertise (idle, "127.0.0.1");
    hpt_msg_set_ports (idle, 20000, 20000);
    json_t *small = json_pack ("{s:i, s:f}", "cpus", 2, "memoryGb", 4.0);
    hpt_msg_set_resources (idle, small);
    json_decref (small);
    hpt_msg_set_acked_seq (idle, 0);
    hpt_msg_set_last_seq (idle, 0);
    assert_int_equal (hpt_msg_validate (idle, NULL), 0);
    assert_int_equal (hpt_msg_task_count (idle), 0);
    hpt_msg_destroy (&idle);

    hpt_msg_t *heartbeat = hpt_msg_new (HPT_MSG_HEARTBEAT);
    hpt_msg_set_seq (heartbeat, 0);
    assert_int_equal (hpt_msg_validate (heartbeat, NULL), 0);
    assert_int_equal (hpt_msg_running_tasks (heartbeat), -1);
    assert_true (hpt_msg_load (heartbeat) == -1.0);
    hpt_msg_destroy (&heartbeat);

    assert_null (hpt_msg_new (0));
    assert_null (hpt_msg_new (HPT_MSG_ID_COUNT + 1));
    assert_string_equal (hpt_msg_id_name (HPT_MSG_TASK_EXITED), "TASK_EXITED");
    assert_string_equal (hpt_msg_id_name (99), "UNKNOWN");
    assert_int_equal (hpt_msg_id_parse ("LAUNCH"), HPT_MSG_LAUNCH);
    assert_int_equal (hpt_msg_id_parse ("launch"), 0);
}

static void
test_logs_data (void **state)
{
    //  Text stays text on the wire.
    hpt_msg_t *logs = s_make (HPT_MSG_LOGS);
    char *body = s_body (logs);
    assert_null (strstr (body, "encoding"));
    free (body);
    size_t size;
    const char *data = hpt_msg_data (logs, &size);
    assert_int_equal (size, 20);
    assert_memory_equal (data, "epoch 1: acc=0.9 \xc3\xa9\n", 20);

    //  Bytes that are not UTF-8 text (NUL, a lone 0xff) go as base64 and
    //  come back exactly, for every length modulo 3.
    for (size_t n = 0; n < 7; n++) {
        unsigned char bytes[8] = {0xff, 0x00, 'a', 0xc3, 0x28, 0x80, 0x00, 'z'};
        assert_int_equal (hpt_msg_set_data (logs, bytes, n + 1), 0);
        zmsg_t *wire = hpt_msg_encode (logs);
        hpt_msg_t *copy = hpt_msg_decode (&wire, NULL);
        assert_non_null (copy);
        const void *back = hpt_msg_data (copy, &size);
        assert_int_equal (size, n + 1);
        assert_memory_equal (back, bytes, n + 1);
        hpt_msg_destroy (&copy);
    }
    body = s_body (logs);
    assert_non_null (strstr (body, "\"encoding\":\"base64\""));
    free (body);
    //  Back to text drops the encoding.
    assert_int_equal (hpt_msg_set_data (logs, "ok", 2), 0);
    body = s_body (logs);
    assert_null (strstr (body, "encoding"));
    free (body);

    //  The limit is on decoded bytes, both ways.
    unsigned char *big = calloc (HPT_MSG_LOG_CHUNK_MAX + 1, 1);
    assert_int_equal (hpt_msg_set_data (logs, big, HPT_MSG_LOG_CHUNK_MAX), 0);
    assert_int_equal (hpt_msg_validate (logs, NULL), 0);
    assert_int_equal (hpt_msg_set_data (logs, big, HPT_MSG_LOG_CHUNK_MAX + 1), 0);
    hpt_error_t error;
    assert_int_equal (hpt_msg_validate (logs, &error), -1);
    assert_non_null (strstr (error.message, "decodes to more than 65536 bytes"));
    memset (big, 'x', HPT_MSG_LOG_CHUNK_MAX + 1);
    assert_int_equal (hpt_msg_set_data (logs, big, HPT_MSG_LOG_CHUNK_MAX + 1), 0);
    assert_int_equal (hpt_msg_validate (logs, &error), -1);
    assert_non_null (strstr (error.message, "longer than 65536 bytes"));
    assert_null (hpt_msg_encode (logs));
    free (big);
    hpt_msg_destroy (&logs);

    s_expect_mutation (HPT_MSG_LOGS, "encoding", "\"base64\"", "not canonical base64");
    s_expect_mutation (HPT_MSG_LOGS, "encoding", "\"gzip\"", "must be \"base64\"");
    s_expect_body ("LOGS",
                   "{\"seq\":1,\"taskId\":\"t\",\"stream\":\"stdout\","
                   "\"data\":\"QQ=B\",\"encoding\":\"base64\"}",
                   "not canonical base64");
    s_expect_body ("LOGS",
                   "{\"seq\":1,\"taskId\":\"t\",\"stream\":\"stdout\","
                   "\"data\":\"QR==\",\"encoding\":\"base64\"}",
                   "not canonical base64");
    s_expect_mutation (HPT_MSG_LOGS, "stream", "\"stdin\"", "must be \"stdout\" or \"stderr\"");
}

static void
test_spool_body (void **state)
{
    //  The agent spools (type name, body text) and replays it later.
    for (int id = 1; id <= HPT_MSG_ID_COUNT; id++) {
        hpt_msg_t *msg = s_make ((hpt_msg_id_t)id);
        char *text = s_body (msg);
        hpt_error_t error;
        hpt_msg_t *loaded =
            hpt_msg_body_load (hpt_msg_id_parse (hpt_msg_id_name (hpt_msg_id (msg))), text, &error);
        assert_non_null (loaded);
        char *again = s_body (loaded);
        assert_string_equal (text, again);
        free (again);
        free (text);
        hpt_msg_destroy (&loaded);
        hpt_msg_destroy (&msg);
    }
    hpt_error_t error;
    assert_null (hpt_msg_body_load (0, "{}", &error));
    assert_non_null (strstr (error.message, "unknown message type"));
}

static void
test_real_topology_is_valid_resources (void **state)
{
    char path[1024];
    hpt_test_path (path, sizeof path, "tests/data/topologies/gpu-host-v100-a.xml");
    hpt_error_t error;
    hpt_topology_t *topology = hpt_topology_new_from_xml (path, &error);
    if (!topology) fprintf (stderr, "%s: %s\n", path, error.message);
    assert_non_null (topology);
    json_t *resources = hpt_topology_to_json (topology);
    hpt_msg_t *hello = s_make (HPT_MSG_HELLO);
    assert_int_equal (hpt_msg_set_resources (hello, resources), 0);
    hpt_error_t text;
    int rc = hpt_msg_validate (hello, &text);
    if (rc) fprintf (stderr, "%s\n", text.message);
    assert_int_equal (rc, 0);
    json_decref (resources);
    hpt_msg_destroy (&hello);
    hpt_topology_destroy (&topology);
}

//  ---------------------------------------------------------------------
//  Framing, signature, version, size

static void
test_framing (void **state)
{
    const char *hb = "{\"seq\":1}";
    s_expect_frames ("expected 2 frames (signature, body), got 3", HPT_MSG_FAULT_FRAMING,
                     "HPT/2 HEARTBEAT", hb, "extra", NULL);
    s_expect_frames ("expected 2 frames (signature, body), got 1", HPT_MSG_FAULT_FRAMING,
                     "HPT/2 HEARTBEAT", NULL);
    s_expect_frames ("got 0", HPT_MSG_FAULT_FRAMING, NULL);
    s_expect_frames ("empty body frame", HPT_MSG_FAULT_FRAMING, "HPT/2 HEARTBEAT", "", NULL);
    s_expect_frames ("empty signature frame", HPT_MSG_FAULT_FRAMING, "", hb, NULL);
    s_expect_frames ("bad signature 'XYZ/1 HEARTBEAT'", HPT_MSG_FAULT_SIGNATURE, "XYZ/1 HEARTBEAT",
                     hb, NULL);
    s_expect_frames ("bad signature", HPT_MSG_FAULT_SIGNATURE, "HPT/2HEARTBEAT", hb, NULL);
    s_expect_frames ("bad signature", HPT_MSG_FAULT_SIGNATURE, "HPT/ HEARTBEAT", hb, NULL);
    s_expect_frames ("bad signature", HPT_MSG_FAULT_SIGNATURE, "HPT/0 HEARTBEAT", hb, NULL);
    s_expect_frames ("bad signature", HPT_MSG_FAULT_SIGNATURE, "HPT/01 HEARTBEAT", hb, NULL);
    s_expect_frames ("bad signature", HPT_MSG_FAULT_SIGNATURE, "HPT/2 heartbeat", hb, NULL);
    s_expect_frames ("bad signature", HPT_MSG_FAULT_SIGNATURE, "HPT/2 HEARTBEAT ", hb, NULL);
    s_expect_frames ("bad signature", HPT_MSG_FAULT_SIGNATURE, "HPT/2 ", hb, NULL);
    s_expect_frames ("bad signature", HPT_MSG_FAULT_SIGNATURE, "HPT/12345 HELLO", hb, NULL);
    char *long_type = s_repeat ('A', 70);
    s_expect_frames ("bad signature", HPT_MSG_FAULT_SIGNATURE, long_type, hb, NULL);
    free (long_type);
    s_expect_frames ("unknown message type 'FOO'", HPT_MSG_FAULT_TYPE, "HPT/2 FOO", hb, NULL);

    //  A foreign version is recognised as such, with the peer's version
    //  and type, so the master can answer REJECT.
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "HPT/3 HELLO");
    zmsg_addstr (msg, "{\"protocol\":3}");
    hpt_msg_fault_t fault = {0};
    assert_null (hpt_msg_decode_fault (&msg, &fault));
    assert_int_equal (fault.kind, HPT_MSG_FAULT_VERSION);
    assert_int_equal (fault.version, 3);
    assert_int_equal (fault.id, HPT_MSG_HELLO);
    assert_string_equal (fault.text, "unsupported protocol version HPT/3 (this side speaks HPT/2)");
    hpt_msg_fault_reset (&fault);
    s_expect_mutation (HPT_MSG_HELLO, "protocol", "1", "does not match HPT/2");

    //  Body size.
    char *huge = malloc (HPT_MSG_BODY_MAX + 2);
    memset (huge, ' ', HPT_MSG_BODY_MAX + 1);
    memcpy (huge, "{\"seq\":1}", 9);
    huge[HPT_MSG_BODY_MAX + 1] = 0;
    s_expect_frames ("body of 1048577 bytes exceeds 1048576", HPT_MSG_FAULT_SIZE, "HPT/2 HEARTBEAT",
                     huge, NULL);
    huge[HPT_MSG_BODY_MAX] = 0; //  exactly the limit: fine
    msg = zmsg_new ();
    zmsg_addstr (msg, "HPT/2 HEARTBEAT");
    zmsg_addstr (msg, huge);
    hpt_msg_t *ok = hpt_msg_decode (&msg, NULL);
    assert_non_null (ok);
    hpt_msg_destroy (&ok);
    free (huge);

    //  A message whose body would exceed the limit is never encoded.
    hpt_msg_t *launch = s_make (HPT_MSG_LAUNCH);
    char *arg = s_repeat ('a', HPT_MSG_ARG_MAX);
    for (int i = 0; i < 9; i++)
        hpt_msg_add_arg (launch, arg);
    free (arg);
    assert_int_equal (hpt_msg_validate (launch, NULL), 0);
    assert_null (hpt_msg_encode (launch));
    assert_null (hpt_msg_body_dump (launch));
    hpt_msg_destroy (&launch);

    //  decode takes NULL gracefully.
    zmsg_t *none = NULL;
    assert_null (hpt_msg_decode (&none, NULL));
    assert_null (hpt_msg_decode (NULL, NULL));
}

//  Version negotiation (PROTOCOL.md §7): REJECT and ERROR keep their
//  HPT/1 bodies in every version, so they go and come in any version's
//  signature; everything else of another version is a version fault.
static void
test_version_negotiation (void **state)
{
    //  An HPT/1 agent's LAUNCH-era message: refused, with its version.
    zmsg_t *wire = zmsg_new ();
    zmsg_addstr (wire, "HPT/1 LAUNCH");
    zmsg_addstr (wire, "{\"taskId\":\"j/1/master/0\",\"jobId\":\"j\",\"trialId\":\"1\","
                       "\"argv\":[\"python3\"],\"metricTag\":\"loss\",\"cpus\":1,"
                       "\"memoryMb\":0,\"graceMs\":1000}");
    hpt_msg_fault_t fault = {0};
    assert_null (hpt_msg_decode_fault (&wire, &fault));
    assert_int_equal (fault.kind, HPT_MSG_FAULT_VERSION);
    assert_int_equal (fault.version, 1);
    assert_int_equal (fault.id, HPT_MSG_LAUNCH);
    assert_string_equal (fault.text, "unsupported protocol version HPT/1 (this side speaks HPT/2)");
    hpt_msg_fault_reset (&fault);

    //  The master's answer to an HPT/1 HELLO: a REJECT an HPT/1 agent reads.
    hpt_msg_t *reject = hpt_msg_new (HPT_MSG_REJECT);
    hpt_msg_set_reason (reject, "unsupported protocol version HPT/1 (this master speaks HPT/2)");
    hpt_msg_add_protocol (reject, HPT_MSG_PROTOCOL);
    assert_int_equal (hpt_msg_signature_version (reject), 2);
    assert_int_equal (hpt_msg_set_signature_version (reject, 1), 0);
    hpt_msg_t *copy = hpt_msg_dup (reject);
    assert_int_equal (hpt_msg_signature_version (copy), 1);
    hpt_msg_destroy (&copy);
    wire = hpt_msg_encode (reject);
    assert_non_null (wire);
    char *signature = zframe_strdup (zmsg_first (wire));
    char *body = zframe_strdup (zmsg_next (wire));
    assert_string_equal (signature, "HPT/1 REJECT");
    assert_string_equal (body, "{\"reason\":\"unsupported protocol version HPT/1 (this master "
                               "speaks HPT/2)\",\"protocols\":[2]}");
    free (signature);
    free (body);
    //  And this codec reads a REJECT of another version back.
    hpt_error_t error;
    copy = hpt_msg_decode (&wire, &error);
    assert_non_null (copy);
    assert_int_equal (hpt_msg_id (copy), HPT_MSG_REJECT);
    assert_int_equal (hpt_msg_signature_version (copy), 1);
    assert_int_equal (hpt_msg_protocol_count (copy), 1);
    assert_int_equal (hpt_msg_protocol_at (copy, 0), 2);
    assert_int_equal (hpt_msg_retry_ms (copy), 0);
    hpt_msg_destroy (&copy);
    hpt_msg_destroy (&reject);

    //  An old master's refusal of this agent, and a newer one's ERROR.
    wire = zmsg_new ();
    zmsg_addstr (wire, "HPT/1 REJECT");
    zmsg_addstr (wire, "{\"reason\":\"unsupported protocol version HPT/2\",\"protocols\":[1]}");
    copy = hpt_msg_decode (&wire, &error);
    assert_non_null (copy);
    assert_int_equal (hpt_msg_protocol_at (copy, 0), 1);
    hpt_msg_destroy (&copy);
    wire = zmsg_new ();
    zmsg_addstr (wire, "HPT/7 ERROR");
    zmsg_addstr (wire, "{\"code\":\"VERSION\",\"reason\":\"x\"}");
    copy = hpt_msg_decode (&wire, &error);
    assert_non_null (copy);
    assert_int_equal (hpt_msg_signature_version (copy), 7);
    hpt_msg_destroy (&copy);
    //  Frozen bodies are checked all the same.
    s_expect_frames ("REJECT: unknown field 'retry'", HPT_MSG_FAULT_BODY, "HPT/1 REJECT",
                     "{\"reason\":\"x\",\"retry\":1}", NULL);

    //  Only REJECT and ERROR may be sent in another version.
    hpt_msg_t *launch = s_make (HPT_MSG_LAUNCH);
    assert_int_equal (hpt_msg_set_signature_version (launch, 1), -1);
    assert_int_equal (hpt_msg_set_signature_version (launch, HPT_MSG_PROTOCOL), 0);
    hpt_msg_destroy (&launch);
    hpt_msg_t *refusal = s_make (HPT_MSG_ERROR);
    assert_int_equal (hpt_msg_set_signature_version (refusal, 0), -1);
    assert_int_equal (hpt_msg_set_signature_version (refusal, 10000), -1);
    assert_int_equal (hpt_msg_set_signature_version (refusal, 9999), 0);
    wire = hpt_msg_encode (refusal);
    signature = zframe_strdup (zmsg_first (wire));
    assert_string_equal (signature, "HPT/9999 ERROR");
    free (signature);
    zmsg_destroy (&wire);
    hpt_msg_destroy (&refusal);
}

//  ---------------------------------------------------------------------
//  Body rules

static void
test_json_rules (void **state)
{
    s_expect_body ("ACK", "{\"seq\":1", "body is not valid JSON");
    s_expect_body ("ACK", "[1]", "body must be a JSON object");
    s_expect_body ("ACK", "\"x\"", "body is not valid JSON");
    s_expect_body ("ACK", "{\"seq\":1,\"seq\":2}", "body is not valid JSON: duplicate object key");
    s_expect_body ("ACK", "{\"seq\":1} {}", "body is not valid JSON");
    s_expect_body ("STOP", "{\"taskId\":\"t\",\"reason\":\"\xff\",\"graceMs\":1}",
                   "body is not valid JSON");
    s_expect_body ("STOP", "{\"taskId\":\"t\",\"reason\":\"a\\u0000b\",\"graceMs\":1}",
                   "body is not valid JSON");
    s_expect_body ("ACK", "{\"seq\":99999999999999999999}", "body is not valid JSON");
    s_expect_body ("ACK", "{\"seq\":1e999}", "body is not valid JSON");
    s_expect_body ("ACK", "{\"seq\":1,\"extra\":true}", "ACK: unknown field 'extra'");
    s_expect_body ("ACK", "{}", "ACK: missing field 'seq'");
    s_expect_body ("ACK", "{\"seq\":\"1\"}", "field 'seq': must be an integer");
    s_expect_body ("ACK", "{\"seq\":1.0}", "field 'seq': must be an integer");
    s_expect_body ("ACK", "{\"seq\":0}", "field 'seq': must be in [1, 9007199254740991]");
    s_expect_body ("ACK", "{\"seq\":9007199254740992}", "must be in");
    s_expect_body ("ACK", "{\"seq\":null}", "must be an integer");
    //  Nesting is bounded by the parser.
    char deep[5000];
    memset (deep, '[', 4000);
    strcpy (deep + 4000, "]");
    s_expect_body ("ACK", deep, "body is not valid JSON");
}

static void
test_missing_fields (void **state)
{
    //  Every required field of every message is required.
    static const struct {
        hpt_msg_id_t id;
        const char *field;
    } required[] = {
        {HPT_MSG_HELLO, "name"},
        {HPT_MSG_HELLO, "version"},
        {HPT_MSG_HELLO, "advertise"},
        {HPT_MSG_HELLO, "ports"},
        {HPT_MSG_HELLO, "resources"},
        {HPT_MSG_HELLO, "tasks"},
        {HPT_MSG_HELLO, "ackedSeq"},
        {HPT_MSG_HELLO, "lastSeq"},
        {HPT_MSG_HELLO, "protocol"},
        {HPT_MSG_WELCOME, "heartbeatMs"},
        {HPT_MSG_WELCOME, "agentTimeoutMs"},
        {HPT_MSG_WELCOME, "masterEpoch"},
        {HPT_MSG_WELCOME, "ackedSeq"},
        {HPT_MSG_REJECT, "reason"},
        {HPT_MSG_HEARTBEAT, "seq"},
        {HPT_MSG_TASK_STARTED, "pid"},
        {HPT_MSG_TASK_STARTED, "startTime"},
        {HPT_MSG_TASK_EXITED, "exitCode"},
        {HPT_MSG_TASK_EXITED, "signal"},
        {HPT_MSG_TASK_EXITED, "reason"},
        {HPT_MSG_TASK_EXITED, "endTime"},
        {HPT_MSG_TASK_EXITED, "seq"},
        {HPT_MSG_METRICS, "points"},
        {HPT_MSG_METRICS, "taskId"},
        {HPT_MSG_LOGS, "stream"},
        {HPT_MSG_LOGS, "data"},
        {HPT_MSG_LAUNCH, "taskId"},
        {HPT_MSG_LAUNCH, "trialId"},
        {HPT_MSG_LAUNCH, "argv"},
        {HPT_MSG_LAUNCH, "metricTag"},
        {HPT_MSG_STOP, "taskId"},
        {HPT_MSG_STOP, "reason"},
        {HPT_MSG_STOP, "graceMs"},
        {HPT_MSG_DRAIN, "draining"},
        {HPT_MSG_ERROR, "code"},
        {HPT_MSG_GPU_FAILED, "seq"},
        {HPT_MSG_GPU_FAILED, "gpu"},
        {HPT_MSG_GPU_FAILED, "reason"},
        {HPT_MSG_GPU_FAILED, "time"},
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char expected[128];
        snprintf (expected, sizeof expected, "%s: missing field '%s'",
                  hpt_msg_id_name (required[i].id), required[i].field);
        s_expect_mutation (required[i].id, required[i].field, NULL, expected);
    }
    //  Optional fields may go.
    static const struct {
        hpt_msg_id_t id;
        const char *field;
    } optional[] = {{HPT_MSG_LAUNCH, "env"},         {HPT_MSG_LAUNCH, "workingDir"},
                    {HPT_MSG_LAUNCH, "gpus"},        {HPT_MSG_LAUNCH, "tpus"},
                    {HPT_MSG_LAUNCH, "cpuSet"},      {HPT_MSG_TASK_EXITED, "coreDumped"},
                    {HPT_MSG_LAUNCH, "stdoutRegex"}, {HPT_MSG_LAUNCH, "packageUris"},
                    {HPT_MSG_REJECT, "retryMs"},     {HPT_MSG_HEARTBEAT, "load"},
                    {HPT_MSG_DRAIN, "reason"},       {HPT_MSG_BYE, "reason"},
                    {HPT_MSG_LAUNCH, "runAs"},       {HPT_MSG_GPU_FAILED, "xid"}};
    for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++) {
        hpt_msg_t *msg = s_make (optional[i].id);
        char *text = s_body (msg);
        json_t *body = json_loads (text, 0, NULL);
        json_object_del (body, optional[i].field);
        free (text);
        text = json_dumps (body, JSON_COMPACT);
        hpt_error_t error;
        hpt_msg_t *loaded = hpt_msg_body_load (optional[i].id, text, &error);
        assert_non_null (loaded);
        hpt_msg_destroy (&loaded);
        free (text);
        json_decref (body);
        hpt_msg_destroy (&msg);
    }
}

static void
test_field_rules (void **state)
{
    char *long_name = s_repeat ('a', 129);
    char *json_name = malloc (140);
    snprintf (json_name, 140, "\"%s\"", long_name);
    s_expect_mutation (HPT_MSG_HELLO, "name", json_name, "field 'name': longer than 128 bytes");
    s_expect_mutation (HPT_MSG_TASK_STARTED, "taskId", "\"\"", "must not be empty");
    free (long_name);
    free (json_name);
    s_expect_mutation (HPT_MSG_HELLO, "name", "\"gpu box\"", "must be [A-Za-z0-9._:-]");
    s_expect_mutation (HPT_MSG_HELLO, "name", "\"-x\"", "starting with a letter or digit");
    s_expect_mutation (HPT_MSG_HELLO, "name", "7", "field 'name': must be a string");
    s_expect_mutation (HPT_MSG_HELLO, "advertise", "\"host;rm\"", "host name or address");
    s_expect_mutation (HPT_MSG_HELLO, "version", "\"1\\n2\"", "control characters");
    s_expect_mutation (HPT_MSG_HELLO, "ports", "[3, 2]", "low must not exceed high");
    s_expect_mutation (HPT_MSG_HELLO, "ports", "[0, 2]", "must be in [1, 65535]");
    s_expect_mutation (HPT_MSG_HELLO, "ports", "[1]", "must be [low, high]");
    s_expect_mutation (HPT_MSG_HELLO, "ackedSeq", "13", "must not exceed lastSeq");
    s_expect_mutation (HPT_MSG_HELLO, "tasks", "{}", "field 'tasks': must be an array");
    s_expect_mutation (HPT_MSG_HELLO, "tasks", "[{\"taskId\":\"a\",\"pid\":1}]",
                       "tasks'[0].state: must be \"RUNNING\", \"STOPPING\" or \"EXITED\"");
    s_expect_mutation (HPT_MSG_HELLO, "tasks",
                       "[{\"taskId\":\"a\",\"pid\":1,\"state\":\"RUNNING\",\"x\":1}]",
                       "unknown field 'x'");
    s_expect_mutation (HPT_MSG_HELLO, "tasks",
                       "[{\"taskId\":\"a\",\"pid\":1,\"state\":\"RUNNING\"},"
                       "{\"taskId\":\"a\",\"pid\":2,\"state\":\"RUNNING\"}]",
                       "repeats an earlier task");
    s_expect_mutation (HPT_MSG_HELLO, "tasks",
                       "[{\"taskId\":\"a\",\"pid\":0,\"state\":\"RUNNING\"}]",
                       "pid: must be in [1, 2147483647]");
    s_expect_mutation (HPT_MSG_HELLO, "resources", "{\"memoryGb\":1}",
                       "field 'resources'.cpus: must be a number");
    s_expect_mutation (HPT_MSG_HELLO, "resources", "{\"cpus\":0,\"memoryGb\":1}",
                       "must be more than 0");
    s_expect_mutation (HPT_MSG_HELLO, "resources", "{\"cpus\":1,\"memoryGb\":-1}",
                       "memoryGb: must be in");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"accelerators\":{}}",
                       "accelerators: must be an array");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"accelerators\":[{\"index\":0}]}",
                       "accelerators[0].type: must be a string");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"accelerators\":[{\"type\":\"T4\","
                       "\"index\":0,\"uuid\":7}]}",
                       "accelerators[0].uuid: must be a string");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"numaNodes\":[{\"cpus\":[-1]}]}",
                       "numaNodes[0].cpus[0]: must be in");
    s_expect_mutation (HPT_MSG_WELCOME, "agentTimeoutMs", "1999", "at least twice heartbeatMs");
    s_expect_mutation (HPT_MSG_WELCOME, "heartbeatMs", "5", "must be in [10, 600000]");
    s_expect_mutation (HPT_MSG_WELCOME, "masterEpoch", "0", "must be in");
    s_expect_mutation (HPT_MSG_REJECT, "reason", "\"\"", "must not be empty");
    s_expect_mutation (HPT_MSG_REJECT, "protocols", "[1, 1]", "repeats an earlier entry");
    s_expect_mutation (HPT_MSG_HEARTBEAT, "load", "-1", "field 'load': must be in");
    s_expect_mutation (HPT_MSG_HEARTBEAT, "load", "\"high\"", "field 'load': must be a number");
    s_expect_mutation (HPT_MSG_TASK_STARTED, "pid", "0", "field 'pid': must be in");
    s_expect_mutation (HPT_MSG_TASK_STARTED, "taskId", "\"JOB/../x\"", "must not contain '..'");
    s_expect_mutation (HPT_MSG_TASK_STARTED, "taskId", "\"JOB//x\"", "'//'");
    s_expect_mutation (HPT_MSG_TASK_STARTED, "taskId", "\"JOB/x/\"", "end with '/'");
    s_expect_mutation (HPT_MSG_TASK_STARTED, "taskId", "\"/JOB\"", "starting with a letter");
    s_expect_mutation (HPT_MSG_TASK_EXITED, "exitCode", "256", "must be in [-1, 255]");
    s_expect_mutation (HPT_MSG_TASK_EXITED, "signal", "-1", "must be in [0, 128]");
    s_expect_mutation (HPT_MSG_TASK_EXITED, "coreDumped", "1",
                       "field 'coreDumped': must be a boolean");
    s_expect_mutation (HPT_MSG_METRICS, "points", "[]", "must have 1 to 10000 entries");
    s_expect_mutation (HPT_MSG_METRICS, "points", "[{\"tag\":\"a\",\"value\":\"x\",\"time\":1}]",
                       "points'[0].value: must be a number");
    s_expect_mutation (HPT_MSG_METRICS, "points", "[{\"tag\":\"\",\"value\":1,\"time\":1}]",
                       "points'[0].tag: must not be empty");
    s_expect_mutation (HPT_MSG_METRICS, "points",
                       "[{\"tag\":\"a\",\"value\":1,\"time\":1,\"step\":-1}]",
                       "points'[0].step: must be in");
    s_expect_mutation (HPT_MSG_METRICS, "points", "[{\"tag\":\"a\",\"value\":1}]",
                       "points'[0].time: must be an integer");
    s_expect_mutation (HPT_MSG_LAUNCH, "workingDir", "\"../escape\"", "must not contain '..'");
    s_expect_mutation (HPT_MSG_LAUNCH, "workingDir", "\"a/b/..\"", "must not contain '..'");
    s_expect_mutation (HPT_MSG_LAUNCH, "workingDir", "\"a/../b\"", "must not contain '..'");
    s_expect_mutation (HPT_MSG_LAUNCH, "workingDir", "\"/etc\"", "must be a relative path");
    s_expect_mutation (HPT_MSG_LAUNCH, "workingDir", "\"\"", "must not be empty");
    s_expect_mutation (HPT_MSG_LAUNCH, "workingDir", "\"a\\tb\"", "control characters");
    s_expect_mutation (HPT_MSG_LAUNCH, "runAs", "\"\"", "must not be empty");
    s_expect_mutation (HPT_MSG_LAUNCH, "runAs", "\"1000\"", "must be a user name");
    s_expect_mutation (HPT_MSG_LAUNCH, "runAs", "\"-rf\"", "must be a user name");
    s_expect_mutation (HPT_MSG_LAUNCH, "runAs", "\"a/b\"", "must be a user name");
    s_expect_mutation (HPT_MSG_LAUNCH, "runAs", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
                       "longer than 32 bytes");
    s_expect_mutation (HPT_MSG_LAUNCH, "argv", "[]", "must have 1 to 4096 entries without 'image'");
    s_expect_mutation (HPT_MSG_LAUNCH, "argv", "[\"\"]", "argv[0] must not be empty");
    s_expect_mutation (HPT_MSG_LAUNCH, "argv", "[\"a\", 1]", "field 'argv'[1]: must be a string");
    s_expect_mutation (HPT_MSG_LAUNCH, "env", "{\"1X\":\"a\"}", "variable name '1X'");
    s_expect_mutation (HPT_MSG_LAUNCH, "env", "{\"A=B\":\"a\"}", "variable name 'A=B'");
    s_expect_mutation (HPT_MSG_LAUNCH, "env", "{\"A\":1}", "field 'env'.A: must be a string");
    s_expect_mutation (HPT_MSG_LAUNCH, "env", "[]", "field 'env': must be an object");
    s_expect_mutation (HPT_MSG_LAUNCH, "gpus", "[0, 0]", "repeats an earlier entry");
    s_expect_mutation (HPT_MSG_LAUNCH, "gpus", "[-1]", "must be in [0, 65535]");
    s_expect_mutation (HPT_MSG_LAUNCH, "cpuSet", "[65536]", "must be in [0, 65535]");
    s_expect_mutation (HPT_MSG_LAUNCH, "tpus", "[1, 1]",
                       "field 'tpus'[1]: repeats an earlier entry");
    s_expect_mutation (HPT_MSG_LAUNCH, "tpus", "[65536]", "must be in [0, 65535]");
    //  A container's limits and entrypoint come only with its image.
    s_expect_mutation (HPT_MSG_LAUNCH, "cpus", "1", "field 'cpus': only with 'image'");
    s_expect_mutation (HPT_MSG_LAUNCH, "memoryMb", "0", "field 'memoryMb': only with 'image'");
    s_expect_mutation (HPT_MSG_LAUNCH, "containerCommand", "[\"sh\"]",
                       "field 'containerCommand': only with 'image'");
    s_expect_mutation (HPT_MSG_LAUNCH, "image", "\"--privileged\"", "must be an image reference");
    s_expect_mutation (HPT_MSG_LAUNCH, "image", "\"a b\"", "must be an image reference");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"containers\":{\"runtime\":\"podman\"}}",
                       "containers.gpus: must be a boolean");
    s_expect_mutation (
        HPT_MSG_HELLO, "resources",
        "{\"cpus\":1,\"memoryGb\":1,\"containers\":{\"runtime\":\"\",\"gpus\":true}}",
        "containers.runtime: must not be empty");
    //  The GPU link matrix, MIG instances and MIG placements.
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"accelerators\":[{\"type\":\"T4\","
                       "\"index\":0,\"links\":{\"1\":\"NV0\"}}]}",
                       "accelerators[0].links.1: must be NV1..NV64, PIX, PXB, PHB, NODE or SYS");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"accelerators\":[{\"type\":\"T4\","
                       "\"index\":0,\"links\":{\"1\":\"NV65\"}}]}",
                       "must be NV1..NV64");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"accelerators\":[{\"type\":\"T4\","
                       "\"index\":0,\"links\":{\"1\":\"NV123\"}}]}",
                       "must be NV1..NV64");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"accelerators\":[{\"type\":\"T4\","
                       "\"index\":0,\"links\":{\"01\":\"PIX\"}}]}",
                       "accelerators[0].links: '01' is not a GPU index");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"accelerators\":[{\"type\":\"T4\","
                       "\"index\":0,\"links\":{\"65536\":\"PIX\"}}]}",
                       "'65536' is not a GPU index");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"accelerators\":[{\"type\":\"T4\","
                       "\"index\":0,\"links\":[]}]}",
                       "accelerators[0].links: must be an object");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"accelerators\":[{\"type\":\"T4\","
                       "\"index\":0,\"migEnabled\":1}]}",
                       "accelerators[0].migEnabled: must be a boolean");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"accelerators\":[{\"type\":\"T4\","
                       "\"index\":0,\"mig\":[{\"type\":\"T4_1G_5GB\",\"uuid\":\"MIG-1\"}]}]}",
                       "accelerators[0].mig[0].index: must be an integer");
    s_expect_mutation (HPT_MSG_HELLO, "resources",
                       "{\"cpus\":1,\"memoryGb\":1,\"accelerators\":[{\"type\":\"T4\","
                       "\"index\":0,\"mig\":[{\"type\":\"T4_1G_5GB\",\"index\":0,"
                       "\"uuid\":\"MIG 1\"}]}]}",
                       "accelerators[0].mig[0].uuid: must be [A-Za-z0-9._:-]");
    s_expect_mutation (HPT_MSG_LAUNCH, "migs", "[2, 2]",
                       "field 'migs'[1]: repeats an earlier entry");
    s_expect_mutation (HPT_MSG_LAUNCH, "migs", "[0]",
                       "field 'migs': not with 'gpus' (a task gets whole GPUs or MIG instances)");
    s_expect_mutation (HPT_MSG_GPU_FAILED, "gpu", "-1", "field 'gpu': must be in [0, 65535]");
    s_expect_mutation (HPT_MSG_GPU_FAILED, "reason", "\"\"", "field 'reason': must not be empty");
    s_expect_mutation (HPT_MSG_GPU_FAILED, "xid", "\"79\"", "field 'xid': must be an integer");
    s_expect_mutation (HPT_MSG_GPU_FAILED, "taskId", "\"a\"", "GPU_FAILED: unknown field 'taskId'");
    s_expect_mutation (HPT_MSG_LAUNCH, "graceMs", "1", "LAUNCH: unknown field 'graceMs'");
    s_expect_mutation (HPT_MSG_LAUNCH, "jobId", "\"j\"", "LAUNCH: unknown field 'jobId'");
    s_expect_mutation (HPT_MSG_LOGS, "offset", "0", "LOGS: unknown field 'offset'");
    s_expect_mutation (HPT_MSG_TASK_EXITED, "stopped", "true",
                       "TASK_EXITED: unknown field 'stopped'");
    s_expect_mutation (HPT_MSG_LAUNCH, "metricTag", "\"a\\nb\"", "control characters");
    s_expect_mutation (HPT_MSG_STOP, "graceMs", "-5", "must be in [0, 3600000]");
    s_expect_mutation (HPT_MSG_DRAIN, "draining", "\"yes\"", "must be a boolean");
    s_expect_mutation (HPT_MSG_ERROR, "code", "\"bad code\"", "must be [A-Z0-9_]");
}

//  A container LAUNCH: the image's entrypoint may run without arguments,
//  and the container members round-trip.
static void
test_container_launch (void **state)
{
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_LAUNCH);
    hpt_msg_set_task_id (msg, "j/1/master/0");
    hpt_msg_set_trial_id (msg, "1");
    hpt_msg_set_metric_tag (msg, "loss");
    hpt_msg_set_image (msg, "localhost/trainer:1");
    assert_int_equal (hpt_msg_validate (msg, NULL), 0);
    hpt_msg_add_container_command (msg, "/bin/sh");
    hpt_msg_add_container_command (msg, "-c");
    hpt_msg_add_arg (msg, "--lr=0.1");
    hpt_msg_set_cpus (msg, 2.5);
    hpt_msg_set_memory_mb (msg, 1024);
    char *body = hpt_msg_body_dump (msg);
    assert_non_null (body);
    hpt_error_t error;
    hpt_msg_t *back = hpt_msg_body_load (HPT_MSG_LAUNCH, body, &error);
    assert_non_null (back);
    assert_string_equal (hpt_msg_image (back), "localhost/trainer:1");
    assert_int_equal (hpt_msg_container_command_count (back), 2);
    assert_string_equal (hpt_msg_container_command (back, 1), "-c");
    assert_string_equal (hpt_msg_arg (back, 0), "--lr=0.1");
    assert_true (hpt_msg_cpus (back) == 2.5);
    assert_int_equal (hpt_msg_memory_mb (back), 1024);
    free (body);
    hpt_msg_destroy (&back);
    hpt_msg_destroy (&msg);
}

//  A MIG LAUNCH and a GPU_FAILED event round-trip their members; the
//  HELLO of s_make carries a link matrix and MIG instances.
static void
test_gpu_members (void **state)
{
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_LAUNCH);
    hpt_msg_set_task_id (msg, "j/1/master/0");
    hpt_msg_set_trial_id (msg, "1");
    hpt_msg_set_metric_tag (msg, "loss");
    hpt_msg_add_arg (msg, "train");
    assert_int_equal (hpt_msg_add_mig (msg, 5), 0);
    char *body = hpt_msg_body_dump (msg);
    assert_non_null (body);
    hpt_error_t error;
    hpt_msg_t *back = hpt_msg_body_load (HPT_MSG_LAUNCH, body, &error);
    assert_non_null (back);
    assert_int_equal (hpt_msg_mig_count (back), 1);
    assert_int_equal (hpt_msg_mig (back, 0), 5);
    assert_int_equal (hpt_msg_gpu_count (back), 0);
    free (body);
    hpt_msg_destroy (&back);
    hpt_msg_destroy (&msg);
    //  Only GPU_FAILED has the GPU members.
    hpt_msg_t *failed = s_make (HPT_MSG_GPU_FAILED);
    body = hpt_msg_body_dump (failed);
    back = hpt_msg_body_load (HPT_MSG_GPU_FAILED, body, &error);
    assert_non_null (back);
    assert_int_equal (hpt_msg_gpu_index (back), 3);
    assert_int_equal (hpt_msg_xid (back), 79);
    assert_int_equal (hpt_msg_time (back), 1764386002000);
    assert_string_equal (hpt_msg_reason (back), "XID 79: GPU has fallen off the bus");
    assert_int_equal (hpt_msg_set_xid (msg = hpt_msg_new (HPT_MSG_HEARTBEAT), 1), -1);
    hpt_msg_destroy (&msg);
    free (body);
    hpt_msg_destroy (&back);
    hpt_msg_destroy (&failed);
    hpt_msg_t *hello = s_make (HPT_MSG_HELLO);
    json_t *accels = json_object_get (hpt_msg_resources (hello), "accelerators");
    assert_string_equal (json_string_value (json_object_get (
                             json_object_get (json_array_get (accels, 0), "links"), "1")),
                         "NV2");
    hpt_msg_destroy (&hello);
}

static void
test_oversized_arrays (void **state)
{
    hpt_msg_t *metrics = s_make (HPT_MSG_METRICS);
    for (int i = 2; i < HPT_MSG_POINTS_MAX; i++)
        hpt_msg_add_point (metrics, "m", i, i, 1);
    assert_int_equal (hpt_msg_validate (metrics, NULL), 0);
    zmsg_t *wire = hpt_msg_encode (metrics);
    assert_non_null (wire);
    hpt_msg_t *copy = hpt_msg_decode (&wire, NULL);
    assert_non_null (copy);
    assert_int_equal (hpt_msg_point_count (copy), HPT_MSG_POINTS_MAX);
    hpt_msg_destroy (&copy);
    hpt_msg_add_point (metrics, "m", 1, 1, 1);
    hpt_error_t error;
    assert_int_equal (hpt_msg_validate (metrics, &error), -1);
    assert_string_equal (error.message, "METRICS: field 'points': must have 1 to 10000 entries");
    hpt_msg_destroy (&metrics);

    //  A full batch of the longest points still fits the body limit.
    metrics = hpt_msg_new (HPT_MSG_METRICS);
    hpt_msg_set_seq (metrics, 1);
    hpt_msg_set_task_id (metrics, "t");
    char *worst = s_repeat ('"', HPT_MSG_NAME_MAX);
    for (int i = 0; i < HPT_MSG_POINTS_BATCH; i++)
        hpt_msg_add_point (metrics, worst, -1.2345678901234567e-308, 9007199254740991,
                           253402300799999);
    free (worst);
    wire = hpt_msg_encode (metrics);
    assert_non_null (wire);
    zmsg_destroy (&wire);
    hpt_msg_destroy (&metrics);

    hpt_msg_t *launch = s_make (HPT_MSG_LAUNCH);
    for (int i = 5; i <= HPT_MSG_ARGS_MAX; i++)
        hpt_msg_add_arg (launch, "x");
    assert_int_equal (hpt_msg_validate (launch, NULL), -1);
    hpt_msg_destroy (&launch);

    launch = s_make (HPT_MSG_LAUNCH);
    for (int i = 0; i <= HPT_MSG_ENV_MAX; i++) {
        char name[32];
        snprintf (name, sizeof name, "V%d", i);
        hpt_msg_set_env_var (launch, name, "1");
    }
    assert_int_equal (hpt_msg_validate (launch, &error), -1);
    assert_non_null (strstr (error.message, "field 'env': more than 4096 entries"));
    hpt_msg_destroy (&launch);

    launch = s_make (HPT_MSG_LAUNCH);
    for (int i = 2; i <= HPT_MSG_GPUS_MAX; i++)
        hpt_msg_add_gpu (launch, i);
    assert_int_equal (hpt_msg_validate (launch, &error), -1);
    assert_non_null (strstr (error.message, "field 'gpus': must have 0 to 1024 entries"));
    hpt_msg_destroy (&launch);

    launch = s_make (HPT_MSG_LAUNCH);
    char *arg = s_repeat ('a', HPT_MSG_ARG_MAX + 1);
    hpt_msg_add_arg (launch, arg);
    free (arg);
    assert_int_equal (hpt_msg_validate (launch, &error), -1);
    assert_non_null (strstr (error.message, "field 'argv'[5]: longer than 131071 bytes"));
    hpt_msg_destroy (&launch);

    hpt_msg_t *hello = s_make (HPT_MSG_HELLO);
    for (int i = 2; i <= HPT_MSG_TASKS_MAX; i++) {
        char id[32];
        snprintf (id, sizeof id, "t%d", i);
        hpt_msg_add_task (hello, id, i, "RUNNING");
    }
    assert_int_equal (hpt_msg_validate (hello, &error), -1);
    assert_non_null (strstr (error.message, "field 'tasks': more than 4096 entries"));
    hpt_msg_destroy (&hello);
}

static void
test_setters_refuse (void **state)
{
    hpt_msg_t *stop = hpt_msg_new (HPT_MSG_STOP);
    assert_int_equal (hpt_msg_set_reason (stop, "bad \xff utf-8"), -1);
    assert_int_equal (hpt_msg_set_reason (stop, NULL), -1);
    assert_int_equal (hpt_msg_set_seq (stop, 1), -1);
    assert_int_equal (hpt_msg_set_data (stop, "x", 1), -1);
    assert_int_equal (hpt_msg_set_env_var (stop, "A", "b"), -1);
    hpt_error_t error;
    assert_int_equal (hpt_msg_validate (stop, &error), -1);
    assert_string_equal (error.message, "STOP: missing field 'taskId'");
    assert_null (hpt_msg_encode (stop));
    zsock_t *dealer = zsock_new_dealer (NULL);
    assert_int_equal (hpt_msg_send (&stop, dealer), -1);
    assert_null (stop);
    zsock_destroy (&dealer);
    hpt_msg_t *launch = hpt_msg_new (HPT_MSG_LAUNCH);
    assert_int_equal (hpt_msg_set_grace_ms (launch, 1), -1);
    assert_int_equal (hpt_msg_set_env_var (launch, "A", "\xc3"), -1);
    hpt_msg_destroy (&launch);
    hpt_msg_destroy (&launch);
    hpt_msg_destroy (NULL);
}

//  ---------------------------------------------------------------------
//  Faults on real sockets, garbage

static void
test_faults_on_router (void **state)
{
    zsock_t *router = zsock_new_router ("inproc://test-proto-faults");
    zsock_t *dealer = zsock_new_dealer (">inproc://test-proto-faults");
    zsock_set_rcvtimeo (router, 2000);
    zsock_set_rcvtimeo (dealer, 2000);
    //  Garbage from an agent: dropped with a fault that keeps the sender.
    zstr_sendm (dealer, "HPT/2 LAUNCH");
    zstr_send (dealer, "{\"taskId\":\"t\"}");
    hpt_msg_fault_t fault = {0};
    assert_null (hpt_msg_recv_fault (router, &fault));
    assert_int_equal (fault.kind, HPT_MSG_FAULT_BODY);
    assert_int_equal (fault.id, HPT_MSG_LAUNCH);
    assert_string_equal (hpt_msg_fault_name (fault.kind), "body");
    assert_non_null (strstr (fault.text, "LAUNCH: missing field"));
    assert_non_null (fault.routing_id);
    //  The master answers ERROR to it and goes on.
    hpt_msg_t *error = hpt_msg_new (HPT_MSG_ERROR);
    hpt_msg_set_code (error, "MALFORMED");
    hpt_msg_set_reason (error, fault.text);
    hpt_msg_set_routing_id (error, fault.routing_id);
    hpt_msg_fault_reset (&fault);
    assert_null (fault.routing_id);
    assert_int_equal (hpt_msg_send (&error, router), 0);
    hpt_msg_t *got = s_recv (dealer);
    assert_non_null (got);
    assert_string_equal (hpt_msg_code (got), "MALFORMED");
    hpt_msg_destroy (&got);

    //  A future agent: the version fault lets the master answer REJECT.
    zstr_sendm (dealer, "HPT/3 HELLO");
    zstr_send (dealer, "{\"protocol\":3,\"whatever\":[]}");
    assert_null (hpt_msg_recv_fault (router, &fault));
    assert_int_equal (fault.kind, HPT_MSG_FAULT_VERSION);
    assert_int_equal (fault.version, 3);
    hpt_msg_fault_reset (&fault);

    //  One frame only, then a valid message: the stream is not disturbed.
    zstr_send (dealer, "lonely");
    assert_null (hpt_msg_recv_fault (router, &fault));
    assert_int_equal (fault.kind, HPT_MSG_FAULT_FRAMING);
    hpt_msg_fault_reset (&fault);
    hpt_msg_t *ack = s_make (HPT_MSG_HEARTBEAT);
    assert_int_equal (hpt_msg_send (&ack, dealer), 0);
    got = s_recv (router);
    assert_non_null (got);
    assert_int_equal (hpt_msg_id (got), HPT_MSG_HEARTBEAT);
    hpt_msg_destroy (&got);

    //  Interrupted / timed out.
    assert_null (hpt_msg_recv_fault (router, &fault));
    assert_int_equal (fault.kind, HPT_MSG_FAULT_INTERRUPTED);
    hpt_msg_fault_reset (&fault);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
}

//  xorshift, so the garbage is the same on every run.
static uint64_t
s_next (uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static void
test_garbage_never_crashes (void **state)
{
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    //  Valid encodings of every type, mutated byte by byte.
    size_t decoded = 0;
    for (int round = 0; round < 3000; round++) {
        hpt_msg_id_t id = (hpt_msg_id_t)(1 + round % HPT_MSG_ID_COUNT);
        hpt_msg_t *msg = s_make (id);
        zmsg_t *wire = hpt_msg_encode (msg);
        hpt_msg_destroy (&msg);
        zframe_t *signature = zmsg_pop (wire);
        zframe_t *body = zmsg_pop (wire);
        zmsg_destroy (&wire);
        zframe_t *target = s_next (&rng) % 8 == 0 ? signature : body;
        unsigned char *bytes = zframe_data (target);
        size_t flips = 1 + s_next (&rng) % 4;
        for (size_t k = 0; k < flips; k++)
            bytes[s_next (&rng) % zframe_size (target)] = (unsigned char)s_next (&rng);
        wire = zmsg_new ();
        zmsg_append (wire, &signature);
        zmsg_append (wire, &body);
        hpt_error_t error;
        hpt_msg_t *result = hpt_msg_decode (&wire, &error);
        if (result) {
            //  What passes must encode again.
            decoded++;
            zmsg_t *again = hpt_msg_encode (result);
            assert_non_null (again);
            zmsg_destroy (&again);
            hpt_msg_destroy (&result);
        } else
            assert_true (strlen (error.message) > 0);
    }
    //  Pure noise, any frame count.
    for (int round = 0; round < 3000; round++) {
        zmsg_t *wire = zmsg_new ();
        size_t frames = s_next (&rng) % 4;
        for (size_t f = 0; f < frames; f++) {
            unsigned char noise[64];
            size_t n = s_next (&rng) % sizeof noise;
            for (size_t k = 0; k < n; k++)
                noise[k] = (unsigned char)s_next (&rng);
            if (f == 0 && n > 8 && s_next (&rng) % 2) memcpy (noise, "HPT/2 ACK", 9), n = 9;
            zmsg_addmem (wire, noise, n);
        }
        assert_null (hpt_msg_decode (&wire, NULL));
        assert_null (wire);
    }
    //  Some mutations survive (they change a value within its rules).
    assert_true (decoded > 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_round_trip_sockets),
        cmocka_unit_test (test_typed_fields),
        cmocka_unit_test (test_logs_data),
        cmocka_unit_test (test_spool_body),
        cmocka_unit_test (test_real_topology_is_valid_resources),
        cmocka_unit_test (test_framing),
        cmocka_unit_test (test_version_negotiation),
        cmocka_unit_test (test_json_rules),
        cmocka_unit_test (test_missing_fields),
        cmocka_unit_test (test_field_rules),
        cmocka_unit_test (test_container_launch),
        cmocka_unit_test (test_gpu_members),
        cmocka_unit_test (test_oversized_arrays),
        cmocka_unit_test (test_setters_refuse),
        cmocka_unit_test (test_faults_on_router),
        cmocka_unit_test (test_garbage_never_crashes),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
