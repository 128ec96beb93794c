/*  hpt_format -- how the CLI prints what the master answers

    A table keeps its cells until it is printed, because column widths
    depend on every row. Widths count bytes, which is exact for the ASCII
    the master sends in ids, states and numbers; a reason in UTF-8 may sit
    a little off but is always in the last column, which is not padded.

    Cells show control characters as '?': a cell is one line of a table,
    and some cells hold what others typed (a drain reason, a route in the
    audit trail), which must not move the cursor or recolour the terminal
    of whoever reads the table.
*/
#include "hpt_format.h"
#include "hpt_alloc.h"
#include "hpt_json.h"
#include "hpt_space.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

HPT_ENUM_DEFINE (hpt_format_style, HPT_FORMAT_STYLE_LIST)

struct _hpt_format_table_t {
    size_t columns;  //  number of columns
    size_t rows;     //  rows used, the headings being row 0
    size_t capacity; //  rows allocated
    char **cells;    //  rows * columns strings, owned
};

static void
s_add_row (hpt_format_table_t *self, const char *const *cells)
{
    if (self->rows == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 16;
        self->cells = hpt_realloc (self->cells, self->capacity * self->columns * sizeof (char *));
    }
    for (size_t c = 0; c < self->columns; c++)
        self->cells[self->rows * self->columns + c] = hpt_strdup (cells[c] ? cells[c] : "-");
    self->rows++;
}

hpt_format_table_t *
hpt_format_table_new (const char *const *headings, size_t column_count)
{
    hpt_format_table_t *self = hpt_calloc (1, sizeof (hpt_format_table_t));
    self->columns = column_count;
    s_add_row (self, headings);
    return self;
}

void
hpt_format_table_destroy (hpt_format_table_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_format_table_t *self = *self_p;
    for (size_t i = 0; i < self->rows * self->columns; i++)
        free (self->cells[i]);
    free (self->cells);
    free (self);
    *self_p = NULL;
}

void
hpt_format_table_add (hpt_format_table_t *self, const char *const *cells)
{
    s_add_row (self, cells);
}

void
hpt_format_table_print (hpt_format_table_t *self, FILE *out)
{
    size_t *width = hpt_calloc (self->columns, sizeof (size_t));
    for (size_t r = 0; r < self->rows; r++)
        for (size_t c = 0; c < self->columns; c++) {
            const char *cell = self->cells[r * self->columns + c];
            size_t len = cell ? strlen (cell) : 1;
            if (len > width[c]) width[c] = len;
        }
    for (size_t r = 0; r < self->rows; r++) {
        for (size_t c = 0; c < self->columns; c++) {
            const char *cell = self->cells[r * self->columns + c];
            if (!cell) cell = "-";
            if (c + 1 == self->columns)
                fprintf (out, "%s\n", cell);
            else
                fprintf (out, "%-*s  ", (int)width[c], cell);
        }
    }
    free (width);
}

const char *
hpt_format_cell (json_t *value, char *buf, size_t size)
{
    if (json_is_string (value)) {
        snprintf (buf, size, "%s", json_string_value (value));
        for (char *c = buf; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    } else if (json_is_integer (value))
        snprintf (buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value (value));
    else if (json_is_real (value) && size >= 32)
        hpt_format_double (json_real_value (value), buf, size);
    else if (json_is_boolean (value))
        snprintf (buf, size, "%s", json_is_true (value) ? "true" : "false");
    else
        snprintf (buf, size, "-");
    return buf;
}

const char *
hpt_format_time_ms (json_t *value, char *buf, size_t size)
{
    if (!json_is_integer (value) || json_integer_value (value) < 0)
        return hpt_format_cell (value, buf, size);
    time_t seconds = (time_t)(json_integer_value (value) / 1000);
    struct tm tm;
    if (!gmtime_r (&seconds, &tm) || strftime (buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return hpt_format_cell (value, buf, size);
    return buf;
}

bool
hpt_format_style_option (const char *command, const char *text, hpt_format_style_t *style)
{
    if (hpt_format_style_parse (text, style) == 0) return true;
    fprintf (stderr, "hpt %s: --format must be json or yaml, not '%s'\n", command, text);
    return false;
}

bool
hpt_format_print (json_t *value, hpt_format_style_t style, FILE *out)
{
    char *text =
        style == HPT_FORMAT_YAML ? hpt_json_dumps_yaml (value) : hpt_json_dumps (value, true);
    if (!text) return false;
    fputs (text, out);
    free (text);
    return true;
}
