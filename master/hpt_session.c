/*  hpt_session -- the web console's sign-in sessions (see hpt_session.h)

    A zhashx from the SHA-256 of the session id (hex) to the entry. The
    cookie's value is never stored, so the table (or a core dump of it)
    opens no session. Eviction when full scans for the oldest entry: a
    sign-in is rare next to the requests, and the scan is bounded by the
    capacity.
*/
#include "hpt_session.h"
#include "hpt_alloc.h"
#include "hpt_auth.h"
#include "hpt_base64.h"
#include <czmq.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

typedef struct {
    char token_hash[65]; //  SHA-256 hex of the token it was opened with
    int64_t opened_ms;   //  sign-in time
} s_entry_t;

struct _hpt_session_t {
    zhashx_t *entries; //  SHA-256 hex of the id -> s_entry_t (owned)
    size_t capacity;   //  most entries held
};

static void
s_entry_free (void **item)
{
    free (*item);
    *item = NULL;
}

hpt_session_t *
hpt_session_new (size_t capacity)
{
    hpt_session_t *self = hpt_calloc (1, sizeof (hpt_session_t));
    self->entries = zhashx_new ();
    zhashx_set_destructor (self->entries, s_entry_free);
    self->capacity = capacity ? capacity : HPT_SESSION_CAPACITY;
    return self;
}

void
hpt_session_destroy (hpt_session_t **self_p)
{
    if (!self_p || !*self_p) return;
    zhashx_destroy (&(*self_p)->entries);
    free (*self_p);
    *self_p = NULL;
}

//  Drops the entry opened first.
static void
s_drop_oldest (hpt_session_t *self)
{
    const char *oldest = NULL;
    int64_t when = INT64_MAX;
    for (s_entry_t *entry = zhashx_first (self->entries); entry;
         entry = zhashx_next (self->entries))
        if (entry->opened_ms < when) {
            when = entry->opened_ms;
            oldest = zhashx_cursor (self->entries);
        }
    if (oldest) {
        char *key = hpt_strdup (oldest);
        zhashx_delete (self->entries, key);
        free (key);
    }
}

int
hpt_session_open (hpt_session_t *self, const char *token_hash, int64_t now_ms,
                  char id[HPT_SESSION_ID_SIZE], hpt_error_t *error)
{
    unsigned char random[32];
    if (gnutls_rnd (GNUTLS_RND_KEY, random, sizeof (random)) != 0)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "no random bytes for a session");
    char *text = hpt_base64_encode (random, sizeof (random), true);
    snprintf (id, HPT_SESSION_ID_SIZE, "%s", text);
    explicit_bzero (text, strlen (text));
    free (text);
    explicit_bzero (random, sizeof (random));
    while (zhashx_size (self->entries) >= self->capacity)
        s_drop_oldest (self);
    s_entry_t *entry = hpt_calloc (1, sizeof (s_entry_t));
    snprintf (entry->token_hash, sizeof (entry->token_hash), "%s", token_hash);
    entry->opened_ms = now_ms;
    char key[65];
    hpt_auth_hash (id, key);
    zhashx_update (self->entries, key, entry);
    return 0;
}

const char *
hpt_session_token_hash (hpt_session_t *self, const char *id, int64_t now_ms)
{
    //  Ids are 43 characters; anything else is no session (and is not
    //  hashed: a huge cookie costs nothing).
    if (!id || strlen (id) != HPT_SESSION_ID_SIZE - 1) return NULL;
    char key[65];
    hpt_auth_hash (id, key);
    s_entry_t *entry = zhashx_lookup (self->entries, key);
    if (!entry) return NULL;
    if (now_ms - entry->opened_ms >= HPT_SESSION_TTL_MS || now_ms < entry->opened_ms - 60000) {
        zhashx_delete (self->entries, key);
        return NULL;
    }
    return entry->token_hash;
}

void
hpt_session_close (hpt_session_t *self, const char *id)
{
    if (!id || strlen (id) != HPT_SESSION_ID_SIZE - 1) return;
    char key[65];
    hpt_auth_hash (id, key);
    zhashx_delete (self->entries, key);
}

size_t
hpt_session_count (hpt_session_t *self)
{
    return zhashx_size (self->entries);
}
