/*  hpt_base64 -- base64 (RFC 4648) in its two alphabets
 */
#include "hpt_base64.h"
#include "hpt_alloc.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char s_standard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char s_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
hpt_base64_encode (const void *data, size_t size, bool url)
{
    const unsigned char *bytes = data;
    const char *alphabet = url ? s_url : s_standard;
    char *out = hpt_malloc ((size + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < size; i += 3) {
        uint32_t v = (uint32_t)bytes[i] << 16;
        if (i + 1 < size) v |= (uint32_t)bytes[i + 1] << 8;
        if (i + 2 < size) v |= bytes[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        if (i + 1 < size)
            out[o++] = alphabet[(v >> 6) & 63];
        else if (!url)
            out[o++] = '=';
        if (i + 2 < size)
            out[o++] = alphabet[v & 63];
        else if (!url)
            out[o++] = '=';
    }
    out[o] = 0;
    return out;
}

static int
s_value (const char *alphabet, char c)
{
    const char *p = c ? strchr (alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

unsigned char *
hpt_base64_decode (const char *text, bool url, size_t *size)
{
    const char *alphabet = url ? s_url : s_standard;
    size_t length = strlen (text);
    //  Without padding the last group has 2 or 3 characters; with it,
    //  every group has 4 and up to two of the last are '='.
    size_t pad = 0;
    if (!url) {
        if (length % 4) return NULL;
        while (pad < 2 && pad < length && text[length - 1 - pad] == '=')
            pad++;
        length -= pad;
    } else if (length % 4 == 1)
        return NULL;
    size_t tail = length % 4;
    if (!url && tail != (pad ? 4 - pad : 0)) return NULL;
    unsigned char *out = hpt_malloc (length / 4 * 3 + 3);
    size_t o = 0;
    for (size_t i = 0; i < length; i += 4) {
        size_t group = length - i < 4 ? length - i : 4;
        uint32_t bits = 0;
        for (size_t k = 0; k < 4; k++) {
            int v = k < group ? s_value (alphabet, text[i + k]) : 0;
            if (v < 0) {
                free (out);
                return NULL;
            }
            bits = bits << 6 | (uint32_t)v;
        }
        //  Canonical: the bits a short group leaves unused are zero.
        if ((group == 2 && (bits & 0xffff)) || (group == 3 && (bits & 0xff))) {
            free (out);
            return NULL;
        }
        out[o++] = (unsigned char)(bits >> 16);
        if (group > 2) out[o++] = (unsigned char)(bits >> 8);
        if (group > 3) out[o++] = (unsigned char)bits;
    }
    out[o] = 0;
    *size = o;
    return out;
}
