/*  libFuzzer target: the TF event-file record and protobuf parser
    (common/hpt_tfevents, hpt_tfevents_parse_buffer).

    Input: one mode byte, then file bytes. Mode bit 0: parse the bytes as
    a file at its end (at_exit); otherwise as a file still growing. Bits
    1-5 choose a split point: the bytes are fed in two calls as a poll
    would see them (the first call's unconsumed tail is passed again with
    the rest), which exercises partial records and resynchronisation
    across polls. Bit 6: the bytes are one Event payload that the target
    frames with valid CRCs first, so mutations reach the protobuf decoder
    instead of dying at a CRC check. Bit 7 applies a tag filter.

    Checks the parser's promises, or aborts: it never consumes more than
    it was given, at the end it consumes everything, every point has a
    terminated non-empty tag and a finite value, and the filter holds.
*/
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hpt_tfevents.h"

static const char *s_filter;

static void
s_sink (void *arg, const hpt_tfevents_point_t *point)
{
    size_t length = strnlen (point->tag, sizeof (point->tag));
    if (length == 0 || length == sizeof (point->tag)) abort ();
    if (!isfinite (point->value)) abort ();
    if (s_filter && strcmp (point->tag, s_filter) != 0) abort ();
    (*(size_t *)arg)++;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    bool at_end = mode & 1;
    s_filter = (mode & 0x80) ? "m" : NULL;
    uint8_t *buffer;
    if (mode & 0x40) {
        //  Frame the payload: u64 length, masked CRC, data, masked CRC.
        buffer = malloc (size + 16);
        if (!buffer) return 0;
        for (int i = 0; i < 8; i++)
            buffer[i] = (uint8_t)((uint64_t)size >> (8 * i));
        uint32_t crc = hpt_tfevents_masked_crc (buffer, 8);
        memcpy (buffer + 12, data, size);
        uint32_t data_crc = hpt_tfevents_masked_crc (data, size);
        for (int i = 0; i < 4; i++) {
            buffer[8 + i] = (uint8_t)(crc >> (8 * i));
            buffer[12 + size + i] = (uint8_t)(data_crc >> (8 * i));
        }
        size += 16;
    } else {
        //  A private copy of exactly the bytes given, so ASan sees overreads.
        buffer = malloc (size ? size : 1);
        if (!buffer) return 0;
        memcpy (buffer, data, size);
    }
    size_t split = ((size_t)((mode >> 1) & 31) * size) / 31;
    if (split > size) split = size;
    hpt_tfevents_scan_t scan = {0};
    size_t points = 0;
    size_t used =
        hpt_tfevents_parse_buffer (&scan, buffer, split, false, s_filter, s_sink, &points);
    if (used > split) abort ();
    size_t rest = size - used;
    uint8_t *second = malloc (rest ? rest : 1);
    if (!second) {
        free (buffer);
        return 0;
    }
    memcpy (second, buffer + used, rest);
    size_t used2 =
        hpt_tfevents_parse_buffer (&scan, second, rest, at_end, s_filter, s_sink, &points);
    if (used2 > rest) abort ();
    if (at_end && used2 != rest) abort ();
    free (second);
    free (buffer);
    return 0;
}
