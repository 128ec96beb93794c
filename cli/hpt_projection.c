/*  hpt_projection -- gcloud's --format: which fields of a resource print, and how

    The parser is a hand-written recursive descent over the small grammar

        format := NAME [ '[' ATTR {',' ATTR} ']' ] [ '(' KEY {',' KEY} ')' ]
        KEY    := PATH { ':' 'label' '=' (WORD | "QUOTED" | 'QUOTED') }
        PATH   := NAME { '.' NAME | '[' DIGITS ']' }

    with blanks allowed between tokens. Each key keeps its steps (a name
    or an index) so a value is found without parsing again per row.

    JSON and YAML with keys build a new object holding only the keys, at
    the same nesting as in the resource (an index step keeps the element
    under its list's name), then print it as the whole resource would be.
*/
#include "hpt_projection.h"
#include "hpt_alloc.h"
#include "hpt_format.h"
#include "hpt_json.h"
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

HPT_ENUM_DEFINE (hpt_projection_kind, HPT_PROJECTION_KIND_LIST)

typedef struct {
    char *name; //  a member name, owned; NULL for an index step
    long index; //  the list index of an index step
} s_step_t;

typedef struct {
    char *path;                               //  the path as written, owned
    char *label;                              //  its heading, owned
    s_step_t steps[HPT_PROJECTION_MAX_DEPTH]; //  the path's steps
    size_t step_count;                        //  entries used in steps
} s_key_t;

struct _hpt_projection_t {
    hpt_projection_kind_t kind; //  how it prints
    bool heading;               //  whether table and csv print headings
    s_key_t *keys;              //  the keys, owned; NULL for a whole resource
    size_t key_count;           //  entries in keys
};

//  A cursor over the text being parsed.
typedef struct {
    const char *text; //  the whole text, for messages
    const char *at;   //  the next character
} s_cursor_t;

static void
s_blanks (s_cursor_t *c)
{
    while (*c->at == ' ' || *c->at == '\t')
        c->at++;
}

static bool
s_name_char (char ch)
{
    return isalnum ((unsigned char)ch) || ch == '_' || ch == '-';
}

//  Parses a PATH at the cursor into key's steps.
static int
s_parse_path (s_cursor_t *c, s_key_t *key, hpt_error_t *error)
{
    const char *start = c->at;
    do {
        if (key->step_count == HPT_PROJECTION_MAX_DEPTH)
            return hpt_error_set (error, HPT_E_INVALID, "a field path has at most %d steps",
                                  HPT_PROJECTION_MAX_DEPTH);
        if (*c->at == '.') c->at++;
        const char *name = c->at;
        while (s_name_char (*c->at))
            c->at++;
        if (c->at == name)
            return hpt_error_set (error, HPT_E_INVALID,
                                  "expected a field name at offset %td of '%s'", name - c->text,
                                  c->text);
        key->steps[key->step_count++] = (s_step_t){hpt_strndup (name, (size_t)(c->at - name)), 0};
        while (*c->at == '[') {
            char *end = NULL;
            errno = 0;
            long index = strtol (c->at + 1, &end, 10);
            if (errno || end == c->at + 1 || *end != ']' || index < 0 ||
                key->step_count == HPT_PROJECTION_MAX_DEPTH || !isdigit ((unsigned char)c->at[1]))
                return hpt_error_set (error, HPT_E_INVALID,
                                      "expected [N] (a list index) at offset %td of '%s'",
                                      c->at - c->text, c->text);
            key->steps[key->step_count++] = (s_step_t){NULL, index};
            c->at = end + 1;
        }
    } while (*c->at == '.');
    if (*c->at == '(')
        return hpt_error_set (error, HPT_E_INVALID,
                              "'%.*s(': transforms are not supported; give field paths only",
                              (int)(c->at - start), start);
    key->path = hpt_strndup (start, (size_t)(c->at - start));
    return 0;
}

//  Parses ":label=NAME" attributes after a path.
static int
s_parse_attributes (s_cursor_t *c, s_key_t *key, hpt_error_t *error)
{
    for (s_blanks (c); *c->at == ':'; s_blanks (c)) {
        c->at++;
        s_blanks (c);
        if (strncmp (c->at, "label=", 6) != 0) {
            size_t len = strcspn (c->at, ",:)= ");
            return hpt_error_set (error, HPT_E_INVALID,
                                  "key attribute '%.*s' of %s is not supported (only label=NAME)",
                                  (int)len, c->at, key->path);
        }
        c->at += 6;
        const char *value = c->at;
        size_t len;
        if (*c->at == '"' || *c->at == '\'') {
            const char *close = strchr (c->at + 1, *c->at);
            if (!close)
                return hpt_error_set (error, HPT_E_INVALID, "unterminated quote in the label of %s",
                                      key->path);
            value = c->at + 1;
            len = (size_t)(close - value);
            c->at = close + 1;
        } else {
            len = strcspn (c->at, ",:)");
            c->at += len;
            while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
                len--;
        }
        free (key->label);
        key->label = hpt_strndup (value, len);
    }
    return 0;
}

//  gcloud's heading for a path: its last name, camelCase as UPPER_SNAKE.
static char *
s_heading (const s_key_t *key)
{
    const char *name = key->path;
    for (size_t i = key->step_count; i-- > 0;)
        if (key->steps[i].name) {
            name = key->steps[i].name;
            break;
        }
    char *out = hpt_malloc (2 * strlen (name) + 1);
    size_t n = 0;
    for (const char *p = name; *p; p++) {
        if (isupper ((unsigned char)*p) && p > name && islower ((unsigned char)p[-1]))
            out[n++] = '_';
        out[n++] = *p == '-' ? '_' : (char)toupper ((unsigned char)*p);
    }
    out[n] = 0;
    return out;
}

static void
s_key_free (s_key_t *key)
{
    for (size_t i = 0; i < key->step_count; i++)
        free (key->steps[i].name);
    free (key->path);
    free (key->label);
}

//  Parses "KEY, KEY, ...)" after the '(' into self's keys.
static int
s_parse_keys (s_cursor_t *c, hpt_projection_t *self, hpt_error_t *error)
{
    for (;;) {
        s_blanks (c);
        if (*c->at == ')' && self->key_count == 0) break;
        if (self->key_count == HPT_PROJECTION_MAX_KEYS)
            return hpt_error_set (error, HPT_E_INVALID, "at most %d keys", HPT_PROJECTION_MAX_KEYS);
        self->keys = hpt_realloc (self->keys, (self->key_count + 1) * sizeof (s_key_t));
        s_key_t *key = &self->keys[self->key_count++];
        memset (key, 0, sizeof (*key));
        if (s_parse_path (c, key, error) != 0 || s_parse_attributes (c, key, error) != 0) return -1;
        if (*c->at == ',') {
            c->at++;
            continue;
        }
        if (*c->at == ')') break;
        return hpt_error_set (error, HPT_E_INVALID,
                              "expected ',' or ')' after key %s at offset %td of '%s'", key->path,
                              c->at - c->text, c->text);
    }
    c->at++;
    return 0;
}

//  Parses "[no-heading]" after the format name.
static int
s_parse_format_attributes (s_cursor_t *c, hpt_projection_t *self, hpt_error_t *error)
{
    c->at++;
    for (;;) {
        s_blanks (c);
        size_t len = strcspn (c->at, ",]");
        while (len > 0 && (c->at[len - 1] == ' ' || c->at[len - 1] == '\t'))
            len--;
        if (len == 10 && strncmp (c->at, "no-heading", 10) == 0)
            self->heading = false;
        else
            return hpt_error_set (error, HPT_E_INVALID,
                                  "format attribute '%.*s' is not supported (only no-heading)",
                                  (int)len, c->at);
        c->at += len;
        s_blanks (c);
        if (*c->at == ']') break;
        if (*c->at != ',')
            return hpt_error_set (error, HPT_E_INVALID, "expected ',' or ']' in '%s'", c->text);
        c->at++;
    }
    c->at++;
    return 0;
}

//  Parses text (the default keys are tried when text has none).
static int
s_parse (hpt_projection_t *self, const char *text, const char *default_keys, hpt_error_t *error)
{
    s_cursor_t c = {text, text};
    s_blanks (&c);
    const char *name = c.at;
    while (isalpha ((unsigned char)*c.at) || *c.at == '-')
        c.at++;
    char kind[16];
    snprintf (kind, sizeof (kind), "%.*s", (int)(c.at - name), name);
    if (hpt_projection_kind_parse (kind, &self->kind) != 0)
        return hpt_error_set (error, HPT_E_INVALID,
                              "'%.40s' is not a format hpt prints: json, yaml, table(KEYS), "
                              "value(KEYS), csv(KEYS) or none",
                              text);
    s_blanks (&c);
    if (*c.at == '[' && s_parse_format_attributes (&c, self, error) != 0) return -1;
    s_blanks (&c);
    if (*c.at == '(' && self->kind == HPT_PROJECTION_NONE)
        return hpt_error_set (error, HPT_E_INVALID, "none takes no keys");
    if (*c.at == '(') {
        c.at++;
        if (s_parse_keys (&c, self, error) != 0) return -1;
    }
    s_blanks (&c);
    if (*c.at)
        return hpt_error_set (error, HPT_E_INVALID, "unexpected '%.20s' at offset %td of '%s'",
                              c.at, c.at - text, text);
    bool columns = self->kind == HPT_PROJECTION_TABLE || self->kind == HPT_PROJECTION_VALUE ||
                   self->kind == HPT_PROJECTION_CSV;
    if (columns && self->key_count == 0) {
        if (!default_keys)
            return hpt_error_set (error, HPT_E_INVALID,
                                  "%s needs the fields to print, e.g. %s(jobId, state)", kind,
                                  kind);
        s_cursor_t d = {default_keys, default_keys};
        if (s_parse_keys (&d, self, error) != 0) return -1;
    }
    return 0;
}

hpt_projection_t *
hpt_projection_new (const char *text, const char *default_keys, hpt_error_t *error)
{
    if (strlen (text) > HPT_PROJECTION_MAX_TEXT) {
        hpt_error_set (error, HPT_E_INVALID, "longer than %d bytes", HPT_PROJECTION_MAX_TEXT);
        return NULL;
    }
    hpt_projection_t *self = hpt_calloc (1, sizeof (hpt_projection_t));
    self->heading = true;
    char *defaults = default_keys ? hpt_asprintf ("%s)", default_keys) : NULL;
    if (s_parse (self, text, defaults, error) != 0) hpt_projection_destroy (&self);
    free (defaults);
    return self;
}

void
hpt_projection_destroy (hpt_projection_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_projection_t *self = *self_p;
    for (size_t i = 0; i < self->key_count; i++)
        s_key_free (&self->keys[i]);
    free (self->keys);
    free (self);
    *self_p = NULL;
}

hpt_projection_t *
hpt_projection_option (const char *command, const char *text, const char *default_keys)
{
    hpt_error_t error;
    hpt_projection_t *self = hpt_projection_new (text, default_keys, &error);
    if (!self) fprintf (stderr, "hpt %s: --format: %s\n", command, error.message);
    return self;
}

hpt_projection_kind_t
hpt_projection_kind (hpt_projection_t *self)
{
    return self->kind;
}

static json_t *
s_get (json_t *resource, const s_key_t *key)
{
    json_t *value = resource;
    for (size_t i = 0; i < key->step_count && value; i++)
        value = key->steps[i].name ? json_object_get (value, key->steps[i].name)
                                   : json_array_get (value, (size_t)key->steps[i].index);
    return value;
}

json_t *
hpt_projection_get (json_t *resource, const char *path)
{
    s_key_t key = {0};
    s_cursor_t c = {path, path};
    json_t *value = NULL;
    if (s_parse_path (&c, &key, NULL) == 0 && *c.at == 0) value = s_get (resource, &key);
    s_key_free (&key);
    return value;
}

bool
hpt_projection_path_ok (const char *path, hpt_error_t *error)
{
    s_key_t key = {0};
    s_cursor_t c = {path, path};
    int rc = s_parse_path (&c, &key, error);
    if (rc == 0 && *c.at)
        rc = hpt_error_set (error, HPT_E_INVALID, "'%s' is not a field path (at offset %td)", path,
                            c.at - path);
    s_key_free (&key);
    return rc == 0;
}

//  Appends text to a growing buffer, control characters as '?'.
static void
s_append_raw (char **buf, size_t *len, const char *text)
{
    size_t add = text ? strlen (text) : 0;
    *buf = hpt_realloc (*buf, *len + add + 1);
    for (size_t i = 0; i < add; i++) {
        unsigned char ch = (unsigned char)text[i];
        (*buf)[(*len)++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    (*buf)[*len] = 0;
}

//  Appends the text of value: scalars as table cells, and at the top a
//  list's items joined by ';' and a map as key=value joined by ';';
//  deeper lists and maps as compact JSON.
static void
s_append_text (char **buf, size_t *len, json_t *value, bool top)
{
    size_t i;
    const char *name;
    json_t *item;
    if (json_is_array (value) && top) {
        json_array_foreach (value, i, item) {
            if (i > 0) s_append_raw (buf, len, ";");
            s_append_text (buf, len, item, false);
        }
    } else if (json_is_object (value) && top) {
        bool first = true;
        json_object_foreach (value, name, item) {
            if (!first) s_append_raw (buf, len, ";");
            s_append_raw (buf, len, name);
            s_append_raw (buf, len, "=");
            s_append_text (buf, len, item, false);
            first = false;
        }
    } else if (json_is_array (value) || json_is_object (value)) {
        char *dumped = hpt_json_dumps (value, false);
        s_append_raw (buf, len, dumped);
        free (dumped);
    } else if (json_is_string (value))
        s_append_raw (buf, len, json_string_value (value));
    else {
        char cell[64];
        s_append_raw (buf, len, hpt_format_cell (value, cell, sizeof (cell)));
    }
}

//  The text of one cell, owned by the caller; NULL when value is missing.
static char *
s_cell (json_t *value)
{
    if (!value || json_is_null (value)) return NULL;
    char *buf = hpt_strdup ("");
    size_t len = 0;
    s_append_text (&buf, &len, value, true);
    return buf;
}

//  Sets value (borrowed) at key's place in out, making the objects on
//  the way; an index step keeps the element under its list's name.
static void
s_set_nested (json_t *out, const s_key_t *key, json_t *value)
{
    json_t *at = out;
    const char *last = NULL;
    for (size_t i = 0; i < key->step_count; i++) {
        if (!key->steps[i].name) continue;
        if (last) {
            json_t *next = json_object_get (at, last);
            if (!json_is_object (next)) {
                next = json_object ();
                json_object_set_new (at, last, next);
            }
            at = next;
        }
        last = key->steps[i].name;
    }
    if (last) json_object_set (at, last, value);
}

//  The resource cut down to self's keys (a new reference).
static json_t *
s_cut (hpt_projection_t *self, json_t *resource)
{
    if (self->key_count == 0) return json_incref (resource);
    json_t *out = json_object ();
    for (size_t k = 0; k < self->key_count; k++) {
        json_t *value = s_get (resource, &self->keys[k]);
        if (value) s_set_nested (out, &self->keys[k], value);
    }
    return out;
}

//  Writes one CSV field, quoted when it holds a comma, quote or newline.
static void
s_csv_field (const char *text, FILE *out)
{
    if (!text) return;
    if (!strpbrk (text, ",\"\r\n")) {
        fputs (text, out);
        return;
    }
    fputc ('"', out);
    for (const char *p = text; *p; p++) {
        if (*p == '"') fputc ('"', out);
        fputc (*p, out);
    }
    fputc ('"', out);
}

//  Prints the rows of table, value or csv.
static void
s_print_rows (hpt_projection_t *self, json_t *items, FILE *out)
{
    size_t n = self->key_count;
    char **cells = hpt_calloc (n, sizeof (char *));
    hpt_format_table_t *table = NULL;
    if (self->kind == HPT_PROJECTION_TABLE) {
        for (size_t k = 0; k < n; k++)
            cells[k] =
                self->keys[k].label ? hpt_strdup (self->keys[k].label) : s_heading (&self->keys[k]);
        table = hpt_format_table_new ((const char *const *)cells, n);
        hpt_format_table_set_heading (table, self->heading);
    } else if (self->kind == HPT_PROJECTION_CSV && self->heading) {
        for (size_t k = 0; k < n; k++) {
            if (k > 0) fputc (',', out);
            s_csv_field (self->keys[k].label ? self->keys[k].label : self->keys[k].path, out);
        }
        fputc ('\n', out);
    }
    size_t i;
    json_t *item;
    json_array_foreach (items, i, item) {
        for (size_t k = 0; k < n; k++) {
            free (cells[k]);
            cells[k] = s_cell (s_get (item, &self->keys[k]));
        }
        if (table)
            hpt_format_table_add (table, (const char *const *)cells);
        else
            for (size_t k = 0; k < n; k++) {
                if (k > 0) fputc (self->kind == HPT_PROJECTION_CSV ? ',' : '\t', out);
                if (self->kind == HPT_PROJECTION_CSV)
                    s_csv_field (cells[k], out);
                else if (cells[k])
                    fputs (cells[k], out);
            }
        if (!table) fputc ('\n', out);
    }
    if (table) hpt_format_table_print (table, out);
    hpt_format_table_destroy (&table);
    for (size_t k = 0; k < n; k++)
        free (cells[k]);
    free (cells);
}

//  Prints one resource as JSON or YAML.
static bool
s_print_document (hpt_projection_t *self, json_t *resource, FILE *out)
{
    json_t *cut = s_cut (self, resource);
    char *text =
        self->kind == HPT_PROJECTION_YAML ? hpt_json_dumps_yaml (cut) : hpt_json_dumps (cut, true);
    json_decref (cut);
    if (!text) return false;
    fputs (text, out);
    free (text);
    return true;
}

bool
hpt_projection_print (hpt_projection_t *self, json_t *resource, FILE *out)
{
    if (self->kind == HPT_PROJECTION_NONE) return true;
    if (self->kind == HPT_PROJECTION_JSON || self->kind == HPT_PROJECTION_YAML)
        return s_print_document (self, resource, out);
    json_t *one = json_pack ("[O]", resource);
    s_print_rows (self, one, out);
    json_decref (one);
    return true;
}

bool
hpt_projection_print_list (hpt_projection_t *self, json_t *items, FILE *out)
{
    if (self->kind == HPT_PROJECTION_NONE) return true;
    if (self->kind == HPT_PROJECTION_JSON) {
        json_t *cut = json_array ();
        size_t i;
        json_t *item;
        json_array_foreach (items, i, item)
            json_array_append_new (cut, s_cut (self, item));
        char *text = hpt_json_dumps (cut, true);
        json_decref (cut);
        if (!text) return false;
        fputs (text, out);
        free (text);
        return true;
    }
    if (self->kind == HPT_PROJECTION_YAML) {
        size_t i;
        json_t *item;
        json_array_foreach (items, i, item) {
            if (i > 0) fputs ("---\n", out);
            if (!s_print_document (self, item, out)) return false;
        }
        return true;
    }
    s_print_rows (self, items, out);
    return true;
}
