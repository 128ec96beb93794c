/*  hpt_fs -- the file-system helpers hpt's daemons share

    One place for creating directory trees, so every daemon creates its
    directories the same way (and with the modes it asks for: state and
    work directories hold secrets and are 0700), and for opening a path
    that someone else controls without being led out of a directory.
*/
#ifndef HPT_FS_H_INCLUDED
#define HPT_FS_H_INCLUDED

#include "hpt_error.h"
#include <sys/types.h>

//  Creates path and any missing parents, each with mode (as mkdir -p -m
//  MODE does for the ones it creates; existing ones are left as they
//  are). Succeeds when path exists as a directory. -1 with *error
//  (HPT_E_UNAVAILABLE, naming the directory and why) otherwise.
int hpt_mkdirs (const char *path, mode_t mode, hpt_error_t *error);

//  Opens the relative path beneath the directory dirfd (flags as for
//  openat; O_CLOEXEC is added) so that resolving it never leaves dirfd:
//  not by '..', not by a symbolic link that is absolute or points above
//  it. openat2 with RESOLVE_BENEATH and RESOLVE_NO_MAGICLINKS (Linux 5.6);
//  where the kernel lacks openat2 (ENOSYS), hpt_fs_open_beneath_walk.
//  Returns the descriptor, or -1 with errno: EXDEV when the path would
//  leave dirfd (also for an absolute path), ELOOP for a symbolic link the
//  walk refused, ENOENT, ENOTDIR, EACCES, ...
int hpt_fs_open_beneath (int dirfd, const char *path, int flags);

//  The fallback of hpt_fs_open_beneath, public for its tests: one
//  component at a time with O_NOFOLLOW, refusing '..' (EXDEV) and every
//  symbolic link (ELOOP), even one that would stay beneath: stricter than
//  openat2, never looser.
int hpt_fs_open_beneath_walk (int dirfd, const char *path, int flags);

#endif
