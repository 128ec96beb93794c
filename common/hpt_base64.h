/*  hpt_base64 -- base64 (RFC 4648) in its two alphabets

    The standard alphabet with padding for values a client only compares
    (a Job's etag, as Google writes etags), and the URL-safe alphabet
    without padding for values a client sends back in a query string (page
    tokens), where '+', '/' and '=' would need escaping.

    Decoding is strict: only canonical text of the chosen alphabet
    decodes (no whitespace, no other alphabet's characters, padding
    exactly as encoding writes it, unused bits zero), so one value has one
    spelling and a token a client altered is refused rather than
    misread.
*/
#ifndef HPT_BASE64_H_INCLUDED
#define HPT_BASE64_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  Encodes size bytes of data; url: the URL-safe alphabet without
//  padding, else the standard one with padding. The caller frees the
//  result.
char *hpt_base64_encode (const void *data, size_t size, bool url);

//  Decodes text as encode wrote it (same url). Returns the bytes plus a
//  NUL (so text round-trips as a C string) and their count in *size;
//  NULL when text is not canonical. The caller frees the result.
unsigned char *hpt_base64_decode (const char *text, bool url, size_t *size);

#endif
