/*  hpt_scheduler -- gang placement of trial clusters on nodes

    Which GPUs of a node: hpt_gpu_place over the node's GPUs of the type
    and the links between them (best-connected set, least fragmentation).
    Which MIG instance: one of the type on the GPU that has the fewest
    free instances left (packing GPUs, so that whole GPUs' worth of
    instances stay free for the large profiles).
*/
#include "hpt_scheduler.h"
#include "hpt_alloc.h"
#include "hpt_accel.h"
#include "hpt_gpu_place.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
s_is_tpu (const char *type)
{
    const hpt_accel_info_t *info = hpt_accel_lookup (type);
    return info && info->kind == HPT_ACCEL_KIND_TPU;
}

//  A free MIG instance of type on the GPU with the fewest free instances.
static bool
s_pick_mig (hpt_host_t *node, const char *type, int *chosen)
{
    int best = -1, best_free = 0;
    for (size_t i = 0; i < node->accel_count; i++) {
        hpt_host_accel_t *acc = &node->accels[i];
        if (!acc->mig || acc->used || acc->failure || strcmp (acc->type, type) != 0) continue;
        int free_here = 0;
        for (size_t j = 0; j < node->accel_count; j++)
            free_here += node->accels[j].mig && !node->accels[j].used && !node->accels[j].failure &&
                         node->accels[j].parent == acc->parent;
        if (best < 0 || free_here < best_free) {
            best = (int)i;
            best_free = free_here;
        }
    }
    if (best >= 0) chosen[0] = best;
    return best >= 0;
}

//  Chooses count free accelerators of type on node into chosen (indices
//  into node->accels). Returns false when there are not enough.
static bool
s_pick_accels (hpt_host_t *node, const char *type, int count, int *chosen)
{
    if (s_is_tpu (type)) {
        //  A TPU task takes the whole TPU host: every TPU, all free.
        int n = 0;
        for (size_t i = 0; i < node->accel_count; i++)
            if (s_is_tpu (node->accels[i].type)) {
                if (node->accels[i].used || strcmp (node->accels[i].type, type) != 0) return false;
                chosen[n++] = (int)i;
            }
        return n >= count && n > 0;
    }
    const hpt_accel_info_t *info = hpt_accel_lookup (type);
    if (info && info->mig_parent) return count == 1 && s_pick_mig (node, type, chosen);
    //  The node's GPUs of the type, their free flags and links.
    size_t n = 0;
    size_t *at = hpt_calloc (node->accel_count + 1, sizeof (size_t));
    for (size_t i = 0; i < node->accel_count; i++)
        if (strcmp (node->accels[i].type, type) == 0 && !node->accels[i].mig) at[n++] = i;
    bool *free_flags = hpt_calloc (n + 1, sizeof (bool));
    hpt_gpu_link_t *links = hpt_calloc (n * n + 1, sizeof (hpt_gpu_link_t));
    for (size_t a = 0; a < n; a++) {
        free_flags[a] = !node->accels[at[a]].used && !node->accels[at[a]].failure;
        for (size_t b = 0; b < n; b++)
            if (a != b)
                links[a * n + b] = hpt_host_link (&node->accels[at[a]], &node->accels[at[b]]);
    }
    size_t *picked = hpt_calloc ((size_t)count + 1, sizeof (size_t));
    bool ok = count > 0 && hpt_gpu_place_choose (n, free_flags, links, (size_t)count, picked);
    for (int k = 0; ok && k < count; k++)
        chosen[k] = (int)at[picked[k]];
    free (picked);
    free (links);
    free (free_flags);
    free (at);
    return ok;
}

//  True when a task that needs a GPU (not a TPU host).
static bool
s_wants_gpus (const hpt_task_request_t *req)
{
    return req->accel_type && req->accel_count > 0 && !s_is_tpu (req->accel_type);
}

//  Whether node can run req's kind of task at all: a container task needs
//  an agent that runs containers, and one with GPUs an agent that can
//  pass its GPUs to them (a CDI spec).
static bool
s_can_run (const hpt_host_t *node, const hpt_task_request_t *req)
{
    if (!req->image) return true;
    return node->containers && (!s_wants_gpus (req) || node->container_gpus);
}

//  Tries to reserve task on node. Returns true and fills the placement.
static bool
s_reserve (hpt_host_t *const *nodes, size_t count, hpt_host_t *node, hpt_task_t *task)
{
    const hpt_task_request_t *req = task->request;
    if (!s_can_run (node, req)) return false;
    if (node->cpus - node->used_cpus + 1e-9 < req->cpus ||
        node->memory_mb - node->used_memory_mb < req->memory_mb)
        return false;
    int chosen[1024];
    int n = 0;
    if (req->accel_type && req->accel_count > 0) {
        if (req->accel_count > 1024 ||
            !s_pick_accels (node, req->accel_type, req->accel_count, chosen))
            return false;
        n = s_is_tpu (req->accel_type) ? 0 : req->accel_count;
        if (s_is_tpu (req->accel_type))
            for (size_t i = 0; i < node->accel_count; i++)
                if (s_is_tpu (node->accels[i].type)) chosen[n++] = (int)i;
    }
    int port = hpt_host_take_port (node, nodes, count);
    if (port < 0) return false;
    node->used_cpus += req->cpus;
    node->used_memory_mb += req->memory_mb;
    json_t *placement = json_object ();
    json_object_set_new (placement, "host", json_string (node->advertise));
    json_object_set_new (placement, "port", json_integer (port));
    json_t *gpus = json_array (), *tpus = json_array (), *cores = json_array ();
    json_t *migs = json_array ();
    for (int k = 0; k < n; k++) {
        hpt_host_accel_t *acc = &node->accels[chosen[k]];
        acc->used = true;
        json_array_append_new (acc->mig               ? migs
                               : s_is_tpu (acc->type) ? tpus
                                                      : gpus,
                               json_integer (acc->index));
    }
    //  Bind to free cores local to the accelerators, when there are
    //  enough of them; otherwise leave the task unbound.
    int want = (int)ceil (req->cpus);
    if (n > 0 && want > 0) {
        int got = 0;
        int *picked = hpt_calloc ((size_t)want, sizeof (int));
        for (int k = 0; k < n && got < want; k++) {
            hpt_host_accel_t *acc = &node->accels[chosen[k]];
            for (size_t c = 0; c < acc->cpu_count && got < want; c++) {
                int core = acc->cpus[c];
                bool dup = false;
                for (int q = 0; q < got; q++)
                    dup |= picked[q] == core;
                if (!dup && core >= 0 && (size_t)core < node->core_count && node->free_cores[core])
                    picked[got++] = core;
            }
        }
        if (got == want)
            for (int q = 0; q < got; q++) {
                node->free_cores[picked[q]] = 0;
                json_array_append_new (cores, json_integer (picked[q]));
            }
        free (picked);
    }
    json_object_set_new (placement, "gpus", gpus);
    json_object_set_new (placement, "tpus", tpus);
    if (json_array_size (migs))
        json_object_set_new (placement, "migs", migs);
    else
        json_decref (migs);
    json_object_set_new (placement, "cores", cores);
    json_decref (task->placement);
    task->placement = placement;
    free (task->agent);
    task->agent = hpt_strdup (node->name);
    node->running_tasks++;
    return true;
}

static hpt_host_t *
s_find (hpt_host_t **nodes, size_t count, const char *name)
{
    for (size_t i = 0; name && i < count; i++)
        if (strcmp (nodes[i]->name, name) == 0) return nodes[i];
    return NULL;
}

bool
hpt_scheduler_place (hpt_host_t **nodes, size_t count, hpt_trial_t *trial)
{
    size_t placed = 0;
    for (; placed < trial->task_count; placed++) {
        hpt_task_t *task = &trial->tasks[placed];
        bool ok = false;
        for (size_t i = 0; i < count && !ok; i++)
            if (hpt_host_schedulable (nodes[i])) ok = s_reserve (nodes, count, nodes[i], task);
        if (!ok) break;
    }
    if (placed == trial->task_count) return true;
    for (size_t k = 0; k < placed; k++) {
        hpt_task_t *task = &trial->tasks[k];
        hpt_scheduler_release (s_find (nodes, count, task->agent), task);
        free (task->agent);
        task->agent = NULL;
        json_decref (task->placement);
        task->placement = NULL;
    }
    return false;
}

static void
s_apply (hpt_host_t *node, hpt_task_t *task, bool take)
{
    if (!node || !task->placement) return;
    const hpt_task_request_t *req = task->request;
    double sign = take ? 1.0 : -1.0;
    node->used_cpus += sign * req->cpus;
    node->used_memory_mb += (int64_t)sign * req->memory_mb;
    if (node->used_cpus < 1e-9) node->used_cpus = 0;
    if (node->used_memory_mb < 0) node->used_memory_mb = 0;
    if (take)
        node->running_tasks++;
    else if (node->running_tasks > 0)
        node->running_tasks--;
    int port = (int)json_integer_value (json_object_get (task->placement, "port"));
    if (take && port >= node->port_lo && port <= node->port_hi)
        node->ports_used[port - node->port_lo] = 1;
    else if (!take)
        hpt_host_release_port (node, port);
    //  Indexes are per kind: GPUs, TPUs and MIG instances each count from 0.
    const char *kinds[] = {"gpus", "tpus", "migs"};
    for (int k = 0; k < 3; k++) {
        json_t *list = json_object_get (task->placement, kinds[k]);
        size_t i;
        json_t *v;
        json_array_foreach (list, i, v) {
            for (size_t a = 0; a < node->accel_count; a++) {
                hpt_host_accel_t *acc = &node->accels[a];
                int kind = acc->mig ? 2 : s_is_tpu (acc->type) ? 1 : 0;
                if (acc->index == json_integer_value (v) && kind == k) acc->used = take;
            }
        }
    }
    size_t i;
    json_t *v;
    json_array_foreach (json_object_get (task->placement, "cores"), i, v) {
        json_int_t core = json_integer_value (v);
        if (core >= 0 && (size_t)core < node->core_count) node->free_cores[core] = take ? 0 : 1;
    }
}

void
hpt_scheduler_release (hpt_host_t *node, hpt_task_t *task)
{
    s_apply (node, task, false);
}

void
hpt_scheduler_restore (hpt_host_t *node, hpt_task_t *task)
{
    s_apply (node, task, true);
}

//  Why no node can run req's kind of task (containers, GPUs in them), or
//  NULL when some node can. The caller frees the text.
static char *
s_container_problem (hpt_host_t **nodes, size_t count, const hpt_task_request_t *req)
{
    bool containers = false;
    for (size_t i = 0; i < count; i++) {
        if (nodes[i]->state == HPT_HOST_LOST) continue;
        if (s_can_run (nodes[i], req)) return NULL;
        containers |= nodes[i]->containers;
    }
    if (!containers)
        return hpt_asprintf ("task %s-%d runs the image %s in a container, and no agent runs "
                             "containers (hptagent --container-runtime; --print-topology says why)",
                             req->replica, req->index, req->image);
    return hpt_asprintf (
        "task %s-%d runs the image %s in a container with %d x %s, and no agent "
        "can give GPUs to containers (it needs a CDI spec for them: nvidia-ctk cdi "
        "generate --output=/etc/cdi/nvidia.yaml)",
        req->replica, req->index, req->image, req->accel_count, req->accel_type);
}

char *
hpt_scheduler_infeasible (hpt_host_t **nodes, size_t count, const hpt_task_request_t *requests,
                          size_t request_count)
{
    for (size_t r = 0; r < request_count; r++) {
        const hpt_task_request_t *req = &requests[r];
        char *problem = s_container_problem (nodes, count, req);
        if (problem) return problem;
        bool fits = false;
        double best_cpus = 0;
        int64_t best_mem = 0;
        int best_acc = 0;
        for (size_t i = 0; i < count && !fits; i++) {
            hpt_host_t *node = nodes[i];
            if (node->state == HPT_HOST_LOST || !s_can_run (node, req)) continue;
            int acc = 0;
            for (size_t a = 0; req->accel_type && a < node->accel_count; a++)
                acc += strcmp (node->accels[a].type, req->accel_type) == 0;
            best_cpus = node->cpus > best_cpus ? node->cpus : best_cpus;
            best_mem = node->memory_mb > best_mem ? node->memory_mb : best_mem;
            best_acc = acc > best_acc ? acc : best_acc;
            fits = node->cpus + 1e-9 >= req->cpus && node->memory_mb >= req->memory_mb &&
                   (!req->accel_type || req->accel_count <= 0 || acc >= req->accel_count);
        }
        if (fits) continue;
        if (req->accel_type && req->accel_count > best_acc)
            return hpt_asprintf ("task %s-%d (machine type %s) needs %d x %s; the most any agent "
                                 "offers is %d",
                                 req->replica, req->index, req->machine_type, req->accel_count,
                                 req->accel_type, best_acc);
        if (req->cpus > best_cpus + 1e-9)
            return hpt_asprintf ("task %s-%d (machine type %s) needs %g CPUs; the most any agent "
                                 "offers is %g",
                                 req->replica, req->index, req->machine_type, req->cpus, best_cpus);
        return hpt_asprintf ("task %s-%d (machine type %s) needs %.1f GB of memory; the most any "
                             "agent offers is %.1f GB",
                             req->replica, req->index, req->machine_type, req->memory_mb / 1024.0,
                             best_mem / 1024.0);
    }
    return NULL;
}
