/*  hpt_tree -- a parsed config document with the position of every node

    YAML is read with libyaml's event parser: a stack of open containers,
    each event appending a node to the container on top. Keys of a mapping
    alternate with values, so a mapping under construction remembers
    whether it waits for a key or a value. JSON is read with jansson and
    converted recursively; jansson checks duplicate keys and reports the
    line and column of syntax errors, but not of values.
*/
#include "hpt_tree.h"
#include "hpt_alloc.h"
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static hpt_node_t *
s_node_new (hpt_node_kind_t kind, size_t line, size_t column)
{
    hpt_node_t *self = hpt_calloc (1, sizeof (hpt_node_t));
    self->kind = kind;
    self->line = line;
    self->column = column;
    return self;
}

void
hpt_node_destroy (hpt_node_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_node_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        if (self->keys) free (self->keys[i]);
        if (self->key_nodes) hpt_node_destroy (&self->key_nodes[i]);
        hpt_node_destroy (&self->items[i]);
    }
    free (self->keys);
    free (self->key_nodes);
    free (self->items);
    free (self->text);
    free (self);
    *self_p = NULL;
}

hpt_node_t *
hpt_node_get (hpt_node_t *self, const char *key)
{
    if (!self || self->kind != HPT_NODE_MAP) return NULL;
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->keys[i], key) == 0) return self->items[i];
    return NULL;
}

const char *
hpt_node_kind_name (hpt_node_t *self)
{
    if (self->kind == HPT_NODE_MAP) return "a mapping";
    if (self->kind == HPT_NODE_SEQ) return "a list";
    switch (self->style) {
        case HPT_SCALAR_NUMBER:
            return "a number";
        case HPT_SCALAR_BOOL:
            return "a boolean";
        case HPT_SCALAR_NULL:
            return "null";
        default:
            return "a scalar";
    }
}

//  Appends child to a sequence, or as the value (key_node != NULL: as the
//  key) of a mapping. Capacity doubles; items and keys grow together.
static void
s_append (hpt_node_t *parent, hpt_node_t *key_node, hpt_node_t *child)
{
    size_t n = parent->count;
    if ((n & (n - 1)) == 0) { //  0, 1, 2, 4, ...: grow to the next power of two
        size_t cap = n ? n * 2 : 1;
        parent->items = hpt_realloc (parent->items, cap * sizeof (hpt_node_t *));
        if (parent->kind == HPT_NODE_MAP) {
            parent->keys = hpt_realloc (parent->keys, cap * sizeof (char *));
            parent->key_nodes = hpt_realloc (parent->key_nodes, cap * sizeof (hpt_node_t *));
        }
    }
    if (parent->kind == HPT_NODE_MAP) {
        parent->keys[n] = hpt_strdup (key_node->text);
        parent->key_nodes[n] = key_node;
    }
    parent->items[n] = child;
    parent->count = n + 1;
}

static void
s_error (hpt_tree_error_t *error, size_t line, size_t column, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (error->message, sizeof (error->message), format, args);
    va_end (args);
    error->line = line;
    error->column = column;
}

//  ---------------------------------------------------------------------
//  YAML

typedef struct {
    hpt_node_t *stack[HPT_TREE_MAX_DEPTH + 1];       //  open containers
    hpt_node_t *pending_key[HPT_TREE_MAX_DEPTH + 1]; //  a map's key awaiting its value
    size_t depth;                                    //  entries in stack
    size_t nodes;                                    //  nodes made so far
    hpt_node_t *root;                                //  the document's root
} s_yaml_builder_t;

//  Adds a finished node to the container on top of the stack. Returns -1
//  with error filled on a duplicate key or a non-scalar key.
static int
s_yaml_add (s_yaml_builder_t *b, hpt_node_t *node, hpt_tree_error_t *error)
{
    if (b->depth == 0) {
        b->root = node;
        return 0;
    }
    hpt_node_t *top = b->stack[b->depth - 1];
    if (top->kind == HPT_NODE_SEQ) {
        s_append (top, NULL, node);
        return 0;
    }
    hpt_node_t **key = &b->pending_key[b->depth - 1];
    if (!*key) {
        if (node->kind != HPT_NODE_SCALAR) {
            s_error (error, node->line, node->column, "mapping keys must be scalars");
            hpt_node_destroy (&node);
            return -1;
        }
        if (hpt_node_get (top, node->text)) {
            s_error (error, node->line, node->column, "duplicate key '%s'", node->text);
            hpt_node_destroy (&node);
            return -1;
        }
        *key = node;
        return 0;
    }
    s_append (top, *key, node);
    *key = NULL;
    return 0;
}

static void
s_yaml_builder_clear (s_yaml_builder_t *b)
{
    for (size_t i = 0; i < b->depth; i++)
        hpt_node_destroy (&b->pending_key[i]);
    //  Open containers are already linked into their parents (or are the
    //  root), so destroying the root frees them all; an unlinked bottom
    //  container is the root itself.
    if (b->depth > 0 && !b->root) b->root = b->stack[0];
    hpt_node_destroy (&b->root);
}

//  Adds the node a scalar, sequence-start or mapping-start event opens to
//  the tree, checking the document's limits. 0, or -1 with *error set.
static int
s_yaml_node (s_yaml_builder_t *b, const yaml_event_t *event, hpt_tree_error_t *error)
{
    size_t line = event->start_mark.line + 1, column = event->start_mark.column + 1;
    if (++b->nodes > HPT_TREE_MAX_NODES) {
        s_error (error, line, column, "document has more than %d nodes", HPT_TREE_MAX_NODES);
        return -1;
    }
    if ((event->type == YAML_SCALAR_EVENT && event->data.scalar.anchor) ||
        (event->type == YAML_SEQUENCE_START_EVENT && event->data.sequence_start.anchor) ||
        (event->type == YAML_MAPPING_START_EVENT && event->data.mapping_start.anchor)) {
        s_error (error, line, column, "YAML anchors are not supported");
        return -1;
    }
    hpt_node_t *node;
    if (event->type == YAML_SCALAR_EVENT) {
        node = s_node_new (HPT_NODE_SCALAR, line, column);
        node->text =
            hpt_strndup ((const char *)event->data.scalar.value, event->data.scalar.length);
        if (strlen (node->text) != event->data.scalar.length) {
            s_error (error, line, column, "NUL character in a scalar");
            hpt_node_destroy (&node);
            return -1;
        }
        node->style = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? HPT_SCALAR_PLAIN
                                                                          : HPT_SCALAR_STRING;
        return s_yaml_add (b, node, error) ? -1 : 0;
    }
    if (b->depth >= HPT_TREE_MAX_DEPTH) {
        s_error (error, line, column, "document nested deeper than %d levels", HPT_TREE_MAX_DEPTH);
        return -1;
    }
    node = s_node_new (event->type == YAML_MAPPING_START_EVENT ? HPT_NODE_MAP : HPT_NODE_SEQ, line,
                       column);
    //  Link first, push after: the container is reachable from the root
    //  while it fills, so cleanup never leaks it.
    if (s_yaml_add (b, node, error)) return -1;
    b->stack[b->depth] = node;
    b->pending_key[b->depth] = NULL;
    b->depth++;
    return 0;
}

hpt_node_t *
hpt_tree_from_yaml (const char *text, size_t size, hpt_tree_error_t *error)
{
    memset (error, 0, sizeof (*error));
    if (size > HPT_TREE_MAX_BYTES) {
        s_error (error, 0, 0, "document larger than %u bytes", HPT_TREE_MAX_BYTES);
        return NULL;
    }
    yaml_parser_t parser;
    yaml_parser_initialize (&parser);
    yaml_parser_set_input_string (&parser, (const unsigned char *)text, size);
    s_yaml_builder_t b;
    memset (&b, 0, sizeof (b));
    bool done = false, failed = false;
    int documents = 0;
    while (!done && !failed) {
        yaml_event_t event;
        if (!yaml_parser_parse (&parser, &event)) {
            s_error (error, parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                     "invalid YAML: %s%s%s", parser.problem ? parser.problem : "syntax error",
                     parser.context ? " " : "", parser.context ? parser.context : "");
            failed = true;
            break;
        }
        size_t line = event.start_mark.line + 1, column = event.start_mark.column + 1;
        switch (event.type) {
            case YAML_STREAM_END_EVENT:
                done = true;
                break;
            case YAML_DOCUMENT_START_EVENT:
                if (++documents > 1) {
                    s_error (error, line, column, "only one YAML document is allowed");
                    failed = true;
                }
                break;
            case YAML_ALIAS_EVENT:
                s_error (error, line, column, "YAML aliases are not supported");
                failed = true;
                break;
            case YAML_SCALAR_EVENT:
            case YAML_SEQUENCE_START_EVENT:
            case YAML_MAPPING_START_EVENT:
                if (s_yaml_node (&b, &event, error)) failed = true;
                break;
            case YAML_SEQUENCE_END_EVENT:
            case YAML_MAPPING_END_EVENT:
                b.depth--;
                break;
            default:
                break;
        }
        yaml_event_delete (&event);
    }
    yaml_parser_delete (&parser);
    if (failed) {
        s_yaml_builder_clear (&b);
        return NULL;
    }
    if (!b.root) {
        s_error (error, 1, 1, "the document is empty");
        return NULL;
    }
    return b.root;
}

//  ---------------------------------------------------------------------
//  JSON

static hpt_node_t *
s_from_json (json_t *value, size_t depth, size_t *nodes, hpt_tree_error_t *error)
{
    if (depth > HPT_TREE_MAX_DEPTH) {
        s_error (error, 0, 0, "document nested deeper than %d levels", HPT_TREE_MAX_DEPTH);
        return NULL;
    }
    if (++*nodes > HPT_TREE_MAX_NODES) {
        s_error (error, 0, 0, "document has more than %d nodes", HPT_TREE_MAX_NODES);
        return NULL;
    }
    hpt_node_t *node = NULL;
    char buf[64];
    switch (json_typeof (value)) {
        case JSON_OBJECT: {
            node = s_node_new (HPT_NODE_MAP, 0, 0);
            const char *key;
            json_t *member;
            json_object_foreach (value, key, member) {
                hpt_node_t *child = s_from_json (member, depth + 1, nodes, error);
                if (!child) {
                    hpt_node_destroy (&node);
                    return NULL;
                }
                hpt_node_t *key_node = s_node_new (HPT_NODE_SCALAR, 0, 0);
                key_node->style = HPT_SCALAR_STRING;
                key_node->text = hpt_strdup (key);
                s_append (node, key_node, child);
            }
            return node;
        }
        case JSON_ARRAY: {
            node = s_node_new (HPT_NODE_SEQ, 0, 0);
            size_t i;
            json_t *item;
            json_array_foreach (value, i, item) {
                hpt_node_t *child = s_from_json (item, depth + 1, nodes, error);
                if (!child) {
                    hpt_node_destroy (&node);
                    return NULL;
                }
                s_append (node, NULL, child);
            }
            return node;
        }
        case JSON_STRING:
            node = s_node_new (HPT_NODE_SCALAR, 0, 0);
            node->style = HPT_SCALAR_STRING;
            if (strlen (json_string_value (value)) != json_string_length (value)) {
                s_error (error, 0, 0, "NUL character in a string");
                hpt_node_destroy (&node);
                return NULL;
            }
            node->text = hpt_strdup (json_string_value (value));
            return node;
        case JSON_INTEGER:
            snprintf (buf, sizeof (buf), "%" JSON_INTEGER_FORMAT, json_integer_value (value));
            break;
        case JSON_REAL:
            snprintf (buf, sizeof (buf), "%.17g", json_real_value (value));
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            node = s_node_new (HPT_NODE_SCALAR, 0, 0);
            node->style = HPT_SCALAR_BOOL;
            node->text = hpt_strdup (json_is_true (value) ? "true" : "false");
            return node;
        case JSON_NULL:
            node = s_node_new (HPT_NODE_SCALAR, 0, 0);
            node->style = HPT_SCALAR_NULL;
            node->text = hpt_strdup ("null");
            return node;
    }
    node = s_node_new (HPT_NODE_SCALAR, 0, 0);
    node->style = HPT_SCALAR_NUMBER;
    node->text = hpt_strdup (buf);
    return node;
}

hpt_node_t *
hpt_tree_from_json (const char *text, size_t size, hpt_tree_error_t *error)
{
    memset (error, 0, sizeof (*error));
    if (size > HPT_TREE_MAX_BYTES) {
        s_error (error, 0, 0, "document larger than %u bytes", HPT_TREE_MAX_BYTES);
        return NULL;
    }
    json_error_t jerror;
    json_t *root = json_loadb (text, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerror);
    if (!root) {
        //  jansson's column is that of the last character it consumed: 0
        //  when the error is found at the start of a line.
        size_t line = jerror.line > 0 ? (size_t)jerror.line : 0;
        size_t column = line ? (jerror.column > 1 ? (size_t)jerror.column : 1) : 0;
        s_error (error, line, column, "invalid JSON: %s", jerror.text);
        return NULL;
    }
    size_t nodes = 0;
    hpt_node_t *tree = s_from_json (root, 0, &nodes, error);
    json_decref (root);
    return tree;
}

char *
hpt_read_file (const char *path, size_t max_bytes, size_t *size, hpt_error_t *error)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        hpt_error_set (error, errno == ENOENT ? HPT_E_NOT_FOUND : HPT_E_UNAVAILABLE,
                       "cannot open: %s", strerror (errno));
        return NULL;
    }
    size_t cap = 4096, used = 0;
    char *buf = hpt_malloc (cap + 1);
    while (true) {
        if (used == cap) {
            if (cap > max_bytes) break;
            cap *= 2;
            buf = hpt_realloc (buf, cap + 1);
        }
        size_t got = fread (buf + used, 1, cap - used, file);
        used += got;
        if (got == 0) break;
    }
    bool read_error = ferror (file);
    fclose (file);
    if (read_error) {
        hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot read: %s", strerror (errno));
        free (buf);
        return NULL;
    }
    if (used > max_bytes) {
        hpt_error_set (error, HPT_E_INVALID, "file larger than %zu bytes", max_bytes);
        free (buf);
        return NULL;
    }
    buf[used] = '\0';
    *size = used;
    return buf;
}
