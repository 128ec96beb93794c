/*  hpt_fleet -- the master's nodes (agent hosts), by name and by
    connection

    The fleet owns every hpt_host_t the master knows: agents that
    registered since it started and agents known from the store. It finds
    a node by its name (the agent's identity) and by the ROUTER routing id
    of its current connection (how the agents' messages arrive), both in
    constant time, and lists the nodes sorted by name (the order the
    scheduler tries them in, so placement is deterministic).

    Invariant: a routing id maps to at most one node, the one whose
    routing_id it is; hpt_fleet_set_route is the only way to change a
    node's routing_id.
*/
#ifndef HPT_FLEET_H_INCLUDED
#define HPT_FLEET_H_INCLUDED

#include "hpt_host.h"

typedef struct _hpt_fleet_t hpt_fleet_t;

hpt_fleet_t *hpt_fleet_new (void);

//  Destroys the fleet with every node, and nulls the pointer.
void hpt_fleet_destroy (hpt_fleet_t **self_p);

//  Adds node (the fleet takes ownership). Its name must be new.
void hpt_fleet_add (hpt_fleet_t *self, hpt_host_t *node);

//  Puts fresh in node's place (same name; fresh takes over the routing
//  id) and destroys node.
void hpt_fleet_replace (hpt_fleet_t *self, hpt_host_t *node, hpt_host_t *fresh);

//  Removes and destroys node.
void hpt_fleet_remove (hpt_fleet_t *self, hpt_host_t *node);

//  Sets node's connection (routing_id is copied; NULL: none).
void hpt_fleet_set_route (hpt_fleet_t *self, hpt_host_t *node, zframe_t *routing_id);

//  The node called name, or NULL (borrowed).
hpt_host_t *hpt_fleet_get (hpt_fleet_t *self, const char *name);

//  The node whose current connection is routing_id, or NULL (borrowed).
hpt_host_t *hpt_fleet_by_route (hpt_fleet_t *self, zframe_t *routing_id);

//  Every node, sorted by name (borrowed array, valid until the fleet
//  changes).
hpt_host_t **hpt_fleet_nodes (hpt_fleet_t *self, size_t *count);

//  How many nodes are connected (READY).
size_t hpt_fleet_ready (hpt_fleet_t *self);

#endif
