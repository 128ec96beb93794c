/*  faultfs -- a test shim that makes a process's file writes fail on
    demand (LD_PRELOAD)

    The store-fault tests preload it into a real hptmaster to give it a
    read-only file system, and take it away again, without root tricks
    that a busy file system refuses (a remount with files open for
    writing). It wraps the calls that write file contents or sizes:
    write, pwrite, pwrite64, writev, ftruncate, ftruncate64, fallocate,
    fsync and fdatasync. While the file HPT_FAULTFS_CONTROL holds
    "readonly" (or "full"), those calls on files under HPT_FAULTFS_DIR
    fail with EROFS (or ENOSPC); otherwise they pass through. The control
    file is read at every call, so a test flips the mode by rewriting it.
    Calls that glibc makes internally (stdio's flush) do not go through
    the shim; SQLite's calls do.

    Not part of hpt: built only for the tests.
*/
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

//  0: pass through; else the errno every guarded call fails with.
static int
s_fault (int fd)
{
    const char *control = getenv ("HPT_FAULTFS_CONTROL");
    const char *dir = getenv ("HPT_FAULTFS_DIR");
    if (!control || !dir) return 0;
    static ssize_t (*real_read) (int, void *, size_t);
    if (!real_read) real_read = (ssize_t (*) (int, void *, size_t))dlsym (RTLD_NEXT, "read");
    int cfd = open (control, O_RDONLY | O_CLOEXEC);
    if (cfd < 0) return 0;
    char mode[16] = "";
    ssize_t got = real_read (cfd, mode, sizeof (mode) - 1);
    close (cfd);
    if (got <= 0) return 0;
    int error = strncmp (mode, "readonly", 8) == 0 ? EROFS
                : strncmp (mode, "full", 4) == 0   ? ENOSPC
                                                   : 0;
    if (!error) return 0;
    char link[64], path[4096];
    snprintf (link, sizeof (link), "/proc/self/fd/%d", fd);
    ssize_t len = readlink (link, path, sizeof (path) - 1);
    if (len <= 0) return 0;
    path[len] = '\0';
    return strncmp (path, dir, strlen (dir)) == 0 ? error : 0;
}

//  The next definition of name (libc's), looked up once.
#define S_REAL(name)                                                                               \
    static __typeof__ (&name) real_##name;                                                         \
    if (!real_##name) real_##name = (__typeof__ (&name))dlsym (RTLD_NEXT, #name)

#define S_GUARD(fd)                                                                                \
    do {                                                                                           \
        int fault_ = s_fault (fd);                                                                 \
        if (fault_) {                                                                              \
            errno = fault_;                                                                        \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

ssize_t
write (int fd, const void *buf, size_t count)
{
    S_REAL (write);
    S_GUARD (fd);
    return real_write (fd, buf, count);
}

ssize_t
pwrite (int fd, const void *buf, size_t count, off_t offset)
{
    S_REAL (pwrite);
    S_GUARD (fd);
    return real_pwrite (fd, buf, count, offset);
}

ssize_t
pwrite64 (int fd, const void *buf, size_t count, off64_t offset)
{
    S_REAL (pwrite64);
    S_GUARD (fd);
    return real_pwrite64 (fd, buf, count, offset);
}

ssize_t
writev (int fd, const struct iovec *iov, int count)
{
    S_REAL (writev);
    S_GUARD (fd);
    return real_writev (fd, iov, count);
}

int
ftruncate (int fd, off_t length)
{
    S_REAL (ftruncate);
    S_GUARD (fd);
    return real_ftruncate (fd, length);
}

int
ftruncate64 (int fd, off64_t length)
{
    S_REAL (ftruncate64);
    S_GUARD (fd);
    return real_ftruncate64 (fd, length);
}

int
fallocate (int fd, int mode, off_t offset, off_t len)
{
    S_REAL (fallocate);
    S_GUARD (fd);
    return real_fallocate (fd, mode, offset, len);
}

int
fsync (int fd)
{
    S_REAL (fsync);
    S_GUARD (fd);
    return real_fsync (fd);
}

int
fdatasync (int fd)
{
    S_REAL (fdatasync);
    S_GUARD (fd);
    return real_fdatasync (fd);
}
