/*  hpt_tfconfig -- the TF_CONFIG and CLUSTER_SPEC strings a task sees

    Both strings are built as one jansson object and printed with
    hpt_json_dumps (compact), so reals inside trainingInput come out in
    their shortest form and keys keep the order AI Platform uses: cluster,
    task, job, environment. An address must look like "host:port" with a
    port in 1..65535 and no whitespace or quotes; anything else is a bug in
    the caller's placement and is refused rather than handed to a trainer.
*/
#include "hpt_tfconfig.h"
#include "hpt_json.h"
#include <stdlib.h>
#include <string.h>

HPT_ENUM_DEFINE (hpt_tfconfig_role, HPT_TFCONFIG_ROLE_LIST)

int
hpt_tfconfig_role_from_name (const char *name, hpt_tfconfig_role_t *role)
{
    //  Besides TF_CONFIG's own spellings, the names the REST API and
    //  TensorFlow's newer clusters give the same replicas.
    static const struct {
        const char *name;
        hpt_tfconfig_role_t role;
    } aliases[] = {{"chief", HPT_TFCONFIG_MASTER},
                   {"parameterServer", HPT_TFCONFIG_PS},
                   {"parameter_server", HPT_TFCONFIG_PS}};
    if (!name || !role) return -1;
    if (hpt_tfconfig_role_parse (name, role) == 0) return 0;
    for (size_t i = 0; i < sizeof (aliases) / sizeof (aliases[0]); i++)
        if (strcmp (name, aliases[i].name) == 0) {
            *role = aliases[i].role;
            return 0;
        }
    return -1;
}

//  The name TF_CONFIG gives the role: the master is "chief" when the job
//  sets useChiefInTfConfig.
static const char *
s_role_name (hpt_tfconfig_role_t role, bool use_chief)
{
    return role == HPT_TFCONFIG_MASTER && use_chief ? "chief" : hpt_tfconfig_role_name (role);
}

//  True when address is "host:port": a non-empty host of printable
//  characters without whitespace, quotes or backslashes (IPv6 in
//  brackets passes), then a decimal port 1..65535.
static bool
s_address_valid (const char *address)
{
    if (!address) return false;
    size_t length = strnlen (address, HPT_TFCONFIG_ADDRESS_MAX + 1);
    if (length == 0 || length > HPT_TFCONFIG_ADDRESS_MAX) return false;
    const char *colon = strrchr (address, ':');
    if (!colon || colon == address || colon[1] == 0) return false;
    for (const char *c = address; c < colon; c++)
        if (*c <= ' ' || *c >= 127 || *c == '"' || *c == '\\') return false;
    long port = 0;
    for (const char *c = colon + 1; *c; c++) {
        if (*c < '0' || *c > '9') return false;
        port = port * 10 + (*c - '0');
        if (port > 65535) return false;
    }
    return port >= 1;
}

//  Appends role's addresses to cluster as a list under name; 0 or -1 with
//  *error set.
static int
s_add_role (json_t *cluster, const char *name, const char *const *addresses, size_t count,
            hpt_error_t *error)
{
    if (count == 0) return 0;
    if (count > HPT_TFCONFIG_REPLICAS_MAX)
        return hpt_error_set (error, HPT_E_INVALID, "tfconfig: %zu %s replicas, at most %d", count,
                              name, HPT_TFCONFIG_REPLICAS_MAX);
    if (!addresses)
        return hpt_error_set (error, HPT_E_INVALID,
                              "tfconfig: %s has %zu replicas but no addresses", name, count);
    json_t *list = json_array ();
    for (size_t i = 0; i < count; i++) {
        if (!s_address_valid (addresses[i])) {
            json_decref (list);
            return hpt_error_set (error, HPT_E_INVALID,
                                  "tfconfig: %s[%zu]: address '%.64s' is not host:port", name, i,
                                  addresses[i] ? addresses[i] : "(null)");
        }
        json_array_append_new (list, json_string (addresses[i]));
    }
    json_object_set_new (cluster, name, list);
    return 0;
}

//  Checks that the trial id is a short printable string.
static bool
s_trial_valid (const char *trial)
{
    size_t length = strnlen (trial, 65);
    if (length == 0 || length > 64) return false;
    for (const char *c = trial; *c; c++)
        if (*c <= ' ' || *c >= 127 || *c == '"' || *c == '\\') return false;
    return true;
}

//  The "cluster" and "task" members, plus "job" when with_job; the caller
//  owns the result.
static json_t *
s_build (const hpt_tfconfig_cluster_t *cluster, const hpt_tfconfig_task_t *task, bool with_job,
         json_t *training_input, hpt_error_t *error)
{
    if (!cluster || !task) {
        hpt_error_set (error, HPT_E_INVALID, "tfconfig: no cluster or task");
        return NULL;
    }
    if (cluster->master_count != 1) {
        hpt_error_set (error, HPT_E_INVALID, "tfconfig: a cluster has exactly one master, not %zu",
                       cluster->master_count);
        return NULL;
    }
    size_t replicas = 0;
    switch (task->role) {
        case HPT_TFCONFIG_MASTER:
            replicas = 1;
            break;
        case HPT_TFCONFIG_WORKER:
            replicas = cluster->worker_count;
            break;
        case HPT_TFCONFIG_PS:
            replicas = cluster->ps_count;
            break;
        case HPT_TFCONFIG_EVALUATOR:
            replicas = cluster->evaluator_count;
            break;
        default:
            hpt_error_set (error, HPT_E_INVALID, "tfconfig: unknown task role %d", (int)task->role);
            return NULL;
    }
    const char *role_name = s_role_name (task->role, cluster->use_chief);
    if (task->index >= replicas) {
        hpt_error_set (error, HPT_E_INVALID,
                       "tfconfig: task %s index %zu out of range (%zu replicas)", role_name,
                       task->index, replicas);
        return NULL;
    }
    if (task->trial && !s_trial_valid (task->trial)) {
        hpt_error_set (error, HPT_E_INVALID,
                       "tfconfig: trial id '%.64s' is not a short printable string", task->trial);
        return NULL;
    }
    if (with_job && training_input && !json_is_object (training_input)) {
        hpt_error_set (error, HPT_E_INVALID, "tfconfig: trainingInput is not a JSON object");
        return NULL;
    }
    json_t *members = json_object ();
    if (s_add_role (members, s_role_name (HPT_TFCONFIG_MASTER, cluster->use_chief), cluster->master,
                    1, error) ||
        s_add_role (members, hpt_tfconfig_role_name (HPT_TFCONFIG_WORKER), cluster->worker,
                    cluster->worker_count, error) ||
        s_add_role (members, hpt_tfconfig_role_name (HPT_TFCONFIG_PS), cluster->ps,
                    cluster->ps_count, error)) {
        json_decref (members);
        return NULL;
    }
    json_t *task_json = json_object ();
    json_object_set_new (task_json, "type", json_string (role_name));
    json_object_set_new (task_json, "index", json_integer ((json_int_t)task->index));
    if (task->trial) json_object_set_new (task_json, "trial", json_string (task->trial));

    json_t *root = json_object ();
    json_object_set_new (root, "cluster", members);
    json_object_set_new (root, "task", task_json);
    if (with_job)
        json_object_set_new (root, "job",
                             training_input ? json_deep_copy (training_input) : json_object ());
    json_object_set_new (root, "environment", json_string ("cloud"));
    return root;
}

//  Prints root compactly and releases it; NULL when root is (s_build
//  failed and set the error).
static char *
s_print (json_t *root)
{
    if (!root) return NULL;
    char *text = hpt_json_dumps (root, false);
    json_decref (root);
    return text;
}

char *
hpt_tfconfig_build (const hpt_tfconfig_cluster_t *cluster, const hpt_tfconfig_task_t *task,
                    json_t *training_input, hpt_error_t *error)
{
    return s_print (s_build (cluster, task, true, training_input, error));
}

char *
hpt_tfconfig_cluster_spec (const hpt_tfconfig_cluster_t *cluster, const hpt_tfconfig_task_t *task,
                           hpt_error_t *error)
{
    return s_print (s_build (cluster, task, false, NULL, error));
}
