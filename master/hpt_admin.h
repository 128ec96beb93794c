/*  hpt_admin -- the operator's commands that work on a master's store

    `hptmaster users add NAME --role viewer|user|admin [--cluster FILE]`
    creates a user and prints its new API token once: the token alone on
    the last line of stdout, so a script can take it (the store keeps only
    its hash). `users list`, `users revoke NAME`, `users token NAME` (a new
    token; the old one stops working). They open the store the way an
    operator's command does (hpt_store_open_shared), so they work while
    the master runs; the master sees a change at the next request.

    `hptmaster backup [--cluster FILE] OUT.db` copies the store while the
    master runs (hpt_store_backup: one consistent snapshot, SQLite's
    online backup API). `hptmaster restore [--cluster FILE] IN.db` puts a
    backup in place of the store; it takes the store's one-master lock,
    so it refuses while a master runs on that stateDir. The job logs
    (stateDir/logs) are plain files: docs/operations.md says how to copy
    them along. Without --cluster each takes the store of the default
    stateDir (./hpt-state), as the master does.
*/
#ifndef HPT_ADMIN_H_INCLUDED
#define HPT_ADMIN_H_INCLUDED

//  Runs `hptmaster users ARGS`: argv[0] is "users". Returns the exit
//  status (0, 1 on failure, 2 on bad usage).
int hpt_admin_users (int argc, char *argv[]);

//  Runs `hptmaster backup|restore [--cluster FILE] PATH`: argv[0] is the
//  verb. Returns the exit status (0, 1 on failure, 2 on bad usage).
int hpt_admin_backup (int argc, char *argv[]);

#endif
