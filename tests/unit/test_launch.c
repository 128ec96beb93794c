/*  test_launch -- the LAUNCH builder: argv, environment, TF_CONFIG of every
    replica of a placed trial, accelerators, and the errors it refuses to
    paper over.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hpt_alloc.h"
#include "hpt_job_reader.h"
#include "hpt_launch.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_COMMAND "\"command\": [\"/bin/train\"]"

//  A job whose trainer is trainer (a JSON member) with extra members.
static hpt_job_t *
s_job (const char *trainer, const char *extra)
{
    char *text = NULL;
    int rc = asprintf (&text,
                       "{\"jobId\": \"j1\", \"trainingInput\": {%s, "
                       "\"args\": [\"--data=/d\"], \"jobDir\": \"/jobs/j1\", "
                       "\"env\": {\"DB_URL\": \"x\"}, %s"
                       "\"hyperparameters\": {\"hyperparameterMetricTag\": \"acc\", "
                       "\"maxTrials\": 2, \"params\": [{\"parameterName\": \"lr\", \"type\": "
                       "\"DOUBLE\", \"minValue\": 0.001, \"maxValue\": 1}, {\"parameterName\": "
                       "\"units\", \"type\": \"INTEGER\", \"minValue\": 1, \"maxValue\": 512}]}}}",
                       trainer, extra);
    assert_true (rc > 0);
    hpt_diag_t *diag = hpt_diag_new ("t", true);
    hpt_job_t *job = hpt_job_read_text (text, strlen (text), HPT_CONFIG_JSON, diag);
    hpt_diag_print (diag, stderr);
    hpt_diag_destroy (&diag);
    free (text);
    assert_non_null (job);
    return job;
}

typedef struct {
    hpt_task_request_t requests[5]; //  master, worker 0, worker 1, ps 0, evaluator 0
    hpt_task_t tasks[5];            //  placed on host h<i>, port 2000 + i
    hpt_trial_t trial;              //  trial 7
} s_trial_t;

static void
s_trial_init (s_trial_t *t)
{
    memset (t, 0, sizeof (*t));
    const char *replicas[] = {"master", "worker", "worker", "ps", "evaluator"};
    int indexes[] = {0, 0, 1, 0, 0};
    for (int i = 0; i < 5; i++) {
        t->requests[i] = (hpt_task_request_t){
            (char *)replicas[i], indexes[i], "standard", 1, 100, NULL, 0, NULL};
        hpt_task_t *task = &t->tasks[i];
        task->request = &t->requests[i];
        task->task_id = malloc (64);
        snprintf (task->task_id, 64, "j1/7/%s/%d", replicas[i], indexes[i]);
        task->agent = strdup ("a");
        char placement[128];
        snprintf (placement, sizeof (placement),
                  "{\"host\": \"h%d\", \"port\": %d, \"cores\": [%d], \"gpus\": %s}", i, 2000 + i,
                  i, i == 0 ? "[1, 3]" : "[]");
        task->placement = json_loads (placement, 0, NULL);
        assert_non_null (task->placement);
    }
    t->trial.id = 7;
    t->trial.tasks = t->tasks;
    t->trial.task_count = 5;
    t->trial.hyperparameters = hpt_strdup ("{\"lr\": \"0.01\", \"units\": \"64\"}");
}

static void
s_trial_free (s_trial_t *t)
{
    for (int i = 0; i < 5; i++) {
        free (t->tasks[i].task_id);
        free (t->tasks[i].agent);
        json_decref (t->tasks[i].placement);
    }
    free (t->trial.hyperparameters);
}

static json_t *
s_tf_config (hpt_msg_t *msg)
{
    json_t *tf = json_loads (hpt_msg_env_var (msg, "TF_CONFIG"), 0, NULL);
    assert_non_null (tf);
    return tf;
}

static void
test_argv_follows_the_trainer_contract (void **state)
{
    hpt_job_t *job = s_job (S_COMMAND, "");
    s_trial_t t;
    s_trial_init (&t);
    hpt_error_t error;
    hpt_msg_t *msg = hpt_launch_build (job, &t.trial, &t.tasks[0], &error);
    assert_non_null (msg);
    assert_int_equal (hpt_msg_arg_count (msg), 5);
    assert_string_equal (hpt_msg_arg (msg, 0), "/bin/train");
    assert_string_equal (hpt_msg_arg (msg, 1), "--data=/d");
    assert_string_equal (hpt_msg_arg (msg, 2), "--job-dir=/jobs/j1");
    assert_string_equal (hpt_msg_arg (msg, 3), "--lr=0.01");
    assert_string_equal (hpt_msg_arg (msg, 4), "--units=64");
    assert_string_equal (hpt_msg_task_id (msg), "j1/7/master/0");
    assert_string_equal (hpt_msg_trial_id (msg), "7");
    assert_string_equal (hpt_msg_metric_tag (msg), "acc");
    assert_int_equal (hpt_msg_core_count (msg), 1);
    hpt_msg_destroy (&msg);
    s_trial_free (&t);
    hpt_job_destroy (&job);
}

static void
test_environment_and_accelerators (void **state)
{
    hpt_job_t *job = s_job (S_COMMAND, "");
    s_trial_t t;
    s_trial_init (&t);
    hpt_msg_t *msg = hpt_launch_build (job, &t.trial, &t.tasks[0], NULL);
    assert_non_null (msg);
    assert_string_equal (hpt_msg_env_var (msg, "DB_URL"), "x");
    assert_string_equal (hpt_msg_env_var (msg, "CLOUD_ML_TRIAL_ID"), "7");
    assert_string_equal (hpt_msg_env_var (msg, "CLOUD_ML_HP_METRIC_TAG"), "acc");
    assert_string_equal (hpt_msg_env_var (msg, "CLOUD_ML_JOB_ID"), "j1");
    assert_string_equal (hpt_msg_env_var (msg, "HPT_TASK_ID"), "j1/7/master/0");
    //  The placement's devices go as indexes; the agent, which knows its
    //  devices, sets the visibility variables from them.
    assert_int_equal (hpt_msg_gpu_count (msg), 2);
    assert_int_equal (hpt_msg_gpu (msg, 0), 1);
    assert_int_equal (hpt_msg_gpu (msg, 1), 3);
    assert_int_equal (hpt_msg_tpu_count (msg), 0);
    assert_null (hpt_msg_env_var (msg, "CUDA_VISIBLE_DEVICES"));
    assert_null (hpt_msg_env_var (msg, "CUDA_DEVICE_ORDER"));
    assert_null (hpt_msg_env_var (msg, "TPU_VISIBLE_CHIPS"));
    hpt_msg_destroy (&msg);
    //  TPU chips are TPU chips, not GPUs.
    json_object_set_new (t.tasks[1].placement, "tpus", json_pack ("[i,i]", 0, 2));
    msg = hpt_launch_build (job, &t.trial, &t.tasks[1], NULL);
    assert_int_equal (hpt_msg_gpu_count (msg), 0);
    assert_int_equal (hpt_msg_tpu_count (msg), 2);
    assert_int_equal (hpt_msg_tpu (msg, 1), 2);
    assert_null (hpt_msg_env_var (msg, "TPU_VISIBLE_CHIPS"));
    hpt_msg_destroy (&msg);
    s_trial_free (&t);
    hpt_job_destroy (&job);
}

static void
test_tf_config_of_every_replica (void **state)
{
    hpt_job_t *job = s_job (S_COMMAND, "");
    s_trial_t t;
    s_trial_init (&t);
    const char *types[] = {"master", "worker", "worker", "ps", "evaluator"};
    for (int i = 0; i < 5; i++) {
        hpt_msg_t *msg = hpt_launch_build (job, &t.trial, &t.tasks[i], NULL);
        assert_non_null (msg);
        json_t *tf = s_tf_config (msg);
        json_t *cluster = json_object_get (tf, "cluster");
        assert_string_equal (
            json_string_value (json_array_get (json_object_get (cluster, "master"), 0)), "h0:2000");
        json_t *workers = json_object_get (cluster, "worker");
        assert_int_equal (json_array_size (workers), 2);
        assert_string_equal (json_string_value (json_array_get (workers, 1)), "h2:2002");
        assert_string_equal (
            json_string_value (json_array_get (json_object_get (cluster, "ps"), 0)), "h3:2003");
        assert_null (json_object_get (cluster, "evaluator"));
        json_t *task = json_object_get (tf, "task");
        assert_string_equal (json_string_value (json_object_get (task, "type")), types[i]);
        assert_int_equal (json_integer_value (json_object_get (task, "index")),
                          t.requests[i].index);
        assert_string_equal (json_string_value (json_object_get (task, "trial")), "7");
        assert_string_equal (json_string_value (json_object_get (tf, "environment")), "cloud");
        assert_true (json_is_object (json_object_get (tf, "job")));
        json_t *spec = json_loads (hpt_msg_env_var (msg, "CLUSTER_SPEC"), 0, NULL);
        assert_non_null (spec);
        assert_null (json_object_get (spec, "job"));
        json_decref (spec);
        json_decref (tf);
        hpt_msg_destroy (&msg);
    }
    s_trial_free (&t);
    hpt_job_destroy (&job);
}

static void
test_chief_and_python_module (void **state)
{
    hpt_job_t *job = s_job (S_COMMAND, "\"useChiefInTfConfig\": true,");
    s_trial_t t;
    s_trial_init (&t);
    hpt_msg_t *msg = hpt_launch_build (job, &t.trial, &t.tasks[0], NULL);
    json_t *tf = s_tf_config (msg);
    assert_non_null (json_object_get (json_object_get (tf, "cluster"), "chief"));
    assert_string_equal (json_string_value (json_object_get (json_object_get (tf, "task"), "type")),
                         "chief");
    assert_null (hpt_msg_run_as (msg)); //  no runAs: the agent's default user
    json_decref (tf);
    hpt_msg_destroy (&msg);
    hpt_job_destroy (&job);

    job = s_job ("\"pythonModule\": \"trainer.task\"", "\"runAs\": \"trainer\",");
    msg = hpt_launch_build (job, &t.trial, &t.tasks[0], NULL);
    assert_string_equal (hpt_msg_run_as (msg), "trainer"); //  the agent decides whether it may
    assert_string_equal (hpt_msg_arg (msg, 0), "python3");
    assert_string_equal (hpt_msg_arg (msg, 1), "-m");
    assert_string_equal (hpt_msg_arg (msg, 2), "trainer.task");
    hpt_msg_destroy (&msg);
    s_trial_free (&t);
    hpt_job_destroy (&job);
}

static void
test_an_undescribable_trial_is_an_error (void **state)
{
    hpt_job_t *job = s_job (S_COMMAND, "");
    s_trial_t t;
    s_trial_init (&t);
    //  A worker whose placement lost its port: TF_CONFIG cannot be built,
    //  and no LAUNCH goes out with a made-up one.
    json_object_del (t.tasks[2].placement, "port");
    hpt_error_t error;
    hpt_msg_t *msg = hpt_launch_build (job, &t.trial, &t.tasks[0], &error);
    assert_null (msg);
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_non_null (strstr (error.message, "j1/7/worker/1"));
    s_trial_free (&t);
    hpt_job_destroy (&job);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_argv_follows_the_trainer_contract),
        cmocka_unit_test (test_environment_and_accelerators),
        cmocka_unit_test (test_tf_config_of_every_replica),
        cmocka_unit_test (test_chief_and_python_module),
        cmocka_unit_test (test_an_undescribable_trial_is_an_error),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
