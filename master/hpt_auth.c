/*  hpt_auth -- API callers and their rights (see hpt_auth.h)
 */
#include "hpt_auth.h"
#include "hpt_base64.h"
#include <stdlib.h>
#include <ctype.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>

int
hpt_auth_new_token (char token[HPT_AUTH_TOKEN_SIZE], hpt_error_t *error)
{
    unsigned char random[32];
    if (gnutls_rnd (GNUTLS_RND_KEY, random, sizeof (random)) != 0)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "no random bytes for a token");
    //  base64url without padding: 32 bytes are 43 characters.
    char *text = hpt_base64_encode (random, sizeof (random), true);
    snprintf (token, HPT_AUTH_TOKEN_SIZE, "hpt_%s", text);
    explicit_bzero (text, strlen (text));
    free (text);
    explicit_bzero (random, sizeof (random));
    return 0;
}

void
hpt_auth_hash (const char *token, char hash[65])
{
    unsigned char digest[32];
    gnutls_hash_fast (GNUTLS_DIG_SHA256, token, strlen (token), digest);
    for (size_t i = 0; i < sizeof (digest); i++)
        sprintf (hash + 2 * i, "%02x", digest[i]);
}

bool
hpt_auth_name_ok (const char *name)
{
    size_t len = name ? strlen (name) : 0;
    if (len == 0 || len > HPT_AUTH_NAME_MAX || !isalnum ((unsigned char)name[0])) return false;
    for (const char *c = name; *c; c++)
        if (!(islower ((unsigned char)*c) || isdigit ((unsigned char)*c) || strchr ("._-", *c)))
            return false;
    return true;
}

static void
s_caller (hpt_caller_t *caller, const char *name, hpt_role_t role)
{
    snprintf (caller->name, sizeof (caller->name), "%s", name);
    caller->role = role;
}

int
hpt_auth_caller_by_hash (hpt_store_t *store, const char *token_hash, hpt_caller_t *caller,
                         hpt_error_t *error)
{
    json_t *user = NULL;
    hpt_error_t problem;
    if (hpt_store_user_by_token (store, token_hash, &user, &problem) != 0)
        return problem.code == HPT_E_NOT_FOUND
                   ? hpt_error_set (error, HPT_E_UNAUTHENTICATED,
                                    "the token is not valid (unknown or revoked)")
                   : hpt_error_set (error, HPT_E_UNAVAILABLE, "%s", problem.message);
    hpt_role_t role = HPT_ROLE_VIEWER;
    hpt_role_parse (json_string_value (json_object_get (user, "role")), &role);
    s_caller (caller, json_string_value (json_object_get (user, "name")), role);
    json_decref (user);
    return 0;
}

int
hpt_auth_caller (hpt_store_t *store, const char *client, const char *authorization, bool insecure,
                 hpt_caller_t *caller, hpt_error_t *error)
{
    if (strcmp (client, "unix") == 0) {
        s_caller (caller, "socket", HPT_ROLE_ADMIN);
        return 0;
    }
    const char *bearer = "Bearer ";
    if (authorization && strncmp (authorization, bearer, strlen (bearer)) == 0) {
        char hash[65];
        hpt_auth_hash (authorization + strlen (bearer), hash);
        return hpt_auth_caller_by_hash (store, hash, caller, error);
    }
    if (authorization && *authorization)
        return hpt_error_set (error, HPT_E_UNAUTHENTICATED,
                              "the Authorization header must be 'Bearer TOKEN'");
    json_t *users = NULL;
    if (hpt_store_user_list (store, &users, error) != 0) return -1;
    size_t active = 0, i;
    json_t *user;
    json_array_foreach (users, i, user) {
        active += !json_is_true (json_object_get (user, "revoked"));
    }
    json_decref (users);
    bool local = strcmp (client, "loopback") == 0;
    if (active == 0 && (local || insecure)) {
        s_caller (caller, local ? "loopback" : "anonymous", HPT_ROLE_ADMIN);
        return 0;
    }
    return hpt_error_set (error, HPT_E_UNAUTHENTICATED,
                          "this master has users: send 'Authorization: Bearer TOKEN' (hpt: "
                          "HPT_TOKEN, or token: in ~/.config/hpt/config.yaml)");
}

int
hpt_auth_check (const hpt_caller_t *caller, hpt_access_t access, const char *owner,
                hpt_error_t *error)
{
    if (caller->role == HPT_ROLE_ADMIN || access == HPT_ACCESS_READ) return 0;
    if (access == HPT_ACCESS_SUBMIT && caller->role == HPT_ROLE_USER) return 0;
    if (access == HPT_ACCESS_OWN_JOB && caller->role == HPT_ROLE_USER && owner &&
        strcmp (owner, caller->name) == 0)
        return 0;
    const char *needs = access == HPT_ACCESS_SUBMIT    ? "the user or admin role"
                        : access == HPT_ACCESS_OWN_JOB ? "to own the job, or the admin role"
                                                       : "the admin role";
    return hpt_error_set (error, HPT_E_PERMISSION_DENIED, "%s (%s) may not do this: it takes %s",
                          caller->name, hpt_role_name (caller->role), needs);
}

bool
hpt_auth_sees_secrets (const hpt_caller_t *caller, const char *owner)
{
    return caller->role == HPT_ROLE_ADMIN || (owner && strcmp (owner, caller->name) == 0);
}
