/*  hpt_session -- the web console's sign-in sessions

    A browser signs in once with an API token (POST /v1/auth/session) and
    then carries a session cookie instead of the token: the console's
    JavaScript never keeps the token (the cookie is HttpOnly), and signing
    out ends the session without revoking the token. A session is 256
    random bits; the table keeps only their SHA-256, with the hash of the
    token it was opened with. Each request resolves the session to that
    token hash and the token hash to its user in the store, so a session
    has exactly its token's rights, and revoking the token (or giving the
    user a new one) ends its sessions at once.

    Sessions live in the master's memory only: a restarted master has
    none, and its users sign in again. A session ends HPT_SESSION_TTL_MS
    after sign-in. The table holds at most its capacity; opening one more
    drops the oldest, so a flood of sign-ins costs bounded memory and
    signs out the oldest browsers first. Owned by the core; used from its
    loop only.
*/
#ifndef HPT_SESSION_H_INCLUDED
#define HPT_SESSION_H_INCLUDED

#include "hpt_error.h"
#include <stddef.h>
#include <stdint.h>

//  How long a session lasts after sign-in: a working day.
#define HPT_SESSION_TTL_MS (12LL * 3600 * 1000)

//  Sessions held at most by default.
#define HPT_SESSION_CAPACITY 10000

//  A session id as the cookie carries it: base64url of 32 random bytes
//  (43 characters) and the NUL.
#define HPT_SESSION_ID_SIZE 44

typedef struct _hpt_session_t hpt_session_t;

//  An empty table of at most capacity sessions (0: HPT_SESSION_CAPACITY).
hpt_session_t *hpt_session_new (size_t capacity);

//  Destroys the table and nulls the pointer.
void hpt_session_destroy (hpt_session_t **self_p);

//  Opens a session for the token whose SHA-256 (hex, hpt_auth_hash) is
//  token_hash, at now_ms; writes its id into id. -1 with *error
//  (HPT_E_UNAVAILABLE) when no random bytes could be had.
int hpt_session_open (hpt_session_t *self, const char *token_hash, int64_t now_ms,
                      char id[HPT_SESSION_ID_SIZE], hpt_error_t *error);

//  The token hash of session id at now_ms (borrowed, valid until the
//  table changes), or NULL when there is no such session or it expired
//  (an expired one is dropped).
const char *hpt_session_token_hash (hpt_session_t *self, const char *id, int64_t now_ms);

//  Ends session id (nothing when there is none).
void hpt_session_close (hpt_session_t *self, const char *id);

//  Sessions held now.
size_t hpt_session_count (hpt_session_t *self);

#endif
