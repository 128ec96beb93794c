/*  hpt_schema -- where a config reader is, and the problems it found there

    The job reader (hpt_job_reader) and the cluster reader
    (hpt_cluster_config) walk an hpt_tree against their schemas. Both need
    the same bookkeeping: the path of the field being read (a stack of keys
    and list indexes), and reporting a problem at a node's position under
    that path, as a dotted path and as a JSON pointer, into an hpt_diag.
    A reader embeds this struct in its own context (or uses it as is).
*/
#ifndef HPT_SCHEMA_H_INCLUDED
#define HPT_SCHEMA_H_INCLUDED

#include "hpt_diag.h"
#include "hpt_tree.h"
#include <stdbool.h>
#include <stddef.h>

#define HPT_SCHEMA_MAX_DEPTH 16 //  both schemas are far shallower

typedef struct {
    hpt_diag_t *diag;                          //  where problems go (borrowed)
    const char *seg_key[HPT_SCHEMA_MAX_DEPTH]; //  path segment: a key, or NULL for an index
    size_t seg_index[HPT_SCHEMA_MAX_DEPTH];    //  path segment: the index when key is NULL
    size_t depth;                              //  segments in use
    bool failed;                               //  any problem so far
} hpt_schema_t;

//  Starts at the document's root, reporting into diag (borrowed).
void hpt_schema_init (hpt_schema_t *self, hpt_diag_t *diag);

//  Enters field key (borrowed: it must live until the matching pop) or
//  list item index; leaves the last one entered.
void hpt_schema_push_key (hpt_schema_t *self, const char *key);
void hpt_schema_push_index (hpt_schema_t *self, size_t index);
void hpt_schema_pop (hpt_schema_t *self);

//  Reports a problem at node's position (NULL: none) under the current
//  path, and marks the reading failed.
void hpt_schema_error (hpt_schema_t *self, hpt_node_t *node, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Reports a problem with child field key at node's position: a missing
//  field is reported where its object is.
void hpt_schema_error_child (hpt_schema_t *self, hpt_node_t *node, const char *key,
                             const char *format, ...) __attribute__ ((format (printf, 4, 5)));

//  Whether node is null: JSON null, or a YAML plain scalar that is empty,
//  "~" or null/Null/NULL (an omitted value).
bool hpt_schema_is_null (hpt_node_t *node);

//  Whether map has key with a value that is not null.
bool hpt_schema_has (hpt_node_t *map, const char *key);

#endif
