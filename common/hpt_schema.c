/*  hpt_schema -- where a config reader is, and the problems it found there
 */
#include "hpt_schema.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
hpt_schema_init (hpt_schema_t *self, hpt_diag_t *diag)
{
    memset (self, 0, sizeof (*self));
    self->diag = diag;
}

void
hpt_schema_push_key (hpt_schema_t *self, const char *key)
{
    if (self->depth < HPT_SCHEMA_MAX_DEPTH) {
        self->seg_key[self->depth] = key;
        self->seg_index[self->depth] = 0;
    }
    self->depth++;
}

void
hpt_schema_push_index (hpt_schema_t *self, size_t index)
{
    if (self->depth < HPT_SCHEMA_MAX_DEPTH) {
        self->seg_key[self->depth] = NULL;
        self->seg_index[self->depth] = index;
    }
    self->depth++;
}

void
hpt_schema_pop (hpt_schema_t *self)
{
    self->depth--;
}

//  Writes the current path, dotted and as a JSON pointer (RFC 6901: '~'
//  is written "~0" and '/' is written "~1").
static void
s_paths (hpt_schema_t *self, char *dotted, size_t dsize, char *pointer, size_t psize)
{
    size_t d = 0, p = 0;
    dotted[0] = pointer[0] = '\0';
    size_t depth = self->depth < HPT_SCHEMA_MAX_DEPTH ? self->depth : HPT_SCHEMA_MAX_DEPTH;
    for (size_t i = 0; i < depth; i++) {
        const char *key = self->seg_key[i];
        if (!key) {
            d += snprintf (dotted + d, d < dsize ? dsize - d : 0, "[%zu]", self->seg_index[i]);
            p += snprintf (pointer + p, p < psize ? psize - p : 0, "/%zu", self->seg_index[i]);
            continue;
        }
        d += snprintf (dotted + d, d < dsize ? dsize - d : 0, "%s%s", i ? "." : "", key);
        p += snprintf (pointer + p, p < psize ? psize - p : 0, "/");
        for (const char *c = key; *c; c++)
            p += snprintf (pointer + p, p < psize ? psize - p : 0, "%s",
                           *c == '~'   ? "~0"
                           : *c == '/' ? "~1"
                                       : (char[2]){*c, 0});
    }
}

static void
s_verror (hpt_schema_t *self, hpt_node_t *node, const char *format, va_list args)
{
    char message[512], dotted[512], pointer[512];
    vsnprintf (message, sizeof (message), format, args);
    s_paths (self, dotted, sizeof (dotted), pointer, sizeof (pointer));
    hpt_diag_add (self->diag, node ? node->line : 0, node ? node->column : 0, dotted, pointer,
                  message);
    self->failed = true;
}

void
hpt_schema_error (hpt_schema_t *self, hpt_node_t *node, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_verror (self, node, format, args);
    va_end (args);
}

void
hpt_schema_error_child (hpt_schema_t *self, hpt_node_t *node, const char *key, const char *format,
                        ...)
{
    hpt_schema_push_key (self, key);
    va_list args;
    va_start (args, format);
    s_verror (self, node, format, args);
    va_end (args);
    hpt_schema_pop (self);
}

bool
hpt_schema_is_null (hpt_node_t *node)
{
    if (node->kind != HPT_NODE_SCALAR) return false;
    if (node->style == HPT_SCALAR_NULL) return true;
    return node->style == HPT_SCALAR_PLAIN &&
           (!*node->text || strcmp (node->text, "~") == 0 || strcmp (node->text, "null") == 0 ||
            strcmp (node->text, "Null") == 0 || strcmp (node->text, "NULL") == 0);
}

bool
hpt_schema_has (hpt_node_t *map, const char *key)
{
    hpt_node_t *value = hpt_node_get (map, key);
    return value && !hpt_schema_is_null (value);
}
