/*  hpt_format -- how the CLI prints what the master answers

    Resources print as YAML (gcloud's default) or pretty JSON, through
    hpt_json so that numbers come out in their shortest exact form. Lists
    print as tables in gcloud's look: upper-case headings, columns left
    aligned and separated by two spaces, widths fitted to the content.
    Cells come from JSON values that may be missing or of an unexpected
    type; those print as "-" rather than failing, since a table is for
    reading and the master's answer has been checked for its shape before.
*/
#ifndef HPT_FORMAT_H_INCLUDED
#define HPT_FORMAT_H_INCLUDED

#include "hpt_enum.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

//  How a resource prints, as --format spells it.
#define HPT_FORMAT_STYLE_LIST(X)                                                                   \
    X (HPT_FORMAT_JSON, "json")                                                                    \
    X (HPT_FORMAT_YAML, "yaml")
HPT_ENUM_DECLARE (hpt_format_style, HPT_FORMAT_STYLE_LIST)

typedef struct _hpt_format_table_t hpt_format_table_t;

//  Creates a table with the given headings (copied; count of them in
//  column_count). The caller owns the table.
hpt_format_table_t *hpt_format_table_new (const char *const *headings, size_t column_count);

//  Destroys the table and nulls the pointer.
void hpt_format_table_destroy (hpt_format_table_t **self_p);

//  Adds a row of column_count cells (copied; NULL prints as "-").
void hpt_format_table_add (hpt_format_table_t *self, const char *const *cells);

//  Prints headings and rows. The last column is not padded.
void hpt_format_table_print (hpt_format_table_t *self, FILE *out);

//  Text of a scalar JSON value for a table cell: strings as they are
//  (control characters as '?'), integers in decimal, reals in shortest
//  form, true/false; NULL, null, arrays and objects as "-". Writes into
//  buf and returns it.
const char *hpt_format_cell (json_t *value, char *buf, size_t size);

//  A time the master sends as milliseconds since the epoch, as UTC
//  "2026-12-03T22:33:45Z"; anything else as hpt_format_cell prints it.
const char *hpt_format_time_ms (json_t *value, char *buf, size_t size);

//  Reads the --format value text of command ("jobs describe") into
//  *style. Prints "hpt COMMAND: --format must be json or yaml, not 'TEXT'"
//  and returns false when it is neither.
bool hpt_format_style_option (const char *command, const char *text, hpt_format_style_t *style);

//  Prints value (borrowed) as YAML or pretty JSON. Returns false (nothing
//  printed) when it cannot be rendered.
bool hpt_format_print (json_t *value, hpt_format_style_t style, FILE *out);

#endif
