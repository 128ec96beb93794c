/*  hpt_alloc -- the one policy for allocation failure: it is fatal

    hpt does not try to recover from running out of memory: a daemon that
    cannot allocate cannot keep its promises (store before acting, answer
    every peer), and half-handled NULLs are where crashes hide. So no call
    site checks an allocation: every allocation in hpt goes through these
    functions, which print what failed and abort. jansson allocates through
    the same functions once hpt_alloc_init has run (every program calls it
    first), and czmq aborts on allocation failure by itself. Bounded input
    (docs/architecture.md, "Bounded input") is what keeps a peer from
    making hpt allocate without limit; this policy is for the machine
    running out, not for hostile sizes.
*/
#ifndef HPT_ALLOC_H_INCLUDED
#define HPT_ALLOC_H_INCLUDED

#include <stddef.h>

//  Routes jansson's allocations through hpt_malloc. Call once at the
//  start of every program, before any JSON is built.
void hpt_alloc_init (void);

//  malloc, calloc, realloc, strdup, strndup and asprintf that never
//  return NULL: they abort the process with a message instead.
void *hpt_malloc (size_t size);
void *hpt_calloc (size_t count, size_t size);
void *hpt_realloc (void *pointer, size_t size);
char *hpt_strdup (const char *text);
char *hpt_strndup (const char *text, size_t size);
char *hpt_asprintf (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

#endif
