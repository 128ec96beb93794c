/*  hpt_textcache -- rendered API answers by key and version, within a
    byte budget

    A hash by key for lookups and a list in use order (most recent first)
    for eviction; each entry knows its list handle, so a hit moves it to
    the front in constant time.
*/
#include "hpt_textcache.h"
#include "hpt_alloc.h"
#include <czmq.h>

typedef struct {
    char *key;        //  the key, owned
    uint64_t version; //  the version text renders
    char *text;       //  the text, owned
    size_t size;      //  strlen (text)
    void *handle;     //  its place in the use order
} s_entry_t;

struct _hpt_textcache_t {
    size_t budget;  //  the most bytes of text kept
    size_t bytes;   //  bytes of text held
    zhashx_t *byid; //  key -> s_entry_t (borrowed from use)
    zlistx_t *use;  //  s_entry_t, most recently used first (owns them)
};

static void
s_entry_destroy (void **item)
{
    s_entry_t *entry = *item;
    if (!entry) return;
    free (entry->key);
    free (entry->text);
    free (entry);
    *item = NULL;
}

hpt_textcache_t *
hpt_textcache_new (size_t budget)
{
    hpt_textcache_t *self = hpt_calloc (1, sizeof (hpt_textcache_t));
    self->budget = budget;
    self->byid = zhashx_new ();
    self->use = zlistx_new ();
    zlistx_set_destructor (self->use, s_entry_destroy);
    return self;
}

void
hpt_textcache_destroy (hpt_textcache_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_textcache_t *self = *self_p;
    zhashx_destroy (&self->byid);
    zlistx_destroy (&self->use);
    free (self);
    *self_p = NULL;
}

//  Forgets entry (and frees it).
static void
s_drop (hpt_textcache_t *self, s_entry_t *entry)
{
    self->bytes -= entry->size;
    zhashx_delete (self->byid, entry->key);
    zlistx_delete (self->use, entry->handle);
}

const char *
hpt_textcache_get (hpt_textcache_t *self, const char *key, uint64_t version)
{
    s_entry_t *entry = zhashx_lookup (self->byid, key);
    if (!entry || entry->version != version) return NULL;
    zlistx_move_start (self->use, entry->handle);
    return entry->text;
}

void
hpt_textcache_put (hpt_textcache_t *self, const char *key, uint64_t version, char *text)
{
    s_entry_t *old = zhashx_lookup (self->byid, key);
    if (old) s_drop (self, old);
    size_t size = strlen (text);
    if (size > self->budget) {
        free (text);
        return;
    }
    s_entry_t *entry = hpt_calloc (1, sizeof (s_entry_t));
    entry->key = hpt_strdup (key);
    entry->version = version;
    entry->text = text;
    entry->size = size;
    entry->handle = zlistx_add_start (self->use, entry);
    zhashx_insert (self->byid, key, entry);
    self->bytes += size;
    //  The newest entry is first and fits alone, so this stops at it.
    while (self->bytes > self->budget)
        s_drop (self, zlistx_last (self->use));
}

void
hpt_textcache_forget (hpt_textcache_t *self, uint64_t version)
{
    s_entry_t *entry = zlistx_first (self->use);
    while (entry) {
        s_entry_t *next = zlistx_next (self->use);
        if (entry->version == version) s_drop (self, entry);
        entry = next;
    }
}

size_t
hpt_textcache_bytes (hpt_textcache_t *self)
{
    return self->bytes;
}

size_t
hpt_textcache_count (hpt_textcache_t *self)
{
    return zlistx_size (self->use);
}
