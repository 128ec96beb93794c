/*  hpt_fdlimit -- the process's open-file limit (see the header)

    Counting /proc/self/fd costs one readdir of as many entries as there
    are descriptors (0.56 ms at a thousand, measured on a busy 2-core
    machine): less than the store commit of the registration it guards,
    so the master counts at each HELLO from a new agent, exactly.
*/
#include "hpt_fdlimit.h"
#include "hpt_log.h"
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

int64_t
hpt_fdlimit_soft (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
    return (int64_t)limit.rlim_cur;
}

int64_t
hpt_fdlimit_raise (const char *who)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0) {
        hpt_log_warning ("%s: cannot read the open-file limit: %s", who, strerror (errno));
        return 0;
    }
    rlim_t was = limit.rlim_cur;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit (RLIMIT_NOFILE, &limit) != 0) {
            hpt_log_warning ("%s: could not raise the open-file limit from %llu to its hard "
                             "limit %llu: %s",
                             who, (unsigned long long)was, (unsigned long long)limit.rlim_max,
                             strerror (errno));
            return hpt_fdlimit_soft ();
        }
    }
    hpt_log_info ("%s: open-file limit %llu (was %llu; hard limit %llu)", who,
                  (unsigned long long)limit.rlim_cur, (unsigned long long)was,
                  (unsigned long long)limit.rlim_max);
    return hpt_fdlimit_soft ();
}

int64_t
hpt_fdlimit_open (void)
{
    DIR *dir = opendir ("/proc/self/fd");
    if (!dir) return -1;
    int64_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        count += entry->d_name[0] != '.';
    closedir (dir);
    //  The directory's own descriptor was among them.
    return count > 0 ? count - 1 : 0;
}

int64_t
hpt_fdlimit_reserve (int64_t limit)
{
    if (limit <= 0) return 0;
    int64_t reserve = limit / 16;
    return reserve < 16 ? 16 : reserve > 256 ? 256 : reserve;
}
