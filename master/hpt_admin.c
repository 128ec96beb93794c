/*  hpt_admin -- `hptmaster users|backup|restore ...` (see hpt_admin.h)
 */
#include "hpt_admin.h"
#include "hpt_alloc.h"
#include "hpt_auth.h"
#include "hpt_cluster_config.h"
#include "hpt_fs.h"
#include "hpt_store.h"
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

static int
s_usage (void)
{
    fprintf (stderr, "usage: hptmaster users add NAME --role viewer|user|admin [--cluster FILE]\n"
                     "       hptmaster users list [--cluster FILE]\n"
                     "       hptmaster users revoke NAME [--cluster FILE]\n"
                     "       hptmaster users token NAME [--cluster FILE]\n"
                     "(without --cluster: the default stateDir, ./hpt-state)\n");
    return 2;
}

//  The master's store, from the cluster file's stateDir (the default
//  one without --cluster, as the master itself takes it).
static hpt_store_t *
s_open (const char *cluster)
{
    hpt_cluster_config_t *config = hpt_cluster_config_load (cluster);
    if (!config) return NULL;
    const char *dir = hpt_cluster_config_master (config)->state_dir;
    char *path = hpt_asprintf ("%s/hpt.db", dir);
    hpt_error_t error;
    //  Users may be made before the master first ran.
    hpt_store_t *store =
        hpt_mkdirs (dir, 0700, &error) == 0 ? hpt_store_open_shared (path, &error) : NULL;
    if (!store) fprintf (stderr, "hptmaster users: %s\n", error.message);
    free (path);
    hpt_cluster_config_destroy (&config);
    return store;
}

//  Stores a new token for name (role) and prints it last.
static int
s_token (hpt_store_t *store, const char *name, hpt_role_t role)
{
    char token[HPT_AUTH_TOKEN_SIZE], hash[65];
    hpt_error_t error;
    if (hpt_auth_new_token (token, &error) != 0) {
        fprintf (stderr, "hptmaster users: %s\n", error.message);
        return 1;
    }
    hpt_auth_hash (token, hash);
    if (hpt_store_begin (store, &error) ||
        hpt_store_user_put (store, name, role, hash, zclock_time (), &error) ||
        hpt_store_commit (store, &error)) {
        hpt_store_rollback (store);
        fprintf (stderr, "hptmaster users: %s\n", error.message);
        return 1;
    }
    printf ("user %s (%s); its token, shown only now:\n%s\n", name, hpt_role_name (role), token);
    return 0;
}

//  The role an existing user has, or -1 when there is none.
static int
s_role_of (hpt_store_t *store, const char *name, hpt_role_t *role)
{
    json_t *users = NULL;
    int rc = -1;
    if (hpt_store_user_list (store, &users, NULL) != 0) return -1;
    size_t i;
    json_t *user;
    json_array_foreach (users, i, user) {
        if (strcmp (json_string_value (json_object_get (user, "name")), name) == 0)
            rc = hpt_role_parse (json_string_value (json_object_get (user, "role")), role);
    }
    json_decref (users);
    return rc;
}

static int
s_list (hpt_store_t *store)
{
    json_t *users = NULL;
    hpt_error_t error;
    if (hpt_store_user_list (store, &users, &error) != 0) {
        fprintf (stderr, "hptmaster users: %s\n", error.message);
        return 1;
    }
    printf ("%-24s %-8s %s\n", "NAME", "ROLE", "STATE");
    size_t i;
    json_t *user;
    json_array_foreach (users, i, user) {
        printf ("%-24s %-8s %s\n", json_string_value (json_object_get (user, "name")),
                json_string_value (json_object_get (user, "role")),
                json_is_true (json_object_get (user, "revoked")) ? "revoked" : "active");
    }
    json_decref (users);
    return 0;
}

static int
s_revoke (hpt_store_t *store, const char *name)
{
    hpt_error_t error;
    if (hpt_store_begin (store, &error) || hpt_store_user_revoke (store, name, &error) ||
        hpt_store_commit (store, &error)) {
        hpt_store_rollback (store);
        fprintf (stderr, "hptmaster users: %s\n", error.message);
        return 1;
    }
    printf ("user %s revoked\n", name);
    return 0;
}

int
hpt_admin_users (int argc, char *argv[])
{
    const char *cluster = NULL, *role_text = NULL, *verb = argc > 1 ? argv[1] : NULL, *name = NULL;
    for (int i = 2; i < argc; i++)
        if (strcmp (argv[i], "--cluster") == 0 && i + 1 < argc)
            cluster = argv[++i];
        else if (strcmp (argv[i], "--role") == 0 && i + 1 < argc)
            role_text = argv[++i];
        else if (!name && argv[i][0] != '-')
            name = argv[i];
        else
            return s_usage ();
    bool named = verb && strcmp (verb, "list") != 0;
    if (!verb || named != (name != NULL)) return s_usage ();
    hpt_role_t role = HPT_ROLE_VIEWER;
    if (strcmp (verb, "add") == 0 && (!role_text || hpt_role_parse (role_text, &role) != 0))
        return s_usage ();
    if (name && !hpt_auth_name_ok (name)) {
        fprintf (stderr, "hptmaster users: '%s': a name is 1-64 of a-z, 0-9, '.', '_', '-'\n",
                 name);
        return 2;
    }
    hpt_store_t *store = s_open (cluster);
    if (!store) return 1;
    int rc = 2;
    if (strcmp (verb, "add") == 0)
        rc = s_token (store, name, role);
    else if (strcmp (verb, "token") == 0)
        rc = s_role_of (store, name, &role) == 0 ? s_token (store, name, role) : 1;
    else if (strcmp (verb, "revoke") == 0)
        rc = s_revoke (store, name);
    else if (strcmp (verb, "list") == 0)
        rc = s_list (store);
    if (rc == 1 && strcmp (verb, "token") == 0 && s_role_of (store, name, &role) != 0)
        fprintf (stderr, "hptmaster users: no user %s\n", name);
    hpt_store_destroy (&store);
    return rc == 2 ? s_usage () : rc;
}

//  The store's path from the cluster file, or the default stateDir's
//  without one (caller frees), or NULL after printing the file's problems.
static char *
s_store_path (const char *cluster, char **dir_p)
{
    hpt_cluster_config_t *config = hpt_cluster_config_load (cluster);
    if (!config) return NULL;
    const char *dir = hpt_cluster_config_master (config)->state_dir;
    char *path = hpt_asprintf ("%s/hpt.db", dir);
    *dir_p = hpt_strdup (dir);
    hpt_cluster_config_destroy (&config);
    return path;
}

//  backup: a consistent copy of the running master's store.
static int
s_backup (const char *path, const char *out)
{
    hpt_error_t error;
    struct stat info;
    if (stat (path, &info) != 0) {
        fprintf (stderr, "hptmaster backup: no store at %s (%s)\n", path, strerror (errno));
        return 1;
    }
    hpt_store_t *store = hpt_store_open_shared (path, &error);
    int rc = store ? hpt_store_backup (store, out, &error) : -1;
    hpt_store_destroy (&store);
    if (rc != 0) {
        fprintf (stderr, "hptmaster backup: %s\n", error.message);
        return 1;
    }
    printf ("backed up %s to %s\n", path, out);
    return 0;
}

//  restore: the backup in place of the store (no master may run).
static int
s_restore (const char *dir, const char *path, const char *in)
{
    hpt_error_t error;
    struct stat info;
    if (stat (in, &info) != 0 || !S_ISREG (info.st_mode)) {
        fprintf (stderr, "hptmaster restore: %s: not a file\n", in);
        return 1;
    }
    hpt_store_t *store = hpt_mkdirs (dir, 0700, &error) == 0 ? hpt_store_new (path, &error) : NULL;
    int rc = store ? hpt_store_restore (store, in, &error) : -1;
    hpt_store_destroy (&store);
    if (rc != 0) {
        fprintf (stderr, "hptmaster restore: %s\n", error.message);
        return 1;
    }
    printf ("restored %s from %s; start the master to use it\n", path, in);
    return 0;
}

int
hpt_admin_backup (int argc, char *argv[])
{
    const char *verb = argv[0], *cluster = NULL, *file = NULL;
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++)
        if (strcmp (argv[i], "--cluster") == 0 && i + 1 < argc)
            cluster = argv[++i];
        else if (!file && argv[i][0] != '-')
            file = argv[i];
        else
            bad = true;
    if (bad || !file) {
        fprintf (stderr, "usage: hptmaster backup [--cluster FILE] OUT.db\n"
                         "       hptmaster restore [--cluster FILE] IN.db\n"
                         "(without --cluster: the default stateDir, ./hpt-state)\n");
        return 2;
    }
    char *dir = NULL;
    char *path = s_store_path (cluster, &dir);
    if (!path) return 2;
    int rc = strcmp (verb, "backup") == 0 ? s_backup (path, file) : s_restore (dir, path, file);
    free (path);
    free (dir);
    return rc;
}
