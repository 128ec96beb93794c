/*  hpt_tree -- a parsed config document with the position of every node

    Configs arrive as YAML (libyaml) or JSON (jansson). Both are loaded into
    this one tree so that a single schema-driven reader (hpt_job_reader)
    validates them the same way. A node is a mapping, a sequence or a
    scalar; every node keeps its line and column in the source (1-based;
    0 when the source format carries none, as jansson's values don't).

    Scalars keep their text and a hint of what the source said they were:
    a YAML plain scalar may be a number or a boolean, a quoted one is a
    string; JSON scalars know their type exactly. The reader decides what a
    field accepts (AI Platform takes int64 fields as numbers or strings).

    Loading is bounded: documents over HPT_TREE_MAX_BYTES, deeper than
    HPT_TREE_MAX_DEPTH or with more than HPT_TREE_MAX_NODES nodes are
    refused, and YAML anchors/aliases are refused (they would let a small
    file expand into a huge tree). Duplicate mapping keys are errors.
*/
#ifndef HPT_TREE_H_INCLUDED
#define HPT_TREE_H_INCLUDED

#include "hpt_error.h"
#include <stdbool.h>
#include <stddef.h>

#define HPT_TREE_MAX_BYTES (4u * 1024 * 1024)
#define HPT_TREE_MAX_DEPTH 64
#define HPT_TREE_MAX_NODES 200000

typedef enum {
    HPT_NODE_MAP,
    HPT_NODE_SEQ,
    HPT_NODE_SCALAR,
} hpt_node_kind_t;

typedef enum {
    HPT_SCALAR_PLAIN,  //  YAML plain scalar: could be a number, bool, null
    HPT_SCALAR_STRING, //  quoted YAML scalar or JSON string
    HPT_SCALAR_NUMBER, //  JSON number
    HPT_SCALAR_BOOL,   //  JSON true/false (text "true"/"false")
    HPT_SCALAR_NULL,   //  JSON null (text "null")
} hpt_scalar_style_t;

typedef struct _hpt_node_t hpt_node_t;

struct _hpt_node_t {
    hpt_node_kind_t kind;     //  map, sequence or scalar
    hpt_scalar_style_t style; //  scalars only
    char *text;               //  scalars: the text; maps: NULL
    size_t line;              //  1-based, 0 when unknown
    size_t column;            //  1-based, 0 when unknown
    size_t count;             //  maps: pairs; sequences: items
    char **keys;              //  maps: key texts, owned
    hpt_node_t **key_nodes;   //  maps: key nodes (for their positions)
    hpt_node_t **items;       //  maps: values; sequences: items
};

//  Duplicate keys a YAML document had: reported at most this many.
#define HPT_TREE_MAX_DUPLICATES 16

typedef struct {
    size_t line;   //  1-based
    size_t column; //  1-based
    char key[64];  //  the key, cut to fit
} hpt_tree_duplicate_t;

typedef struct {
    char message[256];                                        //  what went wrong
    size_t line;                                              //  1-based, 0 when unknown
    size_t column;                                            //  1-based, 0 when unknown
    size_t duplicate_count;                                   //  duplicate keys seen (YAML)
    hpt_tree_duplicate_t duplicates[HPT_TREE_MAX_DUPLICATES]; //  the first of them
} hpt_tree_error_t;

//  Parses YAML text (one document) into a tree. Returns the root (the
//  caller owns it) or NULL with *error filled. An empty document is an
//  error. A key repeated in one mapping does not stop the parse, so that
//  a reader can report it with everything else: the first pair is kept,
//  each repetition (its key and value) is left out of the tree and
//  counted in error->duplicate_count, with its place in error->duplicates
//  (the first HPT_TREE_MAX_DUPLICATES). A caller that must refuse such
//  a document checks duplicate_count.
hpt_node_t *hpt_tree_from_yaml (const char *text, size_t size, hpt_tree_error_t *error);

//  Parses JSON text into a tree. Same ownership and errors as YAML.
hpt_node_t *hpt_tree_from_json (const char *text, size_t size, hpt_tree_error_t *error);

//  Destroys a tree and nulls the pointer.
void hpt_node_destroy (hpt_node_t **self_p);

//  Value of key in a map, or NULL (borrowed).
hpt_node_t *hpt_node_get (hpt_node_t *self, const char *key);

//  Human name of a node's kind for messages ("a mapping", "a list", ...).
const char *hpt_node_kind_name (hpt_node_t *self);

//  Reads a whole file into a fresh NUL-terminated buffer (caller frees),
//  refusing files over max_bytes. Returns NULL with *error.
char *hpt_read_file (const char *path, size_t max_bytes, size_t *size, hpt_error_t *error);

#endif
