/*  hpt_user -- a user tasks may run as (see hpt_user.h)

    getpwnam_r into a buffer sized by sysconf (grown on ERANGE), then
    getgrouplist with the user's primary group, grown until the list fits:
    the groups initgroups would give a login of that user. The search
    check walks the path's prefixes with stat, as the kernel's permission
    check would for an unprivileged process (owner bits if the user owns
    the directory, else group bits if one of its groups does, else
    other bits); ACLs are not read, so a directory an ACL opens is
    reported as closed, never the other way round.
*/
#include "hpt_user.h"
#include "hpt_alloc.h"
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MAX_GROUPS 65536 //  NGROUPS_MAX on Linux

struct _hpt_user_t {
    char *name;         //  user name
    uid_t uid;          //  user id
    gid_t gid;          //  primary group
    char *home;         //  home directory ("/" when the entry has none)
    gid_t *groups;      //  supplementary groups, the primary one included
    size_t group_count; //  entries in groups
};

//  The passwd entry of name into *entry, its strings in *buffer (fresh).
//  0, or -1 with *error.
static int
s_passwd (const char *name, struct passwd *entry, char **buffer, hpt_error_t *error)
{
    long size = sysconf (_SC_GETPW_R_SIZE_MAX);
    size_t length = size > 0 ? (size_t)size : 16384;
    struct passwd *found = NULL;
    int rc;
    while (true) {
        *buffer = hpt_malloc (length);
        rc = getpwnam_r (name, entry, *buffer, length, &found);
        if (rc != ERANGE || length >= (1u << 24)) break;
        free (*buffer);
        length *= 2;
    }
    if (found) return 0;
    free (*buffer);
    *buffer = NULL;
    if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM)
        return hpt_error_set (error, HPT_E_NOT_FOUND, "there is no user '%s' on this host", name);
    return hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot look up user '%s': %s", name,
                          strerror (rc));
}

hpt_user_t *
hpt_user_lookup (const char *name, hpt_error_t *error)
{
    if (!name || !*name) {
        hpt_error_set (error, HPT_E_INVALID, "no user name given");
        return NULL;
    }
    struct passwd entry;
    char *buffer = NULL;
    if (s_passwd (name, &entry, &buffer, error) != 0) return NULL;
    hpt_user_t *self = hpt_calloc (1, sizeof (hpt_user_t));
    self->name = hpt_strdup (name);
    self->uid = entry.pw_uid;
    self->gid = entry.pw_gid;
    self->home = hpt_strdup (entry.pw_dir && *entry.pw_dir ? entry.pw_dir : "/");
    int count = 32;
    while (true) {
        self->groups = hpt_realloc (self->groups, (size_t)count * sizeof (gid_t));
        int want = count;
        if (getgrouplist (name, entry.pw_gid, self->groups, &want) >= 0) {
            self->group_count = (size_t)want;
            break;
        }
        if (want <= count || want > S_MAX_GROUPS) {
            //  Not a size problem: at least the primary group.
            self->groups[0] = entry.pw_gid;
            self->group_count = 1;
            break;
        }
        count = want;
    }
    free (buffer);
    return self;
}

void
hpt_user_destroy (hpt_user_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_user_t *self = *self_p;
    free (self->name);
    free (self->home);
    free (self->groups);
    free (self);
    *self_p = NULL;
}

const char *
hpt_user_name (hpt_user_t *self)
{
    return self->name;
}

uid_t
hpt_user_uid (hpt_user_t *self)
{
    return self->uid;
}

gid_t
hpt_user_gid (hpt_user_t *self)
{
    return self->gid;
}

const char *
hpt_user_home (hpt_user_t *self)
{
    return self->home;
}

const gid_t *
hpt_user_groups (hpt_user_t *self, size_t *count)
{
    *count = self->group_count;
    return self->groups;
}

bool
hpt_user_is_self (hpt_user_t *self)
{
    return self->uid == geteuid () && self->gid == getegid ();
}

//  True when the user may search the directory st describes.
static bool
s_may_search (hpt_user_t *self, const struct stat *st)
{
    if (self->uid == 0) return true;
    if (st->st_uid == self->uid) return st->st_mode & S_IXUSR;
    for (size_t i = 0; i < self->group_count; i++)
        if (self->groups[i] == st->st_gid) return st->st_mode & S_IXGRP;
    return st->st_mode & S_IXOTH;
}

//  Checks one directory. 0, or -1 with *error.
static int
s_check_search (hpt_user_t *self, const char *at, hpt_error_t *error)
{
    struct stat st;
    if (stat (at, &st) != 0)
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION, "cannot read %s: %s", at,
                              strerror (errno));
    if (s_may_search (self, &st)) return 0;
    return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                          "user '%s' cannot enter %s (mode %04o, owner %u:%u), so its tasks "
                          "could not reach their directories beneath it",
                          self->name, at, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                          (unsigned)st.st_gid);
}

int
hpt_user_can_search (hpt_user_t *self, const char *dir, hpt_error_t *error)
{
    if (!dir || dir[0] != '/')
        return hpt_error_set (error, HPT_E_INVALID, "'%s' is not an absolute path", dir ? dir : "");
    int rc = s_check_search (self, "/", error);
    size_t length = strlen (dir);
    char *prefix = hpt_strdup (dir);
    //  Every prefix that ends before a '/' or at the end: /a, /a/b, ...
    for (size_t end = 1; rc == 0 && end <= length; end++) {
        if (end < length && dir[end] != '/') continue;
        if (dir[end - 1] == '/') continue; //  "//" or a trailing '/'
        prefix[end] = '\0';
        rc = s_check_search (self, prefix, error);
        prefix[end] = dir[end];
    }
    free (prefix);
    return rc;
}
