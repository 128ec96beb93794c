/*  libFuzzer target: the HPT/2 codec (proto/hpt_msg).

    Input: one mode byte, then frames separated by NUL bytes (a valid
    signature or JSON body never contains NUL, so every valid message can
    be written this way; at most 5 frames are made). Mode bit 0 set: the
    bytes after the mode byte are instead one body text for the spool path,
    hpt_msg_body_load, with the type taken from the next byte.

    Whatever decodes must satisfy the codec's own promises, or the target
    aborts: it validates, it encodes, and encode -> decode gives the same
    body text again; every getter works on it.
*/
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpt_msg.h"

//  Reads every field, so getters run on every message that decodes.
static void
s_touch (hpt_msg_t *msg)
{
    size_t size = 0;
    const void *data = hpt_msg_data (msg, &size);
    if (data && size) (void)((const unsigned char *)data)[size - 1];
    for (size_t i = 0; i < hpt_msg_point_count (msg); i++) {
        const char *tag;
        double value;
        int64_t step, time_ms;
        if (hpt_msg_point_at (msg, i, &tag, &value, &step, &time_ms) || !tag) abort ();
    }
    for (size_t i = 0; i < hpt_msg_task_count (msg); i++) {
        const char *id, *state;
        int64_t pid;
        if (hpt_msg_task_at (msg, i, &id, &pid, &state) || !id || !state) abort ();
    }
    for (size_t i = 0; i < hpt_msg_arg_count (msg); i++)
        if (!hpt_msg_arg (msg, i)) abort ();
    for (size_t i = 0; i < hpt_msg_gpu_count (msg); i++)
        if (hpt_msg_gpu (msg, i) < 0) abort ();
    for (size_t i = 0; i < hpt_msg_tpu_count (msg); i++)
        if (hpt_msg_tpu (msg, i) < 0) abort ();
    for (size_t i = 0; i < hpt_msg_protocol_count (msg); i++)
        if (hpt_msg_protocol_at (msg, i) < 1) abort ();
    (void)hpt_msg_env (msg);
    (void)hpt_msg_resources (msg);
    (void)hpt_msg_port_low (msg);
    (void)hpt_msg_signature_version (msg);
}

//  A decoded message must re-encode to something that decodes to the same
//  body.
static void
s_check_round_trip (hpt_msg_t *msg)
{
    hpt_error_t error;
    if (hpt_msg_validate (msg, &error) != 0) {
        fprintf (stderr, "decoded but invalid: %s\n", error.message);
        abort ();
    }
    s_touch (msg);
    char *first = hpt_msg_body_dump (msg);
    zmsg_t *wire = hpt_msg_encode (msg);
    if (!first || !wire) abort ();
    hpt_msg_t *again = hpt_msg_decode (&wire, &error);
    if (!again) {
        fprintf (stderr, "re-encoded message refused: %s\n", error.message);
        abort ();
    }
    char *second = hpt_msg_body_dump (again);
    if (!second || strcmp (first, second) != 0 || hpt_msg_id (again) != hpt_msg_id (msg)) abort ();
    free (first);
    free (second);
    hpt_msg_destroy (&again);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    hpt_msg_t *msg = NULL;
    if (data[0] & 1) {
        if (size < 2) return 0;
        char *text = malloc (size - 1);
        memcpy (text, data + 2, size - 2);
        text[size - 2] = 0;
        msg = hpt_msg_body_load ((hpt_msg_id_t)(data[1] % (HPT_MSG_ID_COUNT + 2)), text, NULL);
        free (text);
    } else {
        zmsg_t *wire = zmsg_new ();
        size_t start = 1;
        for (size_t i = 1; i <= size && zmsg_size (wire) < 5; i++)
            if (i == size || data[i] == 0) {
                zmsg_addmem (wire, data + start, i - start);
                start = i + 1;
            }
        hpt_msg_fault_t fault = {0};
        msg = hpt_msg_decode_fault (&wire, &fault);
        if (wire || (!msg && (fault.kind == HPT_MSG_FAULT_NONE || !fault.text[0]))) abort ();
        hpt_msg_fault_reset (&fault);
    }
    if (msg) s_check_round_trip (msg);
    hpt_msg_destroy (&msg);
    return 0;
}
