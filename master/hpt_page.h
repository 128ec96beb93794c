/*  hpt_page -- page sizes and page tokens of the REST lists

    Google's list pattern (AIP-158): a list answers at most pageSize items
    and, when more remain, a nextPageToken that the client sends back as
    pageToken for the next page, with the same other parameters.

    Tokens are opaque to clients. Here a token is the URL-safe base64 of a
    small JSON array [kind, position...]: kind names the list ("jobs",
    "nodes", "metrics") and the position is the key of the last item
    returned, so the next page starts after it (keyset paging): a page
    costs what it returns, and items added meanwhile never shift one.
    Tokens do not expire. A token that does not decode, belongs to another
    list, or whose position has the wrong shape is HPT_E_INVALID (400
    INVALID_ARGUMENT), never a page of something else.
*/
#ifndef HPT_PAGE_H_INCLUDED
#define HPT_PAGE_H_INCLUDED

#include "hpt_error.h"
#include <jansson.h>
#include <stddef.h>

//  Reads text, the value of query parameter name (NULL when absent), as a
//  page size into *size: absent, empty or 0 means default_size; more than
//  max_size is capped to it. A negative number or anything but decimal
//  digits is HPT_E_INVALID naming the parameter.
int hpt_page_size (const char *text, const char *name, size_t default_size, size_t max_size,
                   size_t *size, hpt_error_t *error);

//  The token of list kind that continues after position (a JSON array,
//  borrowed). The caller frees the result.
char *hpt_page_token (const char *kind, json_t *position);

//  Reads token (NULL or "": the first page, *position_p NULL) as a token
//  of list kind whose position has the shape given: one character per
//  element, 's' a string, 'S' a string or null, 'i' an integer, 'n' a
//  number, 'v' a number or "NaN", "Infinity", "-Infinity" (a metric
//  value). *position_p (caller owns) gets the position. HPT_E_INVALID
//  otherwise.
int hpt_page_position (const char *token, const char *kind, const char *shape, json_t **position_p,
                       hpt_error_t *error);

#endif
