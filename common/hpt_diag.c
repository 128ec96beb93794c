/*  hpt_diag -- the list of problems found in one config document
 */
#include "hpt_diag.h"
#include "hpt_alloc.h"
#include <stdlib.h>
#include <string.h>

struct _hpt_diag_t {
    char *source;              //  file name or "request"
    bool json_pointers;        //  print JSON pointers instead of dotted paths
    hpt_diag_entry_t *entries; //  problems, owned
    size_t count;              //  entries used
    size_t cap;                //  entries allocated
};

//  At most this many problems are kept: a generated config with a
//  million bad entries must not turn into a million-line report.
#define S_MAX_ENTRIES 1000

hpt_diag_t *
hpt_diag_new (const char *source, bool json_pointers)
{
    hpt_diag_t *self = hpt_calloc (1, sizeof (hpt_diag_t));
    self->source = hpt_strdup (source ? source : "-");
    self->json_pointers = json_pointers;
    return self;
}

void
hpt_diag_destroy (hpt_diag_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_diag_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        free (self->entries[i].path);
        free (self->entries[i].pointer);
        free (self->entries[i].field);
        free (self->entries[i].message);
    }
    free (self->entries);
    free (self->source);
    free (self);
    *self_p = NULL;
}

void
hpt_diag_add (hpt_diag_t *self, size_t line, size_t column, const char *path, const char *pointer,
              const char *field, const char *message)
{
    if (self->count >= S_MAX_ENTRIES) return;
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 8;
        self->entries = hpt_realloc (self->entries, self->cap * sizeof (hpt_diag_entry_t));
    }
    hpt_diag_entry_t *e = &self->entries[self->count++];
    e->line = line;
    e->column = column;
    e->path = hpt_strdup (path ? path : "");
    e->pointer = hpt_strdup (pointer ? pointer : "");
    e->field = hpt_strdup (field ? field : "");
    e->message = hpt_strdup (message);
}

size_t
hpt_diag_count (hpt_diag_t *self)
{
    return self->count;
}

const hpt_diag_entry_t *
hpt_diag_entry (hpt_diag_t *self, size_t i)
{
    return i < self->count ? &self->entries[i] : NULL;
}

void
hpt_diag_sort (hpt_diag_t *self)
{
    //  Insertion sort: stable, and lists are short.
    for (size_t i = 1; i < self->count; i++) {
        hpt_diag_entry_t e = self->entries[i];
        size_t j = i;
        while (j > 0 && e.line > 0 &&
               (self->entries[j - 1].line > e.line ||
                (self->entries[j - 1].line == e.line && self->entries[j - 1].column > e.column))) {
            self->entries[j] = self->entries[j - 1];
            j--;
        }
        self->entries[j] = e;
    }
}

static const char *
s_field (hpt_diag_t *self, const hpt_diag_entry_t *e)
{
    return self->json_pointers ? e->pointer : e->path;
}

char *
hpt_diag_format (hpt_diag_t *self, size_t i)
{
    const hpt_diag_entry_t *e = hpt_diag_entry (self, i);
    if (!e) return NULL;
    const char *field = s_field (self, e);
    const char *sep = *field ? ": " : "";
    if (e->line)
        return hpt_asprintf ("%s:%zu:%zu: %s%s%s", self->source, e->line, e->column, field, sep,
                             e->message);
    return hpt_asprintf ("%s: %s%s%s", self->source, field, sep, e->message);
}

void
hpt_diag_print (hpt_diag_t *self, FILE *out)
{
    for (size_t i = 0; i < self->count; i++) {
        char *text = hpt_diag_format (self, i);
        fprintf (out, "%s\n", text);
        free (text);
    }
}

json_t *
hpt_diag_to_json (hpt_diag_t *self)
{
    json_t *violations = json_array ();
    for (size_t i = 0; i < self->count; i++) {
        const hpt_diag_entry_t *e = &self->entries[i];
        json_t *v = json_object ();
        json_object_set_new (v, "field", json_string (e->field));
        json_object_set_new (v, "description", json_string (e->message));
        if (*e->pointer) json_object_set_new (v, "hptPointer", json_string (e->pointer));
        json_array_append_new (violations, v);
    }
    json_t *detail = json_object ();
    json_object_set_new (detail, "@type",
                         json_string ("type.googleapis.com/google.rpc.BadRequest"));
    json_object_set_new (detail, "fieldViolations", violations);
    return detail;
}
