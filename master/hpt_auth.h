/*  hpt_auth -- who is calling the REST API, and what they may do

    Callers are identified by where they come from and by an API token:
    - the master's Unix socket (master.apiSocket, mode 0660: its group
      decides who may use it) is trusted as an admin, named "socket";
    - while no user exists, loopback callers are admins too ("loopback"),
      so a single-machine setup needs no configuration; so is anyone when
      master.security.insecure lets the API listen beyond loopback;
    - once a user exists, every other caller must send
      `Authorization: Bearer TOKEN`; a missing, unknown or revoked token is
      HPT_E_UNAUTHENTICATED (401). Tokens are never read from the URL.

    Tokens are "hpt_" and 43 characters (32 random bytes, base64url); the
    store keeps only their SHA-256, so a copy of the database gives no
    token. Roles (hpt_states.h): viewer reads (job env values redacted),
    user also submits and changes its own jobs, admin does everything:
    others' jobs, nodes, users, the audit trail.
*/
#ifndef HPT_AUTH_H_INCLUDED
#define HPT_AUTH_H_INCLUDED

#include "hpt_error.h"
#include "hpt_states.h"
#include "hpt_store.h"
#include <stdbool.h>
#include <stddef.h>

//  Longest user name.
#define HPT_AUTH_NAME_MAX 64

//  What a request wants to do.
typedef enum {
    HPT_ACCESS_READ,    //  read jobs, nodes, metrics
    HPT_ACCESS_SUBMIT,  //  submit a job
    HPT_ACCESS_OWN_JOB, //  change a job (cancel): its owner or an admin
    HPT_ACCESS_ADMIN,   //  nodes, users, the audit trail
} hpt_access_t;

typedef struct {
    char name[HPT_AUTH_NAME_MAX + 1]; //  "socket", "loopback", "anonymous" or a user's name
    hpt_role_t role;                  //  what it may do
} hpt_caller_t;

//  A new random token (HPT_AUTH_TOKEN_SIZE bytes with the NUL) in token.
#define HPT_AUTH_TOKEN_SIZE 48
int hpt_auth_new_token (char token[HPT_AUTH_TOKEN_SIZE], hpt_error_t *error);

//  The SHA-256 of token, in hex, in hash (65 bytes with the NUL).
void hpt_auth_hash (const char *token, char hash[65]);

//  Whether name is a valid user name: 1-64 of [a-z0-9._-], a letter or
//  digit first.
bool hpt_auth_name_ok (const char *name);

//  Identifies the caller of a request from its client ("unix",
//  "loopback", "remote ADDRESS") and Authorization header. insecure: the
//  master was told to accept anyone. -1 with HPT_E_UNAUTHENTICATED (or
//  HPT_E_UNAVAILABLE when the store cannot be read).
int hpt_auth_caller (hpt_store_t *store, const char *client, const char *authorization,
                     bool insecure, hpt_caller_t *caller, hpt_error_t *error);

//  The user whose unrevoked token hashes to token_hash (a console
//  session's, hpt_session.h), as hpt_auth_caller would identify its
//  bearer. -1 with HPT_E_UNAUTHENTICATED (or HPT_E_UNAVAILABLE).
int hpt_auth_caller_by_hash (hpt_store_t *store, const char *token_hash, hpt_caller_t *caller,
                             hpt_error_t *error);

//  Whether caller may do access; for HPT_ACCESS_OWN_JOB, owner is the
//  job's createdBy (NULL: submitted before users existed, admins only).
//  -1 with HPT_E_PERMISSION_DENIED (saying what role it takes) when not.
int hpt_auth_check (const hpt_caller_t *caller, hpt_access_t access, const char *owner,
                    hpt_error_t *error);

//  Whether caller sees a job's env values: its owner and admins.
bool hpt_auth_sees_secrets (const hpt_caller_t *caller, const char *owner);

#endif
