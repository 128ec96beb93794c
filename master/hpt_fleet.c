/*  hpt_fleet -- nodes by name and by connection (see hpt_fleet.h)

    A sorted array gives the scheduler its order; two hash tables give
    lookups by name and by routing id (hex of the id's bytes) in constant
    time, so the cost of an agent's message does not grow with the fleet.
*/
#include "hpt_fleet.h"
#include "hpt_alloc.h"
#include <stdlib.h>
#include <string.h>

struct _hpt_fleet_t {
    hpt_host_t **nodes; //  sorted by name, owned
    size_t count;       //  entries in nodes
    zhashx_t *by_name;  //  name -> node (borrowed)
    zhashx_t *by_route; //  routing id hex -> node (borrowed)
};

hpt_fleet_t *
hpt_fleet_new (void)
{
    hpt_fleet_t *self = hpt_calloc (1, sizeof (hpt_fleet_t));
    self->by_name = zhashx_new ();
    self->by_route = zhashx_new ();
    return self;
}

void
hpt_fleet_destroy (hpt_fleet_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_fleet_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        hpt_host_destroy (&self->nodes[i]);
    free (self->nodes);
    zhashx_destroy (&self->by_name);
    zhashx_destroy (&self->by_route);
    free (self);
    *self_p = NULL;
}

static void
s_route_forget (hpt_fleet_t *self, hpt_host_t *node)
{
    if (!node->routing_id) return;
    char *key = zframe_strhex (node->routing_id);
    if (zhashx_lookup (self->by_route, key) == node) zhashx_delete (self->by_route, key);
    free (key);
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp ((*(hpt_host_t *const *)a)->name, (*(hpt_host_t *const *)b)->name);
}

void
hpt_fleet_add (hpt_fleet_t *self, hpt_host_t *node)
{
    self->nodes = hpt_realloc (self->nodes, (self->count + 1) * sizeof (hpt_host_t *));
    self->nodes[self->count++] = node;
    qsort (self->nodes, self->count, sizeof (hpt_host_t *), s_compare);
    zhashx_update (self->by_name, node->name, node);
    if (node->routing_id) {
        zframe_t *route = node->routing_id;
        node->routing_id = NULL;
        hpt_fleet_set_route (self, node, route);
        zframe_destroy (&route);
    }
}

void
hpt_fleet_replace (hpt_fleet_t *self, hpt_host_t *node, hpt_host_t *fresh)
{
    zframe_t *route = node->routing_id ? zframe_dup (node->routing_id) : NULL;
    s_route_forget (self, node);
    for (size_t i = 0; i < self->count; i++)
        if (self->nodes[i] == node) self->nodes[i] = fresh;
    zhashx_update (self->by_name, fresh->name, fresh);
    hpt_host_destroy (&node);
    hpt_fleet_set_route (self, fresh, route);
    zframe_destroy (&route);
}

void
hpt_fleet_remove (hpt_fleet_t *self, hpt_host_t *node)
{
    s_route_forget (self, node);
    zhashx_delete (self->by_name, node->name);
    for (size_t i = 0; i < self->count; i++)
        if (self->nodes[i] == node) {
            memmove (&self->nodes[i], &self->nodes[i + 1],
                     (self->count - i - 1) * sizeof (hpt_host_t *));
            self->count--;
            break;
        }
    hpt_host_destroy (&node);
}

void
hpt_fleet_set_route (hpt_fleet_t *self, hpt_host_t *node, zframe_t *routing_id)
{
    s_route_forget (self, node);
    zframe_destroy (&node->routing_id);
    if (!routing_id) return;
    node->routing_id = zframe_dup (routing_id);
    char *key = zframe_strhex (routing_id);
    //  "Last HELLO wins": another node's claim on this connection ends.
    hpt_host_t *other = zhashx_lookup (self->by_route, key);
    if (other && other != node) zframe_destroy (&other->routing_id);
    zhashx_update (self->by_route, key, node);
    free (key);
}

hpt_host_t *
hpt_fleet_get (hpt_fleet_t *self, const char *name)
{
    return name ? zhashx_lookup (self->by_name, name) : NULL;
}

hpt_host_t *
hpt_fleet_by_route (hpt_fleet_t *self, zframe_t *routing_id)
{
    if (!routing_id) return NULL;
    char *key = zframe_strhex (routing_id);
    hpt_host_t *node = zhashx_lookup (self->by_route, key);
    free (key);
    return node;
}

hpt_host_t **
hpt_fleet_nodes (hpt_fleet_t *self, size_t *count)
{
    *count = self->count;
    return self->nodes;
}

size_t
hpt_fleet_ready (hpt_fleet_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->count; i++)
        n += self->nodes[i]->state == HPT_HOST_READY;
    return n;
}
