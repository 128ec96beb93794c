/*  hpt_json -- canonical JSON text for hpt's documents
 */
#include "hpt_json.h"
#include "hpt_alloc.h"
#include "hpt_space.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct {
    char *data;  //  text so far
    size_t size; //  bytes used
    size_t cap;  //  bytes allocated
} s_buf_t;

static void
s_put (s_buf_t *b, const char *text, size_t len)
{
    if (b->size + len + 1 > b->cap) {
        while (b->size + len + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 256;
        b->data = hpt_realloc (b->data, b->cap);
    }
    memcpy (b->data + b->size, text, len);
    b->size += len;
    b->data[b->size] = '\0';
}

static void
s_puts (s_buf_t *b, const char *text)
{
    s_put (b, text, strlen (text));
}

static void
s_string (s_buf_t *b, const char *text, size_t len)
{
    s_put (b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        //  Runs that need no escape go in whole: a Job has many strings.
        size_t run = 0;
        while (i + run < len && (unsigned char)text[i + run] >= 0x20 && text[i + run] != '"' &&
               text[i + run] != '\\')
            run++;
        if (run) {
            s_put (b, text + i, run);
            i += run - 1;
            continue;
        }
        unsigned char c = (unsigned char)text[i];
        char esc[8];
        switch (c) {
            case '"':
                s_puts (b, "\\\"");
                break;
            case '\\':
                s_puts (b, "\\\\");
                break;
            case '\n':
                s_puts (b, "\\n");
                break;
            case '\r':
                s_puts (b, "\\r");
                break;
            case '\t':
                s_puts (b, "\\t");
                break;
            default:
                if (c < 0x20) {
                    snprintf (esc, sizeof (esc), "\\u%04x", c);
                    s_puts (b, esc);
                } else
                    s_put (b, (const char *)&text[i], 1);
        }
    }
    s_put (b, "\"", 1);
}

static void
s_indent (s_buf_t *b, bool pretty, int depth)
{
    if (!pretty) return;
    s_put (b, "\n", 1);
    for (int i = 0; i < depth; i++)
        s_put (b, "  ", 2);
}

static void
s_value (s_buf_t *b, json_t *value, bool pretty, int depth)
{
    char num[64];
    switch (json_typeof (value)) {
        case JSON_OBJECT: {
            if (json_object_size (value) == 0) {
                s_puts (b, "{}");
                return;
            }
            s_put (b, "{", 1);
            const char *key;
            json_t *member;
            bool first = true;
            json_object_foreach (value, key, member) {
                if (!first) s_put (b, ",", 1);
                first = false;
                s_indent (b, pretty, depth + 1);
                s_string (b, key, strlen (key));
                s_puts (b, pretty ? ": " : ":");
                s_value (b, member, pretty, depth + 1);
            }
            s_indent (b, pretty, depth);
            s_put (b, "}", 1);
            return;
        }
        case JSON_ARRAY: {
            if (json_array_size (value) == 0) {
                s_puts (b, "[]");
                return;
            }
            s_put (b, "[", 1);
            size_t i;
            json_t *item;
            json_array_foreach (value, i, item) {
                if (i) s_put (b, ",", 1);
                s_indent (b, pretty, depth + 1);
                s_value (b, item, pretty, depth + 1);
            }
            s_indent (b, pretty, depth);
            s_put (b, "]", 1);
            return;
        }
        case JSON_STRING:
            s_string (b, json_string_value (value), json_string_length (value));
            return;
        case JSON_INTEGER:
            snprintf (num, sizeof (num), "%" JSON_INTEGER_FORMAT, json_integer_value (value));
            s_puts (b, num);
            return;
        case JSON_REAL: {
            double d = json_real_value (value);
            //  JSON has no NaN or infinity; null is the honest rendering.
            s_puts (b, isfinite (d) ? hpt_format_double (d, num, sizeof (num)) : "null");
            return;
        }
        case JSON_TRUE:
            s_puts (b, "true");
            return;
        case JSON_FALSE:
            s_puts (b, "false");
            return;
        case JSON_NULL:
            s_puts (b, "null");
            return;
    }
}

char *
hpt_json_dumps (json_t *value, bool pretty)
{
    s_buf_t b = {NULL, 0, 0};
    s_value (&b, value, pretty, 0);
    if (pretty) s_put (&b, "\n", 1);
    return b.data;
}

char *
hpt_json_dumps_nested (json_t *value, int depth)
{
    s_buf_t b = {NULL, 0, 0};
    s_value (&b, value, true, depth);
    return b.data;
}

//  ---------------------------------------------------------------------
//  YAML rendering through libyaml's emitter

//  Whether a plain scalar with this text would read back as a non-string
//  under YAML 1.1 (what PyYAML and so gcloud use) or be empty.
static bool
s_yaml_ambiguous (const char *text)
{
    static const char *words[] = {"true", "True", "TRUE", "false", "False", "FALSE", "yes",
                                  "Yes",  "YES",  "no",   "No",    "NO",    "on",    "On",
                                  "ON",   "off",  "Off",  "OFF",   "null",  "Null",  "NULL",
                                  "~",    "y",    "Y",    "n",     "N"};
    if (!*text) return true;
    //  YAML 1.1 timestamps ("2026-11-29", "2026-11-29T03:00:00Z").
    if (strlen (text) >= 8 && isdigit ((unsigned char)text[0]) &&
        isdigit ((unsigned char)text[1]) && isdigit ((unsigned char)text[2]) &&
        isdigit ((unsigned char)text[3]) && text[4] == '-' && isdigit ((unsigned char)text[5]))
        return true;
    for (size_t i = 0; i < sizeof (words) / sizeof (words[0]); i++)
        if (strcmp (text, words[i]) == 0) return true;
    char *end = NULL;
    strtod (text, &end);
    return end && *end == '\0';
}

static int
s_yaml_scalar (yaml_emitter_t *e, const char *text, yaml_scalar_style_t style)
{
    yaml_event_t event;
    yaml_scalar_event_initialize (&event, NULL, NULL, (yaml_char_t *)text, (int)strlen (text), 1, 1,
                                  style);
    return yaml_emitter_emit (e, &event);
}

static int
s_yaml_value (yaml_emitter_t *e, json_t *value)
{
    yaml_event_t event;
    char num[64];
    switch (json_typeof (value)) {
        case JSON_OBJECT: {
            yaml_mapping_start_event_initialize (&event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
            if (!yaml_emitter_emit (e, &event)) return 0;
            const char *key;
            json_t *member;
            json_object_foreach (value, key, member) {
                if (!s_yaml_scalar (e, key, YAML_ANY_SCALAR_STYLE) || !s_yaml_value (e, member))
                    return 0;
            }
            yaml_mapping_end_event_initialize (&event);
            return yaml_emitter_emit (e, &event);
        }
        case JSON_ARRAY: {
            yaml_sequence_start_event_initialize (&event, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
            if (!yaml_emitter_emit (e, &event)) return 0;
            size_t i;
            json_t *item;
            json_array_foreach (value, i, item) {
                if (!s_yaml_value (e, item)) return 0;
            }
            yaml_sequence_end_event_initialize (&event);
            return yaml_emitter_emit (e, &event);
        }
        case JSON_STRING: {
            const char *text = json_string_value (value);
            return s_yaml_scalar (e, text,
                                  s_yaml_ambiguous (text) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                                          : YAML_ANY_SCALAR_STYLE);
        }
        case JSON_INTEGER:
            snprintf (num, sizeof (num), "%" JSON_INTEGER_FORMAT, json_integer_value (value));
            return s_yaml_scalar (e, num, YAML_PLAIN_SCALAR_STYLE);
        case JSON_REAL:
            return s_yaml_scalar (e, hpt_format_double (json_real_value (value), num, sizeof (num)),
                                  YAML_PLAIN_SCALAR_STYLE);
        case JSON_TRUE:
            return s_yaml_scalar (e, "true", YAML_PLAIN_SCALAR_STYLE);
        case JSON_FALSE:
            return s_yaml_scalar (e, "false", YAML_PLAIN_SCALAR_STYLE);
        case JSON_NULL:
            return s_yaml_scalar (e, "null", YAML_PLAIN_SCALAR_STYLE);
    }
    return 0;
}

static int
s_yaml_write (void *data, unsigned char *buffer, size_t size)
{
    s_put ((s_buf_t *)data, (const char *)buffer, size);
    return 1;
}

char *
hpt_json_dumps_yaml (json_t *value)
{
    yaml_emitter_t emitter;
    yaml_event_t event;
    s_buf_t b = {NULL, 0, 0};
    yaml_emitter_initialize (&emitter);
    yaml_emitter_set_output (&emitter, s_yaml_write, &b);
    yaml_emitter_set_unicode (&emitter, 1);
    yaml_emitter_set_width (&emitter, -1);
    yaml_stream_start_event_initialize (&event, YAML_UTF8_ENCODING);
    int ok = yaml_emitter_emit (&emitter, &event);
    yaml_document_start_event_initialize (&event, NULL, NULL, NULL, 1);
    ok = ok && yaml_emitter_emit (&emitter, &event);
    ok = ok && s_yaml_value (&emitter, value);
    yaml_document_end_event_initialize (&event, 1);
    ok = ok && yaml_emitter_emit (&emitter, &event);
    yaml_stream_end_event_initialize (&event);
    ok = ok && yaml_emitter_emit (&emitter, &event);
    yaml_emitter_delete (&emitter);
    if (!ok) {
        free (b.data);
        return NULL;
    }
    return b.data;
}
