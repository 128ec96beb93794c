/*  hpt_user -- a user tasks may run as, looked up once for the launcher

    `hptagent --run-as USER` and `--allow-run-as USER,...` let tasks run as
    other users than the agent. Everything about such a user is looked up
    here, in the agent's own thread and before a task is started: the
    launcher's child only makes system calls (it shares the agent's memory
    until it execs, hpt_launcher.c), so it cannot call getpwnam or
    initgroups itself; it gets the numbers this class found.

        hpt_user_t *user = hpt_user_lookup ("trainer", &error);
        //  uid, gid, supplementary groups (as initgroups would set them),
        //  home directory; the agent sets HOME, USER and LOGNAME from them
        hpt_user_can_search (user, "/var/lib/hpt-agent/tasks", &error);
        hpt_user_destroy (&user);

    Invariant: a looked-up user is a snapshot. A user changed in
    /etc/passwd afterwards is seen by the next lookup (the agent looks up
    at each launch).
*/
#ifndef HPT_USER_H_INCLUDED
#define HPT_USER_H_INCLUDED

#include "hpt_error.h"
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct _hpt_user_t hpt_user_t;

//  Looks the user up by name (getpwnam_r, getgrouplist). NULL with *error:
//  HPT_E_NOT_FOUND when there is no such user, HPT_E_UNAVAILABLE when the
//  user database cannot be read.
hpt_user_t *hpt_user_lookup (const char *name, hpt_error_t *error);

//  Destroys the user and nulls the pointer.
void hpt_user_destroy (hpt_user_t **self_p);

//  Name, ids and home directory (borrowed).
const char *hpt_user_name (hpt_user_t *self);
uid_t hpt_user_uid (hpt_user_t *self);
gid_t hpt_user_gid (hpt_user_t *self);
const char *hpt_user_home (hpt_user_t *self);

//  The supplementary groups (primary group included), *count of them
//  (borrowed).
const gid_t *hpt_user_groups (hpt_user_t *self, size_t *count);

//  True when the user is the one this process runs as (nothing to change).
bool hpt_user_is_self (hpt_user_t *self);

//  Checks by their mode bits that the user may enter every directory from
//  / down to the absolute path dir (search permission as owner, group or
//  other), so its tasks can reach what is beneath it. 0, or -1 with
//  *error (HPT_E_FAILED_PRECONDITION) naming the first directory it cannot
//  enter.
int hpt_user_can_search (hpt_user_t *self, const char *dir, hpt_error_t *error);

#endif
