/*  hpt_fdlimit -- the process's open-file limit: raised at start, and
    how close the process is to it

    Every agent holds one of the master's descriptors (its TCP
    connection), and so does every API client; an agent holds one per
    task pipe and log. The soft RLIMIT_NOFILE is often 1024 while the hard
    one allows far more, so both daemons raise the soft limit to the hard
    one before they open anything, and say so once.

    The master keeps a reserve of free descriptors (hpt_fdlimit_reserve)
    for its API, its store and its logs: a new agent is refused while
    fewer than the reserve are free (hpt_agent_link), because libzmq's and
    libmicrohttpd's accept loops cannot make progress once none is left.
    hpt_fdlimit_open counts the descriptors open now (/proc/self/fd).
*/
#ifndef HPT_FDLIMIT_H_INCLUDED
#define HPT_FDLIMIT_H_INCLUDED

#include <stdint.h>

//  Raises the soft open-file limit to the hard one, and logs one line
//  naming who (e.g. "hptmaster") and both figures (a warning when it
//  could not). Returns the soft limit in force afterwards; 0 when it
//  cannot be read or is unlimited.
int64_t hpt_fdlimit_raise (const char *who);

//  The soft open-file limit now; 0 when it cannot be read or is
//  unlimited.
int64_t hpt_fdlimit_soft (void);

//  Descriptors this process has open, by counting /proc/self/fd; -1 when
//  that cannot be read (with errno EMFILE: no descriptor was free to read
//  it with, which the caller takes as "none free").
int64_t hpt_fdlimit_open (void);

//  The descriptors the master keeps free under limit: a sixteenth of it,
//  at least 16 and at most 256 (16 at a limit of 256 or less, 64 at 1024,
//  256 from 4096 up). 0 when limit is 0 (unknown: no reserve is kept).
int64_t hpt_fdlimit_reserve (int64_t limit);

#endif
