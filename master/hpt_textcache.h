/*  hpt_textcache -- rendered API answers by key and version, within a
    byte budget

    Rendering a Job with its trials reads the store and builds a large
    JSON text; a console polling an unchanged job asks for the same text
    again and again. The cache keeps one text per key (a job id) together
    with the version it renders (hpt_tuner_version), so a GET of an
    unchanged job is a lookup and a copy. A text of another version is
    never returned: versions change with every change of the job.

    Memory is bounded: past the budget the least recently used texts are
    dropped, so many large jobs read once cannot grow the master.

    Not thread-safe: the core's loop owns it.
*/
#ifndef HPT_TEXTCACHE_H_INCLUDED
#define HPT_TEXTCACHE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct _hpt_textcache_t hpt_textcache_t;

//  A cache that keeps at most budget bytes of text.
hpt_textcache_t *hpt_textcache_new (size_t budget);

//  Destroys the cache and its texts, and nulls the pointer.
void hpt_textcache_destroy (hpt_textcache_t **self_p);

//  The text cached for key at version (borrowed: valid until the next put
//  or destroy), or NULL when there is none or only another version's. A
//  hit makes the entry the most recently used.
const char *hpt_textcache_get (hpt_textcache_t *self, const char *key, uint64_t version);

//  Caches text (NUL-terminated; ownership passes to the cache) as key's
//  at version, replacing what key had, then drops the least recently used
//  other texts while over budget. A text larger than the whole budget is
//  freed at once, not kept.
void hpt_textcache_put (hpt_textcache_t *self, const char *key, uint64_t version, char *text);

//  Drops every text of version (versions are unique to one job, so these
//  are its texts): the owner forgets a job it no longer keeps in memory.
void hpt_textcache_forget (hpt_textcache_t *self, uint64_t version);

//  Bytes of text held, and the number of texts.
size_t hpt_textcache_bytes (hpt_textcache_t *self);
size_t hpt_textcache_count (hpt_textcache_t *self);

#endif
