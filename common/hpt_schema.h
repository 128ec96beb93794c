/*  hpt_schema -- the one way a config reader walks its document

    Three readers turn a config document into a model: the job reader
    (hpt_job_reader), the master's cluster.yaml (hpt_cluster_config) and
    the agent's --resources file (hpt_topology). Each loads its document
    into an hpt_tree and walks it with this class, which gives them:

    - where the reader is: the path of the field being read (a stack of
      field names, map keys and list indexes), and problems reported at a
      node's position under that path, as a dotted path, as a JSON pointer
      and as Google's field path (hpt_diag), into an hpt_diag;
    - field tables: per object of the schema, its known keys, a handler
      each and whether the key is required. Unknown keys are reported with
      the closest known name ("did you mean"), or the known names when the
      table is short; a missing required key is reported where its object
      is. Tables may name this class's handlers for plain members (a
      string, an int64 in a range, a boolean, a duration) by offset, so a
      reader writes a handler only for what is its own;
    - lists and maps walked item by item, each item's index or key on the
      path;
    - converters that read a scalar the same way in every reader: strings,
      booleans (YAML 1.1's True/true/TRUE/yes/on/...: gcloud's loader takes
      them), int64 and doubles with ranges (numbers or strings: the REST
      API writes int64 as strings), durations ("7200s", and "500ms" where
      a reader allows it), enums by name (an hpt_enum list, with a hint),
      accelerator types, and lists of strings;
    - loading a file or text into a tree, where a file that cannot be read
      or a syntax error is one problem of the whole document.

    Invariants:
    - a scalar converter either stores its value and returns true, or
      reports exactly one problem at node and returns false, leaving its
      output as it was; a list converter reports each bad item and stores
      nothing unless every item is good;
    - handlers run only for values that are not null: a null value (YAML
      `key:` or `~`, JSON null) counts as an omitted field;
    - problems counts every problem reported through the schema, so a
      reader compares it before and after a part to know whether that part
      is usable;
    - a reader with state of its own embeds hpt_schema_t as the FIRST
      member of its context, so a handler turns the schema pointer it gets
      back into the context with a cast;
    - every push is popped before the function that pushed returns.
*/
#ifndef HPT_SCHEMA_H_INCLUDED
#define HPT_SCHEMA_H_INCLUDED

#include "hpt_accel.h"
#include "hpt_diag.h"
#include "hpt_enum.h"
#include "hpt_tree.h"
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPT_SCHEMA_MAX_DEPTH 16    //  every schema is far shallower
#define HPT_SCHEMA_MAX_STRING 4096 //  bytes of any single string value

typedef struct {
    hpt_diag_t *diag;                          //  where problems go (borrowed)
    const char *seg_key[HPT_SCHEMA_MAX_DEPTH]; //  path segment: a key, or NULL for an index
    bool seg_map_key[HPT_SCHEMA_MAX_DEPTH];    //  the key is a map's key (data), not a field name
    size_t seg_index[HPT_SCHEMA_MAX_DEPTH];    //  path segment: the index when key is NULL
    size_t depth;                              //  segments in use
    size_t problems;                           //  problems reported so far
} hpt_schema_t;

//  Starts at the document's root, reporting into diag (borrowed).
void hpt_schema_init (hpt_schema_t *self, hpt_diag_t *diag);

//  Enters field key (borrowed: it must live until the matching pop), map
//  key (the same, for a key of a map such as labels: data, which Google's
//  field path keeps as it is) or list item index; leaves the last one
//  entered.
void hpt_schema_push_key (hpt_schema_t *self, const char *key);
void hpt_schema_push_map_key (hpt_schema_t *self, const char *key);
void hpt_schema_push_index (hpt_schema_t *self, size_t index);
void hpt_schema_pop (hpt_schema_t *self);

//  Reports a problem at node's position (NULL: none) under the current
//  path.
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

//  Closest candidate to word by edit distance (case-insensitive), or NULL
//  when none is close enough to be a plausible typo. For "did you mean".
const char *hpt_schema_did_you_mean (const char *word, const char *const *candidates, size_t count);

//  ---------------------------------------------------------------------
//  Loading

//  Parses text (YAML, or JSON when json is set) into a tree the caller
//  owns; NULL after reporting the syntax problem at its position.
hpt_node_t *hpt_schema_parse (hpt_schema_t *self, const char *text, size_t size, bool json);

//  Reads a whole file of at most HPT_TREE_MAX_BYTES into a fresh
//  NUL-terminated buffer the caller frees; NULL after reporting why it
//  cannot be read ("cannot open: ...").
char *hpt_schema_read_file (hpt_schema_t *self, const char *path, size_t *size);

//  ---------------------------------------------------------------------
//  Objects: a table of known keys and a handler per key

//  Bounds of a double: [min, max], or (min, max] when above_min is set.
typedef struct {
    double min;     //  -HUGE_VAL: no lower bound
    double max;     //  HUGE_VAL: no upper bound
    bool above_min; //  min itself is refused ("must be positive" for 0)
} hpt_schema_range_t;

#define HPT_SCHEMA_ANY ((hpt_schema_range_t){-HUGE_VAL, HUGE_VAL, false})

typedef struct _hpt_schema_field_t hpt_schema_field_t;

//  Converts and checks a field's value (never null) into target; field is
//  the table entry. Returns false after reporting a problem.
typedef bool hpt_schema_handler_fn (hpt_schema_t *self, hpt_node_t *value, void *target,
                                    const hpt_schema_field_t *field);
typedef hpt_schema_handler_fn *hpt_schema_handler_t;

struct _hpt_schema_field_t {
    const char *key;              //  the field's name in the document
    hpt_schema_handler_t handler; //  converts a non-null value into target
    const char *required;         //  NULL: optional; else a hint for "required field is
                                  //  missing (HINT)", "" for none
    size_t offset;                //  this class's handlers: where the member is in target
    int64_t min, max;             //  int64 and millisecond handlers: inclusive bounds
    hpt_schema_range_t range;     //  double handler: bounds
    const hpt_enum_t *values;     //  enum handler: the enum read
    unsigned refused;             //  enum handler: values (a bit each) a user may not pick
};

//  A table and its length, for hpt_schema_object.
#define HPT_SCHEMA_FIELDS(table) table, sizeof (table) / sizeof ((table)[0])

//  Table entries: a reader's own handler (optional, or required with a
//  hint), and this class's handlers for a member of struct type. Any
//  other combination is written with HPT_SCHEMA_ENTRY and the members it
//  sets: HPT_SCHEMA_ENTRY ("count", hpt_schema_int64_field, .required = "",
//  .offset = offsetof (T, count), .max = 9).
#define HPT_SCHEMA_ENTRY(k, h, ...)                                                                \
    {                                                                                              \
        .key = (k), .handler = (h), __VA_ARGS__                                                    \
    }
#define HPT_SCHEMA_FIELD(k, h)                                                                     \
    {                                                                                              \
        .key = (k), .handler = (h)                                                                 \
    }
#define HPT_SCHEMA_REQUIRED(k, h, hint) HPT_SCHEMA_ENTRY (k, h, .required = (hint))
#define HPT_SCHEMA_MEMBER(k, h, type, member)                                                      \
    HPT_SCHEMA_ENTRY (k, h, .offset = offsetof (type, member))
#define HPT_SCHEMA_STRING(k, type, member)                                                         \
    HPT_SCHEMA_MEMBER (k, hpt_schema_string_field, type, member)
#define HPT_SCHEMA_NONEMPTY(k, type, member)                                                       \
    HPT_SCHEMA_MEMBER (k, hpt_schema_nonempty_field, type, member)
#define HPT_SCHEMA_BOOL(k, type, member) HPT_SCHEMA_MEMBER (k, hpt_schema_bool_field, type, member)
#define HPT_SCHEMA_SECONDS(k, type, member)                                                        \
    HPT_SCHEMA_MEMBER (k, hpt_schema_seconds_field, type, member)
#define HPT_SCHEMA_INT64(k, type, member, lo, hi)                                                  \
    HPT_SCHEMA_ENTRY (k, hpt_schema_int64_field, .offset = offsetof (type, member), .min = (lo),   \
                      .max = (hi))
#define HPT_SCHEMA_MILLIS(k, type, member, lo, hi)                                                 \
    HPT_SCHEMA_ENTRY (k, hpt_schema_millis_field, .offset = offsetof (type, member), .min = (lo),  \
                      .max = (hi))
#define HPT_SCHEMA_DOUBLE(k, type, member, lo, hi, above)                                          \
    HPT_SCHEMA_ENTRY (k, hpt_schema_double_field, .offset = offsetof (type, member),               \
                      .range = {(lo), (hi), (above)})
#define HPT_SCHEMA_ENUM(k, type, member, type_enum, refused_values)                                \
    HPT_SCHEMA_ENTRY (k, hpt_schema_enum_field, .offset = offsetof (type, member),                 \
                      .values = &(type_enum), .refused = (refused_values))

//  Walks mapping node: runs the handler of every known key whose value is
//  not null, reports unknown keys, then required keys that are missing or
//  null. Returns false (after reporting) when node is not a mapping.
bool hpt_schema_object (hpt_schema_t *self, hpt_node_t *node, const hpt_schema_field_t *fields,
                        size_t count, void *target);

//  Handlers for plain members of target, at field->offset:
//  char *, a fresh copy replacing the old one: any string, or not empty
hpt_schema_handler_fn hpt_schema_string_field;
hpt_schema_handler_fn hpt_schema_nonempty_field;
//  int64_t in [field->min, field->max]
hpt_schema_handler_fn hpt_schema_int64_field;
//  double within field->range
hpt_schema_handler_fn hpt_schema_double_field;
//  bool
hpt_schema_handler_fn hpt_schema_bool_field;
//  double: a positive protobuf Duration in seconds ("7200s", "1.5s")
hpt_schema_handler_fn hpt_schema_seconds_field;
//  int64_t milliseconds: "10s", "1.5s" or "500ms", in [field->min,
//  field->max] ms; a positive duration under 1ms is refused, not rounded
//  to 0
hpt_schema_handler_fn hpt_schema_millis_field;
//  an enum member (an hpt_enum type: a C enum, int-sized) read with
//  hpt_schema_enum (field->values, field->refused)
hpt_schema_handler_fn hpt_schema_enum_field;

//  ---------------------------------------------------------------------
//  Lists and maps

//  Reads item index of parent (a list's item, or a map's value with its
//  key node at parent->key_nodes[index]) into target.
typedef bool (*hpt_schema_item_t) (hpt_schema_t *self, hpt_node_t *parent, size_t index,
                                   void *target);

//  Walks list node, each item's index on the path. Returns false (after
//  reporting) when node is not a list or has more than max items ("at most
//  MAX NOUN are allowed"); then no item is read.
bool hpt_schema_list (hpt_schema_t *self, hpt_node_t *node, size_t max, const char *noun,
                      hpt_schema_item_t item, void *target);

//  The same for mapping node, each item's key on the path.
bool hpt_schema_map (hpt_schema_t *self, hpt_node_t *node, size_t max, const char *noun,
                     hpt_schema_item_t item, void *target);

//  A list of at most max strings (non-empty ones when nonempty is set)
//  into a fresh array of fresh copies (*out, *count).
bool hpt_schema_strings (hpt_schema_t *self, hpt_node_t *node, size_t max, bool nonempty,
                         char ***out, size_t *count);

//  ---------------------------------------------------------------------
//  Scalars

//  A string's text (borrowed from the tree), or NULL after reporting: not
//  a string, longer than HPT_SCHEMA_MAX_STRING, or empty when nonempty.
const char *hpt_schema_text (hpt_schema_t *self, hpt_node_t *node, bool nonempty);

//  The same text as a fresh copy replacing *out.
bool hpt_schema_string (hpt_schema_t *self, hpt_node_t *node, bool nonempty, char **out);

//  A boolean, in YAML 1.1's spellings.
bool hpt_schema_bool (hpt_schema_t *self, hpt_node_t *node, bool *out);

//  An integer (digits with an optional sign) in [min, max].
bool hpt_schema_int64 (hpt_schema_t *self, hpt_node_t *node, int64_t min, int64_t max,
                       int64_t *out);

//  A finite decimal number within range.
bool hpt_schema_double (hpt_schema_t *self, hpt_node_t *node, hpt_schema_range_t range,
                        double *out);

//  Writes a millisecond count the way a config spells a duration ("10s",
//  "1500ms").
void hpt_schema_millis_text (int64_t ms, char *buf, size_t size);

//  One of type's spellings, except the values whose bit is set in refused
//  (a *_UNSPECIFIED zero value, a reserved value: not a user's to pick).
//  Returns the value, or -1 after reporting with the closest spelling or
//  the list of them.
int hpt_schema_enum (hpt_schema_t *self, hpt_node_t *node, const hpt_enum_t *type,
                     unsigned refused);

//  An accelerator type hpt knows (hpt_accel), or NULL after reporting with
//  the closest name.
const hpt_accel_info_t *hpt_schema_accel (hpt_schema_t *self, hpt_node_t *node);

#endif
