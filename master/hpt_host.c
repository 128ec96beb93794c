/*  hpt_host -- the master's view of one agent host and its free resources
 */
#include "hpt_host.h"
#include "hpt_alloc.h"
#include "hpt_accel.h"
#include "hpt_tuner.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int *
s_int_list (json_t *array, size_t *count)
{
    *count = json_is_array (array) ? json_array_size (array) : 0;
    int *list = hpt_calloc (*count ? *count : 1, sizeof (int));
    for (size_t i = 0; i < *count; i++)
        list[i] = (int)json_integer_value (json_array_get (array, i));
    return list;
}

//  Most GPU index a link may name (more than a host has; bounds the rows).
#define S_LINKS_MAX 1024

//  accelerators[i].links -> acc's row.
static void
s_read_links (hpt_host_accel_t *acc, json_t *links)
{
    const char *key;
    json_t *value;
    json_object_foreach (links, key, value) {
        long peer = strtol (key, NULL, 10);
        hpt_gpu_link_t link;
        if (peer < 0 || peer >= S_LINKS_MAX ||
            !hpt_gpu_link_parse (json_string_value (value), &link))
            continue;
        if ((size_t)peer >= acc->link_count) {
            size_t grown = (size_t)peer + 1;
            acc->links = hpt_realloc (acc->links, grown * sizeof (hpt_gpu_link_t));
            acc->known = hpt_realloc (acc->known, grown * sizeof (bool));
            memset (acc->known + acc->link_count, 0, (grown - acc->link_count) * sizeof (bool));
            acc->link_count = grown;
        }
        acc->links[peer] = link;
        acc->known[peer] = true;
    }
}

hpt_gpu_link_t
hpt_host_link (const hpt_host_accel_t *a, const hpt_host_accel_t *b)
{
    if (a->index >= 0 && (size_t)b->index < a->link_count && a->known[b->index])
        return a->links[b->index];
    bool same_node = a->numa_node >= 0 && a->numa_node == b->numa_node;
    return (hpt_gpu_link_t){same_node ? HPT_GPU_LINK_NODE : HPT_GPU_LINK_SYS, 0};
}

//  Fills acc from one entry of accelerators (its type already checked).
static void
s_read_accel (hpt_host_accel_t *acc, const char *type, json_t *a)
{
    acc->type = hpt_strdup (type);
    acc->parent = -1;
    acc->index = (int)json_integer_value (json_object_get (a, "index"));
    const char *bus = json_string_value (json_object_get (a, "pciBusId"));
    acc->pci_bus_id = bus ? hpt_strdup (bus) : NULL;
    json_t *numa = json_object_get (a, "numaNode");
    acc->numa_node = json_is_integer (numa) ? (int)json_integer_value (numa) : -1;
    acc->cpus = s_int_list (json_object_get (a, "cpus"), &acc->cpu_count);
    s_read_links (acc, json_object_get (a, "links"));
}

//  The MIG instances of a GPU in MIG mode, each an accelerator of its own
//  MIG type (those hpt cannot name cannot be requested: left out).
static void
s_read_migs (hpt_host_t *self, json_t *gpu, size_t limit)
{
    size_t i;
    json_t *mig;
    json_array_foreach (json_object_get (gpu, "mig"), i, mig) {
        const char *type = json_string_value (json_object_get (mig, "type"));
        if (self->accel_count >= limit || !type || !hpt_accel_lookup (type)) continue;
        hpt_host_accel_t *acc = &self->accels[self->accel_count++];
        s_read_accel (acc, type, gpu);
        free (acc->links);
        free (acc->known);
        acc->links = NULL;
        acc->known = NULL;
        acc->link_count = 0;
        acc->mig = true;
        acc->parent = acc->index;
        acc->index = (int)json_integer_value (json_object_get (mig, "index"));
        free (acc->pci_bus_id);
        acc->pci_bus_id = NULL;
    }
}

//  Marks the accelerators of GPU index failed (no "failedGpus" change).
static bool
s_mark_failed (hpt_host_t *self, int index, const char *why)
{
    bool found = false;
    for (size_t i = 0; i < self->accel_count; i++) {
        hpt_host_accel_t *acc = &self->accels[i];
        const hpt_accel_info_t *info = hpt_accel_lookup (acc->type);
        bool gpu = !acc->mig && info && info->kind == HPT_ACCEL_KIND_GPU && acc->index == index;
        if (!gpu && !(acc->mig && acc->parent == index)) continue;
        free (acc->failure);
        acc->failure = hpt_strdup (why);
        found = true;
    }
    return found;
}

bool
hpt_host_fail_gpu (hpt_host_t *self, int index, const char *why)
{
    if (!s_mark_failed (self, index, why)) return false;
    json_t *failed = json_object_get (self->resources, "failedGpus");
    if (!json_is_object (failed)) {
        failed = json_object ();
        json_object_set_new (self->resources, "failedGpus", failed);
    }
    char key[16];
    snprintf (key, sizeof (key), "%d", index);
    json_object_set_new (failed, key, json_string (why));
    return true;
}

void
hpt_host_clear_failures (hpt_host_t *self)
{
    for (size_t i = 0; i < self->accel_count; i++) {
        free (self->accels[i].failure);
        self->accels[i].failure = NULL;
    }
    json_object_del (self->resources, "failedGpus");
}

hpt_host_t *
hpt_host_new (const char *name, json_t *resources, hpt_error_t *error)
{
    double cpus = json_number_value (json_object_get (resources, "cpus"));
    double memory_gb = json_number_value (json_object_get (resources, "memoryGb"));
    if (!(cpus > 0) || !(memory_gb >= 0) || cpus > 1e6 || memory_gb > 1e9) {
        hpt_error_set (error, HPT_E_INVALID, "resources need cpus > 0 and memoryGb >= 0");
        return NULL;
    }
    hpt_host_t *self = hpt_calloc (1, sizeof (hpt_host_t));
    self->name = hpt_strdup (name);
    self->state = HPT_HOST_READY;
    self->agent_tasks = -1;
    self->load = -1;
    self->agent_last_seq = -1;
    self->cpus = cpus;
    self->memory_mb = (int64_t)llround (memory_gb * 1024.0);
    self->core_count = (size_t)cpus;
    if (self->core_count > 4096) self->core_count = 4096;
    self->free_cores = hpt_malloc ((self->core_count ? self->core_count : 1) * sizeof (int));
    for (size_t i = 0; i < self->core_count; i++)
        self->free_cores[i] = 1;
    json_t *ports = json_object_get (resources, "ports");
    self->port_lo = (int)json_integer_value (json_array_get (ports, 0));
    self->port_hi = (int)json_integer_value (json_array_get (ports, 1));
    if (self->port_lo < 1 || self->port_hi > 65535 || self->port_hi < self->port_lo)
        self->port_lo = 20000, self->port_hi = 20999;
    self->next_port = self->port_lo;
    self->ports_used = hpt_calloc ((size_t)(self->port_hi - self->port_lo + 1), 1);
    const char *advertise = json_string_value (json_object_get (resources, "advertise"));
    self->advertise = hpt_strdup (advertise && *advertise ? advertise : "127.0.0.1");
    json_t *accels = json_object_get (resources, "accelerators");
    size_t n = json_is_array (accels) ? json_array_size (accels) : 0;
    if (n > 1024) n = 1024;
    //  Room for the MIG instances too (at most 64 per GPU, the codec's
    //  bound), within the same overall limit.
    size_t room = 0;
    for (size_t i = 0; i < n; i++)
        room += 1 + json_array_size (json_object_get (json_array_get (accels, i), "mig"));
    if (room > 1024) room = 1024;
    self->accels = hpt_calloc (room ? room : 1, sizeof (hpt_host_accel_t));
    for (size_t i = 0; i < n && self->accel_count < room; i++) {
        json_t *a = json_array_get (accels, i);
        const char *type = json_string_value (json_object_get (a, "type"));
        if (json_is_true (json_object_get (a, "migEnabled"))) {
            s_read_migs (self, a, room);
            continue;
        }
        if (!type || !hpt_accel_lookup (type))
            continue; //  an accelerator hpt cannot name cannot be requested
        s_read_accel (&self->accels[self->accel_count++], type, a);
    }
    json_t *containers = json_object_get (resources, "containers");
    self->containers = json_is_object (containers);
    self->container_gpus = json_is_true (json_object_get (containers, "gpus"));
    self->resources = json_deep_copy (resources);
    const char *key;
    json_t *why;
    json_object_foreach (json_object_get (resources, "failedGpus"), key, why) {
        if (json_is_string (why)) s_mark_failed (self, atoi (key), json_string_value (why));
    }
    return self;
}

void
hpt_host_destroy (hpt_host_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_host_t *self = *self_p;
    for (size_t i = 0; i < self->accel_count; i++) {
        free (self->accels[i].type);
        free (self->accels[i].pci_bus_id);
        free (self->accels[i].cpus);
        free (self->accels[i].links);
        free (self->accels[i].known);
        free (self->accels[i].failure);
    }
    free (self->accels);
    free (self->free_cores);
    free (self->ports_used);
    zframe_destroy (&self->routing_id);
    json_decref (self->resources);
    free (self->name);
    free (self->advertise);
    free (self->drain_reason);
    free (self->drained_by);
    free (self->version);
    free (self->key);
    free (self);
    *self_p = NULL;
}

bool
hpt_host_schedulable (hpt_host_t *self)
{
    return self->state == HPT_HOST_READY && self->drain == HPT_DRAIN_NONE;
}

void
hpt_host_clear_reservations (hpt_host_t *self)
{
    self->used_cpus = 0;
    self->used_memory_mb = 0;
    self->running_tasks = 0;
    for (size_t i = 0; i < self->core_count; i++)
        self->free_cores[i] = 1;
    for (size_t i = 0; i < self->accel_count; i++)
        self->accels[i].used = false;
    memset (self->ports_used, 0, (size_t)(self->port_hi - self->port_lo + 1));
}

bool
hpt_host_holds_port (hpt_host_t *self, int port)
{
    return port >= self->port_lo && port <= self->port_hi && self->ports_used[port - self->port_lo];
}

//  Whether a and b advertise the same host address (tasks on both are
//  reached as ADDRESS:PORT, so they share one port space). Host names
//  ignore case.
static bool
s_same_address (hpt_host_t *a, hpt_host_t *b)
{
    return a != b && strcasecmp (a->advertise, b->advertise) == 0;
}

int
hpt_host_take_port (hpt_host_t *self, hpt_host_t *const *nodes, size_t count)
{
    //  The nodes sharing this one's address, found once: usually none.
    size_t shared = 0;
    hpt_host_t **peers = hpt_calloc (count ? count : 1, sizeof (hpt_host_t *));
    for (size_t i = 0; i < count; i++)
        if (s_same_address (self, nodes[i])) peers[shared++] = nodes[i];
    int span = self->port_hi - self->port_lo + 1, taken = -1;
    for (int k = 0; k < span && taken < 0; k++) {
        int port = self->port_lo + (self->next_port - self->port_lo + k) % span;
        bool held = self->ports_used[port - self->port_lo];
        for (size_t i = 0; i < shared && !held; i++)
            held = hpt_host_holds_port (peers[i], port);
        if (!held) taken = port;
    }
    free (peers);
    if (taken < 0) return -1;
    self->ports_used[taken - self->port_lo] = 1;
    self->next_port = taken + 1 > self->port_hi ? self->port_lo : taken + 1;
    return taken;
}

void
hpt_host_release_port (hpt_host_t *self, int port)
{
    if (port >= self->port_lo && port <= self->port_hi) self->ports_used[port - self->port_lo] = 0;
}

void
hpt_host_heartbeat (hpt_host_t *self, int64_t running_tasks, double load, int64_t last_seq)
{
    self->agent_tasks = running_tasks;
    self->load = load;
    self->agent_last_seq = last_seq;
}

json_t *
hpt_host_to_json (hpt_host_t *self)
{
    char buf[40];
    json_t *out = json_object ();
    json_object_set_new (out, "name", json_string (self->name));
    json_object_set_new (out, "state", json_string (hpt_host_state_name (self->state)));
    json_object_set_new (out, "drainState", json_string (hpt_drain_state_name (self->drain)));
    if (self->drain_reason)
        json_object_set_new (out, "drainReason", json_string (self->drain_reason));
    if (self->drained_by) json_object_set_new (out, "drainedBy", json_string (self->drained_by));
    if (self->drain_time)
        json_object_set_new (out, "drainTime",
                             json_string (hpt_time_format (self->drain_time, buf, sizeof (buf))));
    json_object_set_new (out, "address", json_string (self->advertise));
    if (self->version) json_object_set_new (out, "agentVersion", json_string (self->version));
    json_object_set_new (out, "cpus", json_real (self->cpus));
    json_object_set_new (out, "memoryGb", json_real ((double)self->memory_mb / 1024.0));
    json_object_set_new (out, "freeCpus", json_real (self->cpus - self->used_cpus));
    json_object_set_new (out, "freeMemoryGb",
                         json_real ((double)(self->memory_mb - self->used_memory_mb) / 1024.0));
    json_t *accels = json_array ();
    for (size_t i = 0; i < self->accel_count; i++) {
        json_t *a = json_object ();
        json_object_set_new (a, "type", json_string (self->accels[i].type));
        json_object_set_new (a, "index", json_integer (self->accels[i].index));
        if (self->accels[i].mig) {
            json_object_set_new (a, "mig", json_true ());
            json_object_set_new (a, "gpu", json_integer (self->accels[i].parent));
        }
        if (self->accels[i].pci_bus_id)
            json_object_set_new (a, "pciBusId", json_string (self->accels[i].pci_bus_id));
        json_object_set_new (a, "numaNode", json_integer (self->accels[i].numa_node));
        json_object_set_new (a, "free",
                             json_boolean (!self->accels[i].used && !self->accels[i].failure));
        if (self->accels[i].failure) {
            json_object_set_new (a, "health", json_string ("FAILED"));
            json_object_set_new (a, "failure", json_string (self->accels[i].failure));
        }
        json_array_append_new (accels, a);
    }
    json_object_set_new (out, "accelerators", accels);
    json_object_set_new (out, "runningTasks", json_integer ((json_int_t)self->running_tasks));
    if (self->agent_tasks >= 0)
        json_object_set_new (out, "agentRunningTasks", json_integer (self->agent_tasks));
    if (self->load >= 0) json_object_set_new (out, "load", json_real (self->load));
    if (self->agent_last_seq >= 0)
        json_object_set_new (out, "pendingEvents",
                             json_integer (self->agent_last_seq > self->acked_seq
                                               ? self->agent_last_seq - self->acked_seq
                                               : 0));
    if (self->last_seen)
        json_object_set_new (out, "lastSeen",
                             json_string (hpt_time_format (self->last_seen, buf, sizeof (buf))));
    return out;
}
