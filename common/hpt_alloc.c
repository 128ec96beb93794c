/*  hpt_alloc -- allocation that aborts on failure (see hpt_alloc.h)
 */
#include "hpt_alloc.h"
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_out_of_memory (size_t size)
{
    fprintf (stderr, "hpt: out of memory (allocating %zu bytes); aborting\n", size);
    abort ();
}

void
hpt_alloc_init (void)
{
    json_set_alloc_funcs (hpt_malloc, free);
}

void *
hpt_malloc (size_t size)
{
    void *pointer = malloc (size ? size : 1);
    if (!pointer) s_out_of_memory (size);
    return pointer;
}

void *
hpt_calloc (size_t count, size_t size)
{
    void *pointer = calloc (count ? count : 1, size ? size : 1);
    if (!pointer) s_out_of_memory (count * size);
    return pointer;
}

void *
hpt_realloc (void *pointer, size_t size)
{
    void *moved = realloc (pointer, size ? size : 1);
    if (!moved) s_out_of_memory (size);
    return moved;
}

char *
hpt_strdup (const char *text)
{
    char *copy = strdup (text);
    if (!copy) s_out_of_memory (strlen (text) + 1);
    return copy;
}

char *
hpt_strndup (const char *text, size_t size)
{
    char *copy = strndup (text, size);
    if (!copy) s_out_of_memory (size + 1);
    return copy;
}

char *
hpt_asprintf (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = NULL;
    int rc = vasprintf (&text, format, args);
    va_end (args);
    if (rc < 0) s_out_of_memory (0);
    return text;
}
