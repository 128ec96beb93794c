/*  Unit tests for the master's cluster.yaml reader, the built-in machine
    types and scale tiers, and the expansion of a job into one trial
    cluster's tasks.

    Each validation rule has a test that feeds a small file breaking only
    that rule and asserts the exact line:column, field path and a telling
    part of the message.
*/
#include "hpt_cluster_config.h"
#include "hpt_job_reader.h"
#include "hpt_test_data.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static hpt_cluster_config_t *
s_read (const char *text, hpt_diag_t **diag)
{
    *diag = hpt_diag_new ("c.yaml", false);
    return hpt_cluster_config_read_text (text, strlen (text), *diag);
}

//  Reads a valid file or fails with its problems.
static hpt_cluster_config_t *
s_read_ok (const char *text)
{
    hpt_diag_t *diag;
    hpt_cluster_config_t *config = s_read (text, &diag);
    if (!config || hpt_diag_count (diag)) {
        hpt_diag_print (diag, stderr);
        fail_msg ("expected a valid file, got %zu problems", hpt_diag_count (diag));
    }
    hpt_diag_destroy (&diag);
    return config;
}

//  Asserts that text gives exactly one problem printed as
//  "c.yaml:WHERE: PATH: ..." with fragment in its message.
static void
s_expect_one (const char *text, const char *where, const char *path, const char *fragment)
{
    hpt_diag_t *diag;
    hpt_cluster_config_t *config = s_read (text, &diag);
    if (config || hpt_diag_count (diag) != 1) {
        hpt_diag_print (diag, stderr);
        fail_msg ("expected exactly one problem at %s %s, got %zu", where, path,
                  hpt_diag_count (diag));
    }
    char *line = hpt_diag_format (diag, 0);
    char prefix[512];
    //  A problem of the whole document prints without a field path.
    if (*path)
        snprintf (prefix, sizeof (prefix), "c.yaml:%s: %s: ", where, path);
    else
        snprintf (prefix, sizeof (prefix), "c.yaml:%s: ", where);
    if (strncmp (line, prefix, strlen (prefix)) != 0 || !strstr (line, fragment))
        fail_msg ("got '%s', want prefix '%s' and '%s'", line, prefix, fragment);
    free (line);
    hpt_diag_destroy (&diag);
}

static char *
s_data_path (const char *name)
{
    const char *src = hpt_test_source_dir ();
    size_t size = strlen (src) + strlen (name) + 64;
    char *path = malloc (size);
    snprintf (path, size, "%s/tests/data/clusters/%s", src, name);
    return path;
}

static hpt_job_t *
s_job (const char *yaml)
{
    hpt_diag_t *diag = hpt_diag_new ("job.yaml", false);
    hpt_job_t *job = hpt_job_read_text (yaml, strlen (yaml), HPT_CONFIG_YAML, diag);
    hpt_diag_print (diag, stderr);
    assert_non_null (job);
    hpt_diag_destroy (&diag);
    return job;
}

static void
s_assert_task (const hpt_task_spec_t *task, const char *replica, size_t index, const char *type,
               double cpus, int64_t memory_mb, const char *accel, int64_t accel_count)
{
    assert_string_equal (task->replica, replica);
    assert_int_equal (task->index, index);
    assert_string_equal (task->machine_type, type);
    assert_true (task->cpus == cpus);
    assert_int_equal (task->memory_mb, memory_mb);
    if (accel)
        assert_string_equal (task->accelerator_type, accel);
    else
        assert_null (task->accelerator_type);
    assert_int_equal (task->accelerator_count, accel_count);
}

//  ---------------------------------------------------------------------
//  Defaults and files

static void
s_assert_defaults (hpt_cluster_config_t *config)
{
    const hpt_master_settings_t *m = hpt_cluster_config_master (config);
    assert_string_equal (m->agents, "tcp://127.0.0.1:7460");
    assert_string_equal (m->api, "127.0.0.1:7470");
    assert_string_equal (m->api_host, "127.0.0.1");
    assert_int_equal (m->api_port, 7470);
    assert_string_equal (m->state_dir, "./hpt-state");
    assert_int_equal (m->heartbeat_interval_ms, 1000);
    assert_int_equal (m->agent_timeout_ms, 10000);
    assert_int_equal (m->stop_grace_ms, 10000);
    assert_int_equal (m->agent_lost_policy, HPT_AGENT_LOST_FAIL);
    assert_int_equal (m->seed, 0);
    hpt_machine_catalog_t *machines = hpt_cluster_config_machines (config);
    assert_int_equal (hpt_machine_catalog_type_count (machines), 32);
    assert_int_equal (hpt_machine_catalog_tier_count (machines), 5);
}

static void
test_empty_is_defaults (void **state)
{
    const char *texts[] = {"",
                           "\n\n",
                           "# nothing here\n  # indented comment\n",
                           "---\n",
                           "--- # a comment\n...\n",
                           "~\n",
                           "master:\n"};
    for (size_t i = 0; i < sizeof (texts) / sizeof (texts[0]); i++) {
        hpt_cluster_config_t *config = s_read_ok (texts[i]);
        s_assert_defaults (config);
        hpt_cluster_config_destroy (&config);
        assert_null (config);
    }
    char *path = s_data_path ("empty.yaml");
    hpt_diag_t *diag = hpt_diag_new (path, false);
    hpt_cluster_config_t *config = hpt_cluster_config_read_file (path, diag);
    assert_non_null (config);
    assert_int_equal (hpt_diag_count (diag), 0);
    s_assert_defaults (config);
    hpt_cluster_config_destroy (&config);
    hpt_diag_destroy (&diag);
    free (path);
}

static void
test_missing_file (void **state)
{
    hpt_diag_t *diag = hpt_diag_new ("/nonexistent/cluster.yaml", false);
    hpt_cluster_config_t *config = hpt_cluster_config_read_file ("/nonexistent/cluster.yaml", diag);
    assert_null (config);
    assert_int_equal (hpt_diag_count (diag), 1);
    char *line = hpt_diag_format (diag, 0);
    assert_string_equal (line, "/nonexistent/cluster.yaml: cannot open: No such file or directory");
    free (line);
    hpt_diag_destroy (&diag);
}

static void
test_lab_file (void **state)
{
    char *path = s_data_path ("seed-lab.yaml");
    hpt_diag_t *diag = hpt_diag_new (path, false);
    hpt_cluster_config_t *config = hpt_cluster_config_read_file (path, diag);
    hpt_diag_print (diag, stderr);
    assert_non_null (config);
    const hpt_master_settings_t *m = hpt_cluster_config_master (config);
    assert_string_equal (m->api_host, "127.0.0.1");
    assert_int_equal (m->api_port, 0);
    assert_int_equal (m->heartbeat_interval_ms, 200);
    assert_int_equal (m->agent_timeout_ms, 2000);
    assert_int_equal (m->stop_grace_ms, 2000);
    assert_int_equal (m->agent_lost_policy, HPT_AGENT_LOST_REQUEUE);
    assert_string_equal (hpt_agent_lost_policy_name (m->agent_lost_policy), "requeue");
    assert_int_equal (m->seed, 7);
    hpt_machine_catalog_t *machines = hpt_cluster_config_machines (config);
    const hpt_machine_type_t *pair = hpt_machine_catalog_type (machines, "gpu_pair");
    assert_non_null (pair);
    assert_false (pair->builtin);
    assert_string_equal (pair->accelerator_type, "NVIDIA_TESLA_V100");
    assert_int_equal (pair->accelerator_count, 2);
    //  32 built-ins, 2 of them redefined, plus gpu_pair.
    assert_int_equal (hpt_machine_catalog_type_count (machines), 33);
    const hpt_scale_tier_def_t *tier = hpt_machine_catalog_tier (machines, "STANDARD_1");
    assert_false (tier->builtin);
    assert_int_equal (tier->worker.count, 2);
    assert_string_equal (tier->parameter_server.type, "large_model");
    assert_null (tier->evaluator.type);

    //  The seed's cluster fits the resized types: 13 tasks of 2 or 1.5 CPUs.
    char *seed = malloc (1024);
    hpt_test_path (seed, 1024, "tests/data/configs/valid/seed_config.yaml");
    hpt_diag_t *job_diag = hpt_diag_new (seed, false);
    hpt_job_t *job = hpt_job_read_file (seed, HPT_CONFIG_AUTO, job_diag);
    assert_non_null (job);
    hpt_task_spec_t *tasks;
    size_t count;
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, NULL), 0);
    assert_int_equal (count, 13);
    double cpus = 0;
    for (size_t i = 0; i < count; i++)
        cpus += tasks[i].cpus;
    assert_true (cpus == 10 * 2 + 3 * 1.5);
    s_assert_task (&tasks[12], "ps", 2, "large_model", 1.5, 4096, NULL, 0);
    hpt_task_specs_destroy (&tasks, count);
    assert_null (tasks);
    hpt_job_destroy (&job);
    hpt_diag_destroy (&job_diag);
    free (seed);
    hpt_cluster_config_destroy (&config);
    hpt_diag_destroy (&diag);
    free (path);
}

//  The documented example must stay valid and mean what its comments say.
static void
test_ops_example (void **state)
{
    char path[1024];
    hpt_test_path (path, sizeof (path), "ops/cluster.example.yaml");
    hpt_diag_t *diag = hpt_diag_new (path, false);
    hpt_cluster_config_t *config = hpt_cluster_config_read_file (path, diag);
    hpt_diag_print (diag, stderr);
    assert_non_null (config);
    const hpt_master_settings_t *m = hpt_cluster_config_master (config);
    assert_string_equal (m->agents, "tcp://*:7460");
    assert_string_equal (m->state_dir, "/var/lib/hpt");
    assert_int_equal (m->stop_grace_ms, 30000);
    assert_int_equal (m->agent_lost_policy, HPT_AGENT_LOST_REQUEUE);
    hpt_job_t *job = s_job ("trainingInput: {scaleTier: STANDARD_1}\n");
    hpt_task_spec_t *tasks;
    size_t count;
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, NULL), 0);
    assert_int_equal (count, 4);
    double cpus = 0;
    int64_t memory_mb = 0, gpus = 0;
    for (size_t i = 0; i < count; i++) {
        cpus += tasks[i].cpus;
        memory_mb += tasks[i].memory_mb;
        gpus += tasks[i].accelerator_count;
    }
    //  "25.5 cores, 100 GB, 4 V100s": one 32-core, 128 GB, 4-GPU box.
    assert_true (cpus == 25.5);
    assert_int_equal (memory_mb, 100 * 1024);
    assert_int_equal (gpus, 4);
    s_assert_task (&tasks[0], "master", 0, "v100_pair", 12, 48 * 1024, "NVIDIA_TESLA_V100", 2);
    s_assert_task (&tasks[3], "ps", 0, "small", 1.5, 4096, NULL, 0);
    hpt_task_specs_destroy (&tasks, count);
    hpt_job_destroy (&job);
    hpt_cluster_config_destroy (&config);
    hpt_diag_destroy (&diag);
}

static void
test_every_problem_at_once (void **state)
{
    char *path = s_data_path ("invalid-many.yaml");
    hpt_diag_t *diag = hpt_diag_new ("invalid-many.yaml", false);
    hpt_cluster_config_t *config = hpt_cluster_config_read_file (path, diag);
    assert_null (config);
    const char *want[] = {
        "invalid-many.yaml:3:11: master.agents: expected a ZeroMQ endpoint",
        "invalid-many.yaml:4:8: master.api: expected HOST:PORT",
        "invalid-many.yaml:5:22: master.heartbeatInterval: expected a duration",
        "invalid-many.yaml:6:20: master.agentLostPolicy: unknown value 'retry' (expected fail "
        "or requeue)",
        "invalid-many.yaml:7:3: master.sed: unknown field (did you mean 'seed'?)",
        "invalid-many.yaml:9:15: machineTypes.box.cpus: must be positive",
        "invalid-many.yaml:9:28: machineTypes.box.memoryGb: must be between 0 and",
        "invalid-many.yaml:10:57: machineTypes.gpu_box.accelerators.type: unknown accelerator "
        "type 'NVIDIA_TESLA_V10' (did you mean NVIDIA_TESLA_V100?)",
        "invalid-many.yaml:10:82: machineTypes.gpu_box.accelerators.count: must be between 1 "
        "and 64, got 0",
        "invalid-many.yaml:14:20: scaleTiers.STANDARD_1.worker.type: unknown machine type "
        "'standrd' (did you mean 'standard'?)",
        "invalid-many.yaml:14:36: scaleTiers.STANDARD_1.worker.count: must be between 0 and "
        "10000, got -2",
        "invalid-many.yaml:15:3: scaleTiers.CUSTOM: CUSTOM cannot be redefined",
    };
    size_t n = sizeof (want) / sizeof (want[0]);
    if (hpt_diag_count (diag) != n) {
        hpt_diag_print (diag, stderr);
        fail_msg ("want %zu problems, got %zu", n, hpt_diag_count (diag));
    }
    for (size_t i = 0; i < n; i++) {
        char *line = hpt_diag_format (diag, i);
        if (strncmp (line, want[i], strlen (want[i])) != 0)
            fail_msg ("problem %zu: got '%s', want '%s...'", i, line, want[i]);
        free (line);
    }
    hpt_diag_destroy (&diag);
    free (path);
}

static void
test_syntax_error (void **state)
{
    char *path = s_data_path ("invalid-syntax.yaml");
    hpt_diag_t *diag = hpt_diag_new ("invalid-syntax.yaml", false);
    assert_null (hpt_cluster_config_read_file (path, diag));
    assert_int_equal (hpt_diag_count (diag), 1);
    assert_int_equal (hpt_diag_entry (diag, 0)->line, 2);
    hpt_diag_destroy (&diag);
    free (path);
    s_expect_one ("- master\n", "1:1", "", "expected a mapping, got a list");
}

//  ---------------------------------------------------------------------
//  master: rules

static void
test_rule_unknown_keys (void **state)
{
    s_expect_one ("mastr:\n  seed: 1\n", "1:1", "mastr", "unknown field (did you mean 'master'?)");
    s_expect_one ("master:\n  agentTimout: 20s\n", "2:3", "master.agentTimout",
                  "did you mean 'agentTimeout'?");
    s_expect_one ("master:\n  tokens: abc\n", "2:3", "master.tokens", "unknown field");
    s_expect_one ("machineTypes:\n  x: {cpus: 1, memoryGb: 1, gpus: 2}\n", "2:29",
                  "machineTypes.x.gpus", "unknown field");
    s_expect_one ("scaleTiers:\n  BASIC: {master: standard, workers: standard}\n", "2:29",
                  "scaleTiers.BASIC.workers", "did you mean 'worker'?");
}

static void
test_rule_durations (void **state)
{
    hpt_cluster_config_t *config =
        s_read_ok ("master:\n  heartbeatInterval: 250ms\n  agentTimeout: 1.5s\n"
                   "  stopGracePeriod: 0s\n");
    const hpt_master_settings_t *m = hpt_cluster_config_master (config);
    assert_int_equal (m->heartbeat_interval_ms, 250);
    assert_int_equal (m->agent_timeout_ms, 1500);
    assert_int_equal (m->stop_grace_ms, 0);
    hpt_cluster_config_destroy (&config);

    s_expect_one ("master:\n  heartbeatInterval: 1\n", "2:22", "master.heartbeatInterval",
                  "expected a duration like \"10s\", \"1.5s\" or \"500ms\", got '1'");
    s_expect_one ("master:\n  heartbeatInterval: 1m\n", "2:22", "master.heartbeatInterval",
                  "expected a duration");
    s_expect_one ("master:\n  heartbeatInterval: .5s\n", "2:22", "master.heartbeatInterval",
                  "expected a duration");
    s_expect_one ("master:\n  heartbeatInterval: 0s\n", "2:22", "master.heartbeatInterval",
                  "must be at least 1ms");
    s_expect_one ("master:\n  stopGracePeriod: 0.0001s\n", "2:20", "master.stopGracePeriod",
                  "must be at least 1ms (or 0s)");
    s_expect_one ("master:\n  agentTimeout: 8d\n", "2:17", "master.agentTimeout",
                  "expected a duration");
    s_expect_one ("master:\n  agentTimeout: 700000s\n", "2:17", "master.agentTimeout",
                  "at most 7 days");
    s_expect_one ("master:\n  stopGracePeriod: [1s]\n", "2:20", "master.stopGracePeriod",
                  "got a list");
}

static void
test_rule_agent_timeout (void **state)
{
    //  Given explicitly: reported at agentTimeout.
    s_expect_one ("master:\n  heartbeatInterval: 1s\n  agentTimeout: 2s\n", "3:17",
                  "master.agentTimeout",
                  "agentTimeout (2s) must exceed 2 x heartbeatInterval (1s)");
    //  Only the heartbeat given: the default timeout is too short for it.
    s_expect_one ("master:\n  heartbeatInterval: 5s\n", "2:22", "master.heartbeatInterval",
                  "agentTimeout (10s) must exceed 2 x heartbeatInterval (5s)");
    hpt_cluster_config_t *config =
        s_read_ok ("master:\n  heartbeatInterval: 1s\n  agentTimeout: 2001ms\n");
    hpt_cluster_config_destroy (&config);
}

//  An agents endpoint other hosts can reach needs CURVE keys or an
//  explicit insecure: true; loopback and ipc need neither.
static void
test_rule_security (void **state)
{
    const char *local[] = {"tcp://127.0.0.1:7460", "tcp://[::1]:7460", "tcp://localhost:7460",
                           "ipc:///tmp/hpt.sock"};
    for (size_t i = 0; i < sizeof (local) / sizeof (local[0]); i++) {
        char text[256];
        snprintf (text, sizeof (text), "master:\n  agents: %s\n", local[i]);
        hpt_cluster_config_t *config = s_read_ok (text);
        assert_null (hpt_cluster_config_master (config)->curve_cert);
        hpt_cluster_config_destroy (&config);
    }
    s_expect_one ("master:\n  agents: tcp://*:7460\n", "2:11", "master.agents",
                  "can be reached from other hosts: set master.security.curve");
    s_expect_one ("master:\n  agents: tcp://10.0.0.1:7460\n", "2:11", "master.agents",
                  "master.security.insecure: true");
    hpt_cluster_config_t *config =
        s_read_ok ("master:\n  agents: tcp://*:7460\n  security:\n    curve:\n"
                   "      cert: /etc/hpt/master.cert_secret\n      agentCerts: /etc/hpt/agents\n");
    const hpt_master_settings_t *m = hpt_cluster_config_master (config);
    assert_string_equal (m->curve_cert, "/etc/hpt/master.cert_secret");
    assert_string_equal (m->curve_agent_certs, "/etc/hpt/agents");
    assert_false (m->insecure);
    assert_int_equal (m->max_agents, HPT_CLUSTER_DEFAULT_MAX_AGENTS);
    hpt_cluster_config_destroy (&config);
    s_expect_one ("master:\n  security:\n    curve:\n      cert: /x\n", "4:7",
                  "master.security.curve.agentCerts", "required");
    s_expect_one ("master:\n  maxAgents: 0\n", "2:14", "master.maxAgents",
                  "must be between 1 and 1000000");
}

//  master.tls: cert and key together; read as given (whether they are a
//  usable pair is checked when the master starts, hpt_tls).
static void
test_tls (void **state)
{
    hpt_cluster_config_t *config = s_read_ok ("master:\n  api: 127.0.0.1:7470\n");
    assert_null (hpt_cluster_config_master (config)->tls_cert);
    assert_null (hpt_cluster_config_master (config)->tls_key);
    hpt_cluster_config_destroy (&config);
    config = s_read_ok ("master:\n  tls:\n    cert: /etc/hpt/server.pem\n"
                        "    key: /etc/hpt/server.key\n");
    assert_string_equal (hpt_cluster_config_master (config)->tls_cert, "/etc/hpt/server.pem");
    assert_string_equal (hpt_cluster_config_master (config)->tls_key, "/etc/hpt/server.key");
    hpt_cluster_config_destroy (&config);
    s_expect_one ("master:\n  tls:\n    cert: /etc/hpt/server.pem\n", "3:5", "master.tls.key",
                  "required field is missing (the certificate's PEM key file");
    s_expect_one ("master:\n  tls: {key: server.key}\n", "2:8", "master.tls.cert",
                  "required field is missing (the API's PEM certificate file");
    s_expect_one ("master:\n  tls: {cert: '', key: k}\n", "2:15", "master.tls.cert", "empty");
    s_expect_one ("master:\n  tls: {cert: c, key: k, ca: x}\n", "2:26", "master.tls.ca",
                  "unknown field");
    s_expect_one ("master:\n  tls: server.pem\n", "2:8", "master.tls", "mapping");
}

static void
test_slurm (void **state)
{
    hpt_cluster_config_t *config = s_read_ok ("master:\n  seed: 1\n");
    assert_false (hpt_cluster_config_slurm (config)->present);
    hpt_cluster_config_destroy (&config);
    config = s_read_ok ("slurm:\n  partition: gpu\n");
    const hpt_slurm_settings_t *s = hpt_cluster_config_slurm (config);
    assert_true (s->present);
    assert_string_equal (s->partition, "gpu");
    assert_null (s->account);
    assert_string_equal (s->agent_command, "/usr/bin/hptagent");
    assert_string_equal (s->workdir, "/tmp/hpt-slurm");
    assert_int_equal (s->use, HPT_SLURM_USE_ALWAYS);
    assert_int_equal (s->max_jobs, 64);
    assert_int_equal (s->poll_ms, 5000);
    assert_int_equal (s->command_ms, 30000);
    hpt_cluster_config_destroy (&config);
    config = s_read_ok ("slurm:\n  partition: gpu\n  account: ml\n  qos: normal\n"
                        "  reservation: r1\n  sbatchArgs: ['--time=04:00:00', '--exclusive']\n"
                        "  agentCommand: /opt/hpt/bin/hptagent\n  workdir: /scratch/hpt\n"
                        "  master: tcp://head.lab:7460\n  use: overflow\n  maxJobs: 8\n"
                        "  pollInterval: 2s\n  commandTimeout: 10s\n");
    s = hpt_cluster_config_slurm (config);
    assert_string_equal (s->account, "ml");
    assert_string_equal (s->qos, "normal");
    assert_string_equal (s->reservation, "r1");
    assert_int_equal (s->sbatch_arg_count, 2);
    assert_string_equal (s->sbatch_args[1], "--exclusive");
    assert_string_equal (s->agent_command, "/opt/hpt/bin/hptagent");
    assert_string_equal (s->master, "tcp://head.lab:7460");
    assert_int_equal (s->use, HPT_SLURM_USE_OVERFLOW);
    assert_int_equal (s->max_jobs, 8);
    assert_int_equal (s->poll_ms, 2000);
    hpt_cluster_config_destroy (&config);
    s_expect_one ("slurm:\n  account: ml\n", "2:3", "slurm.partition",
                  "required field is missing (the Slurm partition");
    s_expect_one ("slurm:\n  partition: 'gpu;rm'\n", "2:14", "slurm.partition", "not a Slurm name");
    s_expect_one ("slurm:\n  partition: gpu\n  use: sometimes\n", "3:8", "slurm.use", "always");
    s_expect_one ("slurm:\n  partition: gpu\n  maxJobs: 0\n", "3:12", "slurm.maxJobs", "");
    s_expect_one ("slurm:\n  partition: gpu\n  agentCommand: hptagent\n", "3:17",
                  "slurm.agentCommand", "absolute path");
    s_expect_one ("slurm:\n  partition: gpu\n  workdir: '/tmp/a b'\n", "3:12", "slurm.workdir",
                  "absolute path");
    s_expect_one ("slurm:\n  partition: gpu\n  sbatchArgs: ['--job-name=x']\n", "3:16",
                  "slurm.sbatchArgs[0]", "--job-name is set by hpt");
    s_expect_one ("slurm:\n  partition: gpu\n  sbatchArgs: ['-t 5']\n", "3:16",
                  "slurm.sbatchArgs[0]", "long sbatch option");
    s_expect_one ("slurm:\n  partition: gpu\n  master: 'tcp://*:7460'\n", "3:11", "slurm.master",
                  "as the compute nodes reach it");
    s_expect_one ("slurm:\n  partition: gpu\n  maxjobs: 3\n", "3:3", "slurm.maxjobs", "maxJobs");
}

static void
test_rule_endpoints (void **state)
{
    const char *agents_ok[] = {"tcp://127.0.0.1:1", "tcp://*:7460",        "tcp://gpu-01.lab:65535",
                               "tcp://[::1]:7460",  "ipc:///tmp/hpt.sock", "tcp://eth0:7460"};
    for (size_t i = 0; i < sizeof (agents_ok) / sizeof (agents_ok[0]); i++) {
        char text[256];
        //  Reachable from other hosts: only with keys, or said to be insecure.
        snprintf (text, sizeof (text), "master:\n  agents: %s\n  security: {insecure: true}\n",
                  agents_ok[i]);
        hpt_cluster_config_t *config = s_read_ok (text);
        assert_string_equal (hpt_cluster_config_master (config)->agents, agents_ok[i]);
        hpt_cluster_config_destroy (&config);
    }
    const char *agents_bad[] = {"http://127.0.0.1:7460",
                                "tcp://127.0.0.1",
                                "tcp://:7460",
                                "tcp://host:0",
                                "tcp://host:65536",
                                "tcp://host:12a",
                                "tcp://::1:7460",
                                "ipc://",
                                "inproc://x",
                                "tcp://a b:1"};
    for (size_t i = 0; i < sizeof (agents_bad) / sizeof (agents_bad[0]); i++) {
        char text[256];
        snprintf (text, sizeof (text), "master:\n  agents: '%s'\n", agents_bad[i]);
        s_expect_one (text, "2:11", "master.agents", "expected a ZeroMQ endpoint");
    }
    char long_ipc[300] = "master:\n  agents: ipc://";
    memset (long_ipc + strlen (long_ipc), 'a', 108);
    strcat (long_ipc, "\n");
    s_expect_one (long_ipc, "2:11", "master.agents", "at most 107 bytes");

    hpt_cluster_config_t *config = s_read_ok ("master:\n  api: '[::1]:8080'\n");
    assert_string_equal (hpt_cluster_config_master (config)->api_host, "::1");
    assert_int_equal (hpt_cluster_config_master (config)->api_port, 8080);
    hpt_cluster_config_destroy (&config);
    config = s_read_ok ("master:\n  api: localhost:0\n");
    assert_string_equal (hpt_cluster_config_master (config)->api_host, "localhost");
    assert_int_equal (hpt_cluster_config_master (config)->api_port, 0);
    hpt_cluster_config_destroy (&config);
    const char *api_bad[] = {"127.0.0.1", ":7470",       "127.0.0.1:70000", "http://127.0.0.1:7470",
                             "[::1:7470", "127.0.0.1:-1"};
    for (size_t i = 0; i < sizeof (api_bad) / sizeof (api_bad[0]); i++) {
        char text[256];
        snprintf (text, sizeof (text), "master:\n  api: '%s'\n", api_bad[i]);
        s_expect_one (text, "2:8", "master.api", "expected HOST:PORT");
    }
}

static void
test_rule_master_scalars (void **state)
{
    s_expect_one ("master:\n  agentLostPolicy: retry\n", "2:20", "master.agentLostPolicy",
                  "unknown value 'retry' (expected fail or requeue)");
    s_expect_one ("master:\n  seed: -1\n", "2:9", "master.seed", "must be at least 0, got -1");
    s_expect_one ("master:\n  seed: 1.5\n", "2:9", "master.seed", "expected an integer");
    s_expect_one ("master:\n  stateDir: ''\n", "2:13", "master.stateDir", "must not be empty");
    s_expect_one ("master:\n  stateDir: {a: 1}\n", "2:13", "master.stateDir",
                  "expected a string, got a mapping");
    s_expect_one ("master: 3\n", "1:9", "master", "expected a mapping");
    hpt_cluster_config_t *config =
        s_read_ok ("master:\n  seed: 9007199254740993\n  stateDir: /var/lib/hpt\n");
    assert_int_equal (hpt_cluster_config_master (config)->seed, 9007199254740993ULL);
    assert_string_equal (hpt_cluster_config_master (config)->state_dir, "/var/lib/hpt");
    hpt_cluster_config_destroy (&config);
}

//  ---------------------------------------------------------------------
//  machineTypes: rules

static void
test_rule_machine_types (void **state)
{
    s_expect_one ("machineTypes:\n  x: {cpus: 0, memoryGb: 1}\n", "2:13", "machineTypes.x.cpus",
                  "must be positive");
    s_expect_one ("machineTypes:\n  x: {cpus: -2, memoryGb: 1}\n", "2:13", "machineTypes.x.cpus",
                  "must be positive");
    s_expect_one ("machineTypes:\n  x: {cpus: many, memoryGb: 1}\n", "2:13", "machineTypes.x.cpus",
                  "expected a number, got 'many'");
    s_expect_one ("machineTypes:\n  x: {cpus: .nan, memoryGb: 1}\n", "2:13", "machineTypes.x.cpus",
                  "expected a number");
    s_expect_one ("machineTypes:\n  x: {cpus: 1, memoryGb: -0.5}\n", "2:26",
                  "machineTypes.x.memoryGb", "must be between 0 and");
    s_expect_one ("machineTypes:\n  x: {memoryGb: 1}\n", "2:6", "machineTypes.x.cpus",
                  "required field is missing");
    s_expect_one ("machineTypes:\n  x: {cpus: 1}\n", "2:6", "machineTypes.x.memoryGb",
                  "required field is missing");
    s_expect_one ("machineTypes:\n  x: standard\n", "2:6", "machineTypes.x",
                  "expected a mapping, got a scalar");
    s_expect_one ("machineTypes:\n  'big box': {cpus: 1, memoryGb: 1}\n", "2:3",
                  "machineTypes.big box", "not a usable machine type name");
    s_expect_one ("machineTypes: [a]\n", "1:15", "machineTypes", "expected a mapping");
    //  Fractional CPUs and zero memory are fine.
    hpt_cluster_config_t *config = s_read_ok ("machineTypes:\n  tiny: {cpus: 0.25, memoryGb: 0}\n");
    const hpt_machine_type_t *tiny =
        hpt_machine_catalog_type (hpt_cluster_config_machines (config), "tiny");
    assert_true (tiny->cpus == 0.25);
    assert_true (tiny->memory_gb == 0);
    assert_null (tiny->accelerator_type);
    hpt_cluster_config_destroy (&config);
}

static void
test_rule_accelerators (void **state)
{
    s_expect_one ("machineTypes:\n  x: {cpus: 1, memoryGb: 1, accelerators: {type: "
                  "NVIDIA_TESLA_V10}}\n",
                  "2:50", "machineTypes.x.accelerators.type",
                  "unknown accelerator type 'NVIDIA_TESLA_V10' (did you mean NVIDIA_TESLA_V100?)");
    s_expect_one ("machineTypes:\n  x: {cpus: 1, memoryGb: 1, accelerators: {type: QUANTUM}}\n",
                  "2:50", "machineTypes.x.accelerators.type",
                  "unknown accelerator type 'QUANTUM' (see README");
    s_expect_one ("machineTypes:\n  x: {cpus: 1, memoryGb: 1, accelerators: {type: TPU_V3, "
                  "count: 0}}\n",
                  "2:65", "machineTypes.x.accelerators.count", "must be between 1 and 64, got 0");
    s_expect_one ("machineTypes:\n  x: {cpus: 1, memoryGb: 1, accelerators: {count: 2}}\n", "2:43",
                  "machineTypes.x.accelerators.type", "required field is missing");
    s_expect_one ("machineTypes:\n  x: {cpus: 1, memoryGb: 1, accelerators: [TPU_V2]}\n", "2:43",
                  "machineTypes.x.accelerators", "expected a mapping, got a list");
    //  count defaults to 1.
    hpt_cluster_config_t *config =
        s_read_ok ("machineTypes:\n  x: {cpus: 1, memoryGb: 1, accelerators: {type: NVIDIA_L4}}\n");
    const hpt_machine_type_t *x =
        hpt_machine_catalog_type (hpt_cluster_config_machines (config), "x");
    assert_string_equal (x->accelerator_type, "NVIDIA_L4");
    assert_int_equal (x->accelerator_count, 1);
    hpt_cluster_config_destroy (&config);
}

static void
test_override_builtin_type (void **state)
{
    hpt_cluster_config_t *config =
        s_read_ok ("machineTypes:\n  complex_model_m: {cpus: 8, memoryGb: 7.2, accelerators: "
                   "{type: NVIDIA_TESLA_V100, count: 1}}\n");
    hpt_machine_catalog_t *machines = hpt_cluster_config_machines (config);
    const hpt_machine_type_t *m = hpt_machine_catalog_type (machines, "complex_model_m");
    assert_false (m->builtin);
    assert_true (m->cpus == 8);
    assert_true (m->memory_gb == 7.2);
    assert_string_equal (m->accelerator_type, "NVIDIA_TESLA_V100");
    assert_int_equal (m->accelerator_count, 1);
    //  Redefining does not add a type, and the others keep their figures.
    assert_int_equal (hpt_machine_catalog_type_count (machines), 32);
    const hpt_machine_type_t *l = hpt_machine_catalog_type (machines, "complex_model_l");
    assert_true (l->builtin);
    assert_true (l->cpus == 32);
    //  A job's CUSTOM cluster uses the lab's definition.
    hpt_job_t *job = s_job ("trainingInput:\n  scaleTier: CUSTOM\n  masterType: complex_model_m\n");
    hpt_task_spec_t *tasks;
    size_t count;
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, NULL), 0);
    assert_int_equal (count, 1);
    s_assert_task (&tasks[0], "master", 0, "complex_model_m", 8, 7373, "NVIDIA_TESLA_V100", 1);
    hpt_task_specs_destroy (&tasks, count);
    hpt_job_destroy (&job);
    hpt_cluster_config_destroy (&config);
}

//  ---------------------------------------------------------------------
//  scaleTiers: rules

static void
test_rule_scale_tiers (void **state)
{
    s_expect_one ("scaleTiers:\n  STANDARD_1: {master: standard, worker: {type: standrd, count: "
                  "4}}\n",
                  "2:49", "scaleTiers.STANDARD_1.worker.type",
                  "unknown machine type 'standrd' (did you mean 'standard'?)");
    s_expect_one ("scaleTiers:\n  BASIC: {master: my_box}\n", "2:19", "scaleTiers.BASIC.master",
                  "unknown machine type 'my_box' (neither built in nor defined under "
                  "machineTypes)");
    s_expect_one ("scaleTiers:\n  STANDARD_1: {master: standard, worker: {type: standard, count: "
                  "-1}}\n",
                  "2:66", "scaleTiers.STANDARD_1.worker.count", "must be between 0 and 10000");
    s_expect_one ("scaleTiers:\n  BASIC: {master: {type: standard, count: 2}}\n", "2:43",
                  "scaleTiers.BASIC.master.count", "exactly one master");
    s_expect_one ("scaleTiers:\n  BASIC: {worker: standard}\n", "2:10", "scaleTiers.BASIC.master",
                  "required field is missing");
    s_expect_one ("scaleTiers:\n  BASIC: {master: standard, evaluator: {count: 2}}\n", "2:40",
                  "scaleTiers.BASIC.evaluator.type", "required field is missing");
    s_expect_one ("scaleTiers:\n  BASIC: {master: standard, worker: [standard]}\n", "2:37",
                  "scaleTiers.BASIC.worker", "expected a machine type name or {type, count}");
    s_expect_one ("scaleTiers:\n  CUSTOM: {master: standard}\n", "2:3", "scaleTiers.CUSTOM",
                  "CUSTOM cannot be redefined");
    s_expect_one ("scaleTiers:\n  STANDARD_2: {master: standard}\n", "2:3", "scaleTiers.STANDARD_2",
                  "unknown scale tier 'STANDARD_2' (did you mean STANDARD_1?)");
    s_expect_one ("scaleTiers:\n  HUGE: {master: standard}\n", "2:3", "scaleTiers.HUGE",
                  "a job's scaleTier can only name BASIC");
}

static void
test_tier_uses_file_types (void **state)
{
    //  The tier comes first in the file; its types are defined after it.
    hpt_cluster_config_t *config = s_read_ok ("scaleTiers:\n"
                                              "  STANDARD_1:\n"
                                              "    master: box\n"
                                              "    worker: {type: box, count: 2}\n"
                                              "    parameterServer: {type: standard, count: 0}\n"
                                              "    evaluator: small\n"
                                              "machineTypes:\n"
                                              "  box: {cpus: 6, memoryGb: 24}\n"
                                              "  small: {cpus: 1, memoryGb: 0.5}\n");
    hpt_job_t *job = s_job ("trainingInput: {scaleTier: STANDARD_1}\n");
    hpt_task_spec_t *tasks;
    size_t count;
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, NULL), 0);
    assert_int_equal (count, 4);
    s_assert_task (&tasks[0], "master", 0, "box", 6, 24576, NULL, 0);
    s_assert_task (&tasks[1], "worker", 0, "box", 6, 24576, NULL, 0);
    s_assert_task (&tasks[2], "worker", 1, "box", 6, 24576, NULL, 0);
    s_assert_task (&tasks[3], "evaluator", 0, "small", 1, 512, NULL, 0);
    hpt_task_specs_destroy (&tasks, count);
    hpt_job_destroy (&job);
    hpt_cluster_config_destroy (&config);

    //  A tier naming a type whose own definition is wrong: one problem,
    //  the type's.
    s_expect_one ("machineTypes:\n  box: {cpus: 0, memoryGb: 1}\nscaleTiers:\n  BASIC: {master: "
                  "box}\n",
                  "2:15", "machineTypes.box.cpus", "must be positive");
}

//  ---------------------------------------------------------------------
//  Built-ins and expansion

static void
test_builtin_tables (void **state)
{
    hpt_machine_catalog_t *machines = hpt_machine_catalog_new ();
    struct {
        const char *name;
        double cpus;
        int64_t memory_mb;
        const char *accel;
        int64_t accel_count;
    } want[] = {
        {"standard", 4, 15360, NULL, 0},
        {"large_model", 8, 53248, NULL, 0},
        {"complex_model_s", 8, 7373, NULL, 0},
        {"complex_model_m", 16, 14746, NULL, 0},
        {"complex_model_l", 32, 29491, NULL, 0},
        {"standard_gpu", 4, 15360, "NVIDIA_TESLA_K80", 1},
        {"complex_model_m_gpu", 16, 14746, "NVIDIA_TESLA_K80", 4},
        {"complex_model_l_gpu", 32, 29491, "NVIDIA_TESLA_K80", 8},
        {"standard_p100", 4, 15360, "NVIDIA_TESLA_P100", 1},
        {"complex_model_m_p100", 16, 14746, "NVIDIA_TESLA_P100", 4},
        {"standard_v100", 4, 15360, "NVIDIA_TESLA_V100", 1},
        {"large_model_v100", 8, 53248, "NVIDIA_TESLA_V100", 1},
        {"complex_model_m_v100", 16, 14746, "NVIDIA_TESLA_V100", 4},
        {"complex_model_l_v100", 32, 29491, "NVIDIA_TESLA_V100", 8},
        {"cloud_tpu", 1, 0, "TPU_V2", 8},
        {"n1-standard-4", 4, 15360, NULL, 0},
        {"n1-standard-96", 96, 368640, NULL, 0},
        {"n1-highmem-2", 2, 13312, NULL, 0},
        {"n1-highmem-96", 96, 638976, NULL, 0},
        {"n1-highcpu-16", 16, 14746, NULL, 0},
        {"n1-highcpu-96", 96, 88474, NULL, 0},
    };
    for (size_t i = 0; i < sizeof (want) / sizeof (want[0]); i++) {
        const hpt_machine_type_t *t = hpt_machine_catalog_type (machines, want[i].name);
        if (!t) fail_msg ("no built-in type %s", want[i].name);
        assert_true (t->builtin);
        assert_true (t->cpus == want[i].cpus);
        assert_int_equal (hpt_machine_memory_mb (t->memory_gb), want[i].memory_mb);
        if (want[i].accel)
            assert_string_equal (t->accelerator_type, want[i].accel);
        else
            assert_null (t->accelerator_type);
        assert_int_equal (t->accelerator_count, want[i].accel_count);
    }
    assert_null (hpt_machine_catalog_type (machines, "n1-standard-2"));
    assert_null (hpt_machine_catalog_type (machines, "n1-highcpu-8"));
    assert_int_equal (hpt_machine_catalog_type_count (machines), 32);
    assert_string_equal (hpt_machine_catalog_type_at (machines, 0)->name, "standard");
    assert_null (hpt_machine_catalog_type_at (machines, 32));
    assert_string_equal (hpt_machine_catalog_suggest_type (machines, "complex_modle_m"),
                         "complex_model_m");
    assert_null (hpt_machine_catalog_suggest_type (machines, "zzzzzzzz"));
    const hpt_scale_tier_def_t *premium = hpt_machine_catalog_tier (machines, "PREMIUM_1");
    assert_string_equal (premium->master.type, "large_model");
    assert_int_equal (premium->worker.count, 19);
    assert_int_equal (premium->parameter_server.count, 11);
    assert_string_equal (premium->parameter_server.type, "standard");
    assert_null (hpt_machine_catalog_tier (machines, "CUSTOM"));
    assert_string_equal (hpt_machine_catalog_tier_at (machines, 4)->name, "BASIC_TPU");
    hpt_machine_catalog_destroy (&machines);
    assert_null (machines);
}

static void
test_expand_seed_custom (void **state)
{
    hpt_cluster_config_t *config = hpt_cluster_config_new ();
    char path[1024];
    hpt_test_path (path, sizeof (path), "tests/data/configs/valid/seed_config.yaml");
    hpt_diag_t *diag = hpt_diag_new (path, false);
    hpt_job_t *job = hpt_job_read_file (path, HPT_CONFIG_AUTO, diag);
    hpt_diag_print (diag, stderr);
    assert_non_null (job);
    hpt_task_spec_t *tasks;
    size_t count;
    hpt_error_t error;
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, &error), 0);
    assert_int_equal (count, 13);
    s_assert_task (&tasks[0], "master", 0, "complex_model_m", 16, 14746, NULL, 0);
    for (size_t i = 0; i < 9; i++)
        s_assert_task (&tasks[1 + i], "worker", i, "complex_model_m", 16, 14746, NULL, 0);
    for (size_t i = 0; i < 3; i++)
        s_assert_task (&tasks[10 + i], "ps", i, "large_model", 8, 53248, NULL, 0);
    hpt_task_specs_destroy (&tasks, count);
    hpt_job_destroy (&job);
    hpt_diag_destroy (&diag);
    hpt_cluster_config_destroy (&config);
}

static void
test_expand_tiers (void **state)
{
    hpt_cluster_config_t *config = hpt_cluster_config_new ();
    hpt_task_spec_t *tasks;
    size_t count;

    hpt_job_t *job = s_job ("trainingInput: {scaleTier: STANDARD_1}\n");
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, NULL), 0);
    assert_int_equal (count, 8);
    s_assert_task (&tasks[0], "master", 0, "standard", 4, 15360, NULL, 0);
    for (size_t i = 0; i < 4; i++)
        s_assert_task (&tasks[1 + i], "worker", i, "standard", 4, 15360, NULL, 0);
    for (size_t i = 0; i < 3; i++)
        s_assert_task (&tasks[5 + i], "ps", i, "standard", 4, 15360, NULL, 0);
    hpt_task_specs_destroy (&tasks, count);
    hpt_job_destroy (&job);

    job = s_job ("trainingInput: {}\n"); //  BASIC, the default
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, NULL), 0);
    assert_int_equal (count, 1);
    s_assert_task (&tasks[0], "master", 0, "standard", 4, 15360, NULL, 0);
    hpt_task_specs_destroy (&tasks, count);
    hpt_job_destroy (&job);

    job = s_job ("trainingInput: {scaleTier: PREMIUM_1}\n");
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, NULL), 0);
    assert_int_equal (count, 31);
    s_assert_task (&tasks[19], "worker", 18, "large_model", 8, 53248, NULL, 0);
    s_assert_task (&tasks[30], "ps", 10, "standard", 4, 15360, NULL, 0);
    hpt_task_specs_destroy (&tasks, count);
    hpt_job_destroy (&job);

    job = s_job ("trainingInput: {scaleTier: BASIC_GPU}\n");
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, NULL), 0);
    assert_int_equal (count, 1);
    s_assert_task (&tasks[0], "master", 0, "standard_gpu", 4, 15360, "NVIDIA_TESLA_K80", 1);
    hpt_task_specs_destroy (&tasks, count);
    hpt_job_destroy (&job);

    job = s_job ("trainingInput: {scaleTier: BASIC_TPU}\n");
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, NULL), 0);
    assert_int_equal (count, 2);
    s_assert_task (&tasks[0], "master", 0, "standard", 4, 15360, NULL, 0);
    s_assert_task (&tasks[1], "worker", 0, "cloud_tpu", 1, 0, "TPU_V2", 8);
    hpt_task_specs_destroy (&tasks, count);
    hpt_job_destroy (&job);
    hpt_cluster_config_destroy (&config);
}

static void
test_expand_accelerator_override (void **state)
{
    hpt_cluster_config_t *config = hpt_cluster_config_new ();
    hpt_task_spec_t *tasks;
    size_t count;
    //  Adds GPUs to a type that has none (master), overrides a type's
    //  (worker), and leaves a kind without a ReplicaConfig alone (ps).
    hpt_job_t *job =
        s_job ("trainingInput:\n"
               "  scaleTier: CUSTOM\n"
               "  masterType: n1-standard-8\n"
               "  masterConfig: {acceleratorConfig: {count: 2, type: NVIDIA_TESLA_V100}}\n"
               "  workerType: complex_model_m_gpu\n"
               "  workerCount: 2\n"
               "  workerConfig: {acceleratorConfig: {count: 1, type: NVIDIA_TESLA_T4}}\n"
               "  parameterServerType: standard_p100\n"
               "  parameterServerCount: 1\n"
               "  evaluatorType: standard_v100\n"
               "  evaluatorCount: 1\n"
               "  evaluatorConfig: {imageUri: gcr.io/x/y}\n");
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, NULL), 0);
    assert_int_equal (count, 5);
    s_assert_task (&tasks[0], "master", 0, "n1-standard-8", 8, 30720, "NVIDIA_TESLA_V100", 2);
    s_assert_task (&tasks[1], "worker", 0, "complex_model_m_gpu", 16, 14746, "NVIDIA_TESLA_T4", 1);
    s_assert_task (&tasks[2], "worker", 1, "complex_model_m_gpu", 16, 14746, "NVIDIA_TESLA_T4", 1);
    s_assert_task (&tasks[3], "ps", 0, "standard_p100", 4, 15360, "NVIDIA_TESLA_P100", 1);
    s_assert_task (&tasks[4], "evaluator", 0, "standard_v100", 4, 15360, "NVIDIA_TESLA_V100", 1);
    hpt_task_specs_destroy (&tasks, count);
    hpt_job_destroy (&job);

    //  With a tier: masterConfig still applies to the tier's master.
    job = s_job ("trainingInput:\n"
                 "  scaleTier: BASIC_GPU\n"
                 "  masterConfig: {acceleratorConfig: {count: 4, type: NVIDIA_H100_80GB}}\n");
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, NULL), 0);
    assert_int_equal (count, 1);
    s_assert_task (&tasks[0], "master", 0, "standard_gpu", 4, 15360, "NVIDIA_H100_80GB", 4);
    hpt_task_specs_destroy (&tasks, count);
    hpt_job_destroy (&job);
    hpt_cluster_config_destroy (&config);
}

static void
test_expand_unknown_type (void **state)
{
    hpt_cluster_config_t *config = hpt_cluster_config_new ();
    hpt_task_spec_t *tasks = (hpt_task_spec_t *)1;
    size_t count = 99;
    hpt_error_t error;
    hpt_job_t *job = s_job ("trainingInput:\n  scaleTier: CUSTOM\n  masterType: standard\n"
                            "  workerType: foo\n  workerCount: 2\n");
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, &error), -1);
    assert_null (tasks);
    assert_int_equal (count, 0);
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_string_equal (error.message,
                         "trainingInput.workerType: unknown machine type 'foo' (neither "
                         "built in nor defined in the cluster file's machineTypes)");
    hpt_job_destroy (&job);

    //  Every unknown type at once, with suggestions.
    job = s_job ("trainingInput:\n  scaleTier: CUSTOM\n  masterType: standrd\n"
                 "  parameterServerType: large_modle\n  parameterServerCount: 1\n");
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, &error), -1);
    assert_string_equal (error.message,
                         "trainingInput.masterType: unknown machine type 'standrd' (did you mean "
                         "'standard'?); trainingInput.parameterServerType: unknown machine type "
                         "'large_modle' (did you mean 'large_model'?)");
    //  error may be NULL.
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, NULL), -1);
    hpt_job_destroy (&job);

    //  A job model built by hand (not through the reader) that breaks the
    //  reader's rules still gets a clear error, not a crash.
    job = hpt_job_new ();
    job->input.scale_tier = HPT_SCALE_TIER_CUSTOM;
    job->input.worker_count = 3;
    assert_int_equal (hpt_cluster_config_tasks (config, job, &tasks, &count, &error), -1);
    assert_string_equal (error.message, "trainingInput.masterType: required with scaleTier CUSTOM; "
                                        "trainingInput.workerType: required when workerCount is 3");
    hpt_job_destroy (&job);
    assert_int_equal (hpt_cluster_config_tasks (config, NULL, &tasks, &count, &error), -1);
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_string_equal (error.message, "no job to expand");
    hpt_cluster_config_destroy (&config);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_empty_is_defaults),
        cmocka_unit_test (test_missing_file),
        cmocka_unit_test (test_lab_file),
        cmocka_unit_test (test_ops_example),
        cmocka_unit_test (test_every_problem_at_once),
        cmocka_unit_test (test_syntax_error),
        cmocka_unit_test (test_rule_unknown_keys),
        cmocka_unit_test (test_rule_durations),
        cmocka_unit_test (test_rule_agent_timeout),
        cmocka_unit_test (test_rule_endpoints),
        cmocka_unit_test (test_slurm),
        cmocka_unit_test (test_rule_security),
        cmocka_unit_test (test_tls),
        cmocka_unit_test (test_rule_master_scalars),
        cmocka_unit_test (test_rule_machine_types),
        cmocka_unit_test (test_rule_accelerators),
        cmocka_unit_test (test_override_builtin_type),
        cmocka_unit_test (test_rule_scale_tiers),
        cmocka_unit_test (test_tier_uses_file_types),
        cmocka_unit_test (test_builtin_tables),
        cmocka_unit_test (test_expand_seed_custom),
        cmocka_unit_test (test_expand_tiers),
        cmocka_unit_test (test_expand_accelerator_override),
        cmocka_unit_test (test_expand_unknown_type),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
