/*  hpt_projection -- gcloud's --format: which fields of a resource print, and how

    Every command that prints a resource or a list takes --format in
    gcloud's projection language, parsed once into a projection and
    printed by it:

        json | yaml                      the whole resource (a list: a JSON
                                         array; YAML documents split by ---)
        json(KEYS) | yaml(KEYS)          only the keys, nested as in the resource
        table(KEYS)                      aligned columns under headings
        value(KEYS)                      tab-separated values, no headings
        csv(KEYS)                        RFC 4180 CSV with a heading line
        none                             nothing
        table[no-heading](...), csv[no-heading](...)   without the headings

    KEYS is a comma-separated list of field paths (`jobId`,
    `trainingOutput.trials[0].finalMetric.objectiveValue`, `labels.team`),
    each optionally followed by `:label=NAME` (a quoted NAME may hold
    commas). A heading is the label, else the path's last name in
    gcloud's style (jobId -> JOB_ID; csv keeps the path as written).
    table, value and csv without KEYS use the command's default keys.

    A cell is a scalar as it is (reals in shortest exact form), a list as
    its items joined by ';', a map as key=value joined by ';'. A missing
    field prints as '-' in a table and as nothing in value and csv.
    Control characters print as '?': cells come from what others typed
    (labels, messages) and must not drive the reader's terminal.

    Invariants: a projection holds at most HPT_PROJECTION_MAX_KEYS keys of
    at most HPT_PROJECTION_MAX_DEPTH steps; its text is at most
    HPT_PROJECTION_MAX_TEXT bytes. Transforms (`.date()`) and key
    attributes other than label are refused by name, not ignored.
*/
#ifndef HPT_PROJECTION_H_INCLUDED
#define HPT_PROJECTION_H_INCLUDED

#include "hpt_enum.h"
#include "hpt_error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#define HPT_PROJECTION_MAX_KEYS 64
#define HPT_PROJECTION_MAX_DEPTH 16
#define HPT_PROJECTION_MAX_TEXT 4096

#define HPT_PROJECTION_KIND_LIST(X)                                                                \
    X (HPT_PROJECTION_JSON, "json")                                                                \
    X (HPT_PROJECTION_YAML, "yaml")                                                                \
    X (HPT_PROJECTION_TABLE, "table")                                                              \
    X (HPT_PROJECTION_VALUE, "value")                                                              \
    X (HPT_PROJECTION_CSV, "csv")                                                                  \
    X (HPT_PROJECTION_NONE, "none")
HPT_ENUM_DECLARE (hpt_projection_kind, HPT_PROJECTION_KIND_LIST)

typedef struct _hpt_projection_t hpt_projection_t;

//  Parses a --format value. default_keys ("jobId, state:label=STATUS",
//  NULL when the command has none) stands in for a table, value or csv
//  without keys. Returns NULL with the reason in error when text is not a
//  projection hpt prints. The caller owns the projection.
hpt_projection_t *hpt_projection_new (const char *text, const char *default_keys,
                                      hpt_error_t *error);

//  Destroys the projection and nulls the pointer.
void hpt_projection_destroy (hpt_projection_t **self_p);

//  Parses --format for command ("jobs list"), printing
//  "hpt COMMAND: --format: why" on stderr when it is not valid.
hpt_projection_t *hpt_projection_option (const char *command, const char *text,
                                         const char *default_keys);

//  Its kind.
hpt_projection_kind_t hpt_projection_kind (hpt_projection_t *self);

//  Prints one resource (borrowed): one row for table, value and csv.
//  Returns false (nothing printed) when JSON or YAML cannot be rendered.
bool hpt_projection_print (hpt_projection_t *self, json_t *resource, FILE *out);

//  Prints a list of resources (a JSON array, borrowed): one row each.
bool hpt_projection_print_list (hpt_projection_t *self, json_t *items, FILE *out);

//  The value at path ("trainingOutput.trials[0].trialId") in resource;
//  borrowed, NULL when missing or when path is not a field path.
json_t *hpt_projection_get (json_t *resource, const char *path);

//  Whether path is a field path (letters, digits, '_' and '-' names
//  joined by '.', with [N] indexes); writes why not into error.
bool hpt_projection_path_ok (const char *path, hpt_error_t *error);

#endif
