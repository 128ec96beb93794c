/*  hpt_launch -- builds LAUNCH messages (see hpt_launch.h)

    TF_CONFIG lists every task of the trial by replica type in index
    order, as "host:port" from each task's placement; evaluators are
    counted (they bound an evaluator's index) but not listed. The argv and
    environment follow docs/trainer-contract.md. The hyperparameter values
    are the trial's strings (hpt_space formats them: integers without a
    decimal point, doubles in their shortest exact form).
*/
#include "hpt_launch.h"
#include "hpt_alloc.h"
#include "hpt_line_metrics.h"
#include "hpt_tfconfig.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The trial cluster as hpt_tfconfig wants it: every task's "host:port"
//  by role. The strings live in addresses (freed by s_cluster_free).
typedef struct {
    hpt_tfconfig_cluster_t cluster; //  borrowed views into the arrays below
    char **addresses;               //  one per task, owned
    const char **master;            //  role lists into addresses
    const char **worker;            //  worker addresses
    const char **ps;                //  parameter server addresses
    size_t count;                   //  tasks
} s_cluster_t;

static void
s_cluster_free (s_cluster_t *c)
{
    for (size_t i = 0; i < c->count; i++)
        free (c->addresses[i]);
    free (c->addresses);
    free (c->master);
    free (c->worker);
    free (c->ps);
}

static int
s_cluster_build (s_cluster_t *c, hpt_trial_t *trial, bool use_chief, hpt_error_t *error)
{
    size_t n = trial->task_count;
    *c = (s_cluster_t){.count = n};
    c->addresses = hpt_calloc (n, sizeof (char *));
    c->master = hpt_calloc (n, sizeof (char *));
    c->worker = hpt_calloc (n, sizeof (char *));
    c->ps = hpt_calloc (n, sizeof (char *));
    c->cluster = (hpt_tfconfig_cluster_t){c->master, 0, c->worker, 0, c->ps, 0, 0, use_chief};
    for (size_t i = 0; i < n; i++) {
        hpt_task_t *t = &trial->tasks[i];
        const char *host = json_string_value (json_object_get (t->placement, "host"));
        json_t *port = json_object_get (t->placement, "port");
        if (!host || !json_is_integer (port))
            return hpt_error_set (error, HPT_E_INVALID, "task %s has no host and port placed",
                                  t->task_id);
        c->addresses[i] =
            hpt_asprintf ("%s:%" JSON_INTEGER_FORMAT, host, json_integer_value (port));
        hpt_tfconfig_role_t role;
        if (hpt_tfconfig_role_from_name (t->request->replica, &role) != 0)
            return hpt_error_set (error, HPT_E_INVALID, "task %s has an unknown replica type '%s'",
                                  t->task_id, t->request->replica);
        if (role == HPT_TFCONFIG_MASTER)
            c->master[c->cluster.master_count++] = c->addresses[i];
        else if (role == HPT_TFCONFIG_WORKER)
            c->worker[c->cluster.worker_count++] = c->addresses[i];
        else if (role == HPT_TFCONFIG_PS)
            c->ps[c->cluster.ps_count++] = c->addresses[i];
        else
            c->cluster.evaluator_count++;
    }
    return 0;
}

//  Sets TF_CONFIG and CLUSTER_SPEC of task in env.
static int
s_tf_config (json_t *env, hpt_job_t *spec, hpt_trial_t *trial, hpt_task_t *task,
             const char *trial_id, hpt_error_t *error)
{
    s_cluster_t c;
    int rc = s_cluster_build (&c, trial, spec->input.use_chief_in_tf_config, error);
    hpt_tfconfig_task_t me = {HPT_TFCONFIG_MASTER, (size_t)task->request->index, trial_id};
    hpt_tfconfig_role_from_name (task->request->replica, &me.role);
    if (rc == 0) {
        hpt_error_t problem;
        json_t *input = hpt_job_training_input_to_json (spec);
        char *tf_config = hpt_tfconfig_build (&c.cluster, &me, input, &problem);
        json_decref (input);
        char *cluster_spec =
            tf_config ? hpt_tfconfig_cluster_spec (&c.cluster, &me, &problem) : NULL;
        if (cluster_spec) {
            json_object_set_new (env, "TF_CONFIG", json_string (tf_config));
            json_object_set_new (env, "CLUSTER_SPEC", json_string (cluster_spec));
        } else
            rc = hpt_error_set (error, problem.code, "TF_CONFIG of task %s: %s", task->task_id,
                                problem.message);
        free (tf_config);
        free (cluster_spec);
    }
    s_cluster_free (&c);
    return rc;
}

//  The trainer's argv (docs/trainer-contract.md): command (or python3 -m
//  MODULE), args, --job-dir, then one --NAME=VALUE per hyperparameter. A
//  container task's argv is what follows its entrypoint (the image's or
//  containerCommand, which goes apart): containerArgs instead of args.
static void
s_argv (hpt_msg_t *msg, hpt_job_t *spec, hpt_trial_t *trial, const hpt_container_spec_t *container)
{
    hpt_training_input_t *in = &spec->input;
    if (container->image) {
        for (size_t i = 0; i < container->command_count; i++)
            hpt_msg_add_container_command (msg, container->command[i]);
    } else if (in->command_count)
        for (size_t i = 0; i < in->command_count; i++)
            hpt_msg_add_arg (msg, in->command[i]);
    else if (in->python_module) {
        hpt_msg_add_arg (msg, "python3");
        hpt_msg_add_arg (msg, "-m");
        hpt_msg_add_arg (msg, in->python_module);
    }
    if (container->has_args)
        for (size_t i = 0; i < container->args_count; i++)
            hpt_msg_add_arg (msg, container->args[i]);
    else
        for (size_t i = 0; i < in->arg_count; i++)
            hpt_msg_add_arg (msg, in->args[i]);
    if (in->job_dir) {
        char *arg = hpt_asprintf ("--job-dir=%s", in->job_dir);
        hpt_msg_add_arg (msg, arg);
        free (arg);
    }
    hpt_hyperparameters_t *hp = in->hyperparameters;
    json_t *hyperparameters = hp ? json_loads (trial->hyperparameters, 0, NULL) : NULL;
    for (size_t i = 0; hp && i < hp->param_count; i++) {
        const char *name = hp->params[i].name;
        json_t *value = json_object_get (hyperparameters, name);
        char *arg = hpt_asprintf ("--%s=%s", name, json_string_value (value));
        hpt_msg_add_arg (msg, arg);
        free (arg);
    }
    json_decref (hyperparameters);
}

//  hpt's own variables; set after the job's env, so they win.
static void
s_contract_env (json_t *env, hpt_job_t *spec, hpt_trial_t *trial, hpt_task_t *task,
                const char *trial_id)
{
    hpt_hyperparameters_t *hp = spec->input.hyperparameters;
    const char *tag = hp && hp->metric_tag ? hp->metric_tag : HPT_DEFAULT_METRIC_TAG;
    json_object_set_new (env, "CLOUD_ML_TRIAL_ID", json_string (trial_id));
    json_object_set_new (env, "CLOUD_ML_HP_METRIC_TAG", json_string (tag));
    json_object_set_new (env, "CLOUD_ML_JOB_ID", json_string (spec->job_id));
    json_object_set_new (env, "HPT_JOB_ID", json_string (spec->job_id));
    json_object_set_new (env, "HPT_TRIAL_ID", json_string (trial_id));
    json_object_set_new (env, "HPT_TASK_ID", json_string (task->task_id));
}

hpt_msg_t *
hpt_launch_build (hpt_job_t *spec, hpt_trial_t *trial, hpt_task_t *task, hpt_error_t *error)
{
    hpt_training_input_t *in = &spec->input;
    char trial_id[32];
    snprintf (trial_id, sizeof (trial_id), "%" PRId64, trial->id);
    json_t *env = json_object ();
    for (size_t i = 0; i < in->env_count; i++)
        json_object_set_new (env, in->env[i].name, json_string (in->env[i].value));
    if (s_tf_config (env, spec, trial, task, trial_id, error)) {
        json_decref (env);
        return NULL;
    }
    s_contract_env (env, spec, trial, task, trial_id);
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_LAUNCH);
    hpt_msg_set_task_id (msg, task->task_id);
    hpt_msg_set_trial_id (msg, trial_id);
    hpt_container_spec_t container;
    if (hpt_job_container (spec, task->request->replica, &container)) {
        //  The container's limits are the machine type's (the agent pins
        //  the CPUs to cpuSet instead when it has one).
        hpt_msg_set_image (msg, container.image);
        hpt_msg_set_cpus (msg, task->request->cpus);
        hpt_msg_set_memory_mb (msg, task->request->memory_mb);
    }
    s_argv (msg, spec, trial, &container);
    const char *key;
    json_t *item;
    json_object_foreach (env, key, item) {
        hpt_msg_set_env_var (msg, key, json_string_value (item));
    }
    json_decref (env);
    if (in->working_dir) hpt_msg_set_working_dir (msg, in->working_dir);
    if (in->run_as) hpt_msg_set_run_as (msg, in->run_as);
    hpt_hyperparameters_t *hp = in->hyperparameters;
    hpt_msg_set_metric_tag (msg, hp && hp->metric_tag ? hp->metric_tag : HPT_DEFAULT_METRIC_TAG);
    //  The agent makes these devices visible to the task (it knows them).
    size_t i;
    json_array_foreach (json_object_get (task->placement, "gpus"), i, item) {
        hpt_msg_add_gpu (msg, json_integer_value (item));
    }
    json_array_foreach (json_object_get (task->placement, "tpus"), i, item) {
        hpt_msg_add_tpu (msg, json_integer_value (item));
    }
    json_array_foreach (json_object_get (task->placement, "migs"), i, item) {
        hpt_msg_add_mig (msg, json_integer_value (item));
    }
    json_array_foreach (json_object_get (task->placement, "cores"), i, item) {
        hpt_msg_add_core (msg, json_integer_value (item));
    }
    if (in->stdout_metrics)
        hpt_msg_set_stdout_regex (msg,
                                  in->stdout_regex ? in->stdout_regex : HPT_LINE_METRICS_DEFAULT);
    for (size_t k = 0; k < in->package_uri_count; k++)
        hpt_msg_add_package_uri (msg, in->package_uris[k]);
    hpt_error_t problem;
    if (hpt_msg_validate (msg, &problem) != 0) {
        hpt_error_set (error, HPT_E_INVALID, "LAUNCH of task %s: %s", task->task_id,
                       problem.message);
        hpt_msg_destroy (&msg);
    }
    return msg;
}
