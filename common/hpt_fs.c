/*  hpt_fs -- shared file-system helpers (see hpt_fs.h)
 */
#include "hpt_fs.h"
#include "hpt_alloc.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int
hpt_mkdirs (const char *path, mode_t mode, hpt_error_t *error)
{
    if (!path || !*path) return hpt_error_set (error, HPT_E_INVALID, "no directory given");
    char *buffer = hpt_strdup (path);
    int rc = 0;
    for (char *c = buffer + 1; rc == 0; c++) {
        if (*c != '/' && *c != '\0') continue;
        char saved = *c;
        *c = '\0';
        if (mkdir (buffer, mode) != 0 && errno != EEXIST)
            rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot create %s: %s", buffer,
                                strerror (errno));
        *c = saved;
        if (!saved) break;
    }
    struct stat info;
    if (rc == 0 && (stat (path, &info) != 0 || !S_ISDIR (info.st_mode)))
        rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "%s is not a directory", path);
    free (buffer);
    return rc;
}

int
hpt_fs_open_beneath (int dirfd, const char *path, int flags)
{
    if (!path || path[0] == '/') {
        errno = EXDEV;
        return -1;
    }
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = syscall (SYS_openat2, dirfd, path, &how, sizeof (how));
    if (fd >= 0 || errno != ENOSYS) return (int)fd;
    return hpt_fs_open_beneath_walk (dirfd, path, flags);
}

//  Opens the one component name beneath at with flags, never following a
//  symbolic link (ELOOP) and never climbing (EXDEV for "..").
static int
s_open_component (int at, const char *name, int flags)
{
    if (strcmp (name, "..") == 0) {
        errno = EXDEV;
        return -1;
    }
    int fd = openat (at, name, flags | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    //  A link fails as ENOTDIR under O_DIRECTORY: say what it is.
    if (fd < 0 && errno == ENOTDIR && fstatat (at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK (st.st_mode))
        errno = ELOOP;
    //  O_PATH | O_NOFOLLOW opens a link itself instead of failing.
    if (fd >= 0 && (flags & O_PATH) && fstat (fd, &st) == 0 && S_ISLNK (st.st_mode)) {
        close (fd);
        errno = ELOOP;
        return -1;
    }
    return fd;
}

int
hpt_fs_open_beneath_walk (int dirfd, const char *path, int flags)
{
    if (!path || path[0] == '/') {
        errno = EXDEV;
        return -1;
    }
    //  The components that name something ("" and "." do not); the last
    //  gets the caller's flags, the ones before it are directories.
    char *copy = hpt_strdup (path);
    size_t count = 0;
    char **names = hpt_calloc (strlen (path) / 2 + 2, sizeof (char *));
    for (char *save = NULL, *name = strtok_r (copy, "/", &save); name;
         name = strtok_r (NULL, "/", &save))
        if (strcmp (name, ".") != 0) names[count++] = name;
    if (count == 0) names[count++] = ".";
    int at = dirfd, fd = -1;
    for (size_t i = 0; i < count; i++) {
        fd = s_open_component (at, names[i], i + 1 == count ? flags : O_PATH | O_DIRECTORY);
        int saved = errno;
        if (at != dirfd) close (at);
        errno = saved;
        if (fd < 0) break;
        at = fd;
    }
    free (names);
    free (copy);
    return fd;
}
