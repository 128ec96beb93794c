/*  hpt_spool -- the agent's on-disk queue of events not yet acknowledged

    Every event an agent reports (task started or exited, metrics, logs)
    gets the next sequence number and is appended here before it is sent.
    The master acknowledges a seq once the event is durably stored; the
    spool then forgets every event up to it. On reconnect (and after an
    agent restart) everything still in the spool is sent again, in order,
    so the master sees each event at least once and drops replays by seq.

    File: DIR/spool.jsonl, one JSON object per line {"seq": N, "kind":
    "TASK_EXITED", "body": "..."}; DIR/spool.seq holds the last acked seq
    (20 digits, rewritten in place). A torn last line (agent killed
    mid-write) is ignored on load, and so are lines at or below the acked
    seq. The file is emptied once it holds 1024 lines or 1 MiB, all
    acknowledged, and rewritten without acknowledged events when they make
    up most of a larger file, so it stays small while the master is
    reachable.

    Invariant: acked <= the last seq assigned. An acknowledgement of more
    is refused (hpt_spool_ack), and a mark on disk that no event could
    follow (at or above HPT_SPOOL_SEQ_MAX, left by an agent without that
    rule) is read as 0, which the master's HELLO repair turns back into
    its own mark (PROTOCOL.md 6.3).
*/
#ifndef HPT_SPOOL_H_INCLUDED
#define HPT_SPOOL_H_INCLUDED

#include "hpt_error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The largest seq the protocol carries (2^53 - 1, PROTOCOL.md 4).
#define HPT_SPOOL_SEQ_MAX 9007199254740991LL

typedef struct _hpt_spool_t hpt_spool_t;

typedef struct {
    int64_t seq; //  sequence number
    char *kind;  //  event kind (message name), owned by the spool
    char *body;  //  payload text, owned by the spool
} hpt_spool_event_t;

//  Opens (creating) the spool in dir (which must exist) and loads what an
//  earlier run left. Returns NULL with *error (HPT_E_UNAVAILABLE, naming
//  the file) when its files cannot be opened.
hpt_spool_t *hpt_spool_new (const char *dir, hpt_error_t *error);

//  Closes the spool and nulls the pointer.
void hpt_spool_destroy (hpt_spool_t **self_p);

//  Appends an event (kind and body copied) and returns its seq, or -1 when
//  the write failed (the event is still kept in memory).
int64_t hpt_spool_append (hpt_spool_t *self, const char *kind, const char *body);

//  The seq the next append will get (so a caller can put it in the body).
int64_t hpt_spool_next_seq (hpt_spool_t *self);

//  Forgets every event with seq <= seq. Returns 0, or -1 (and changes
//  nothing) when seq is above the last seq this spool assigned: no master
//  can have stored an event that was never sent, and recording such a mark
//  would make every later event's seq one the master already counts as
//  stored (or, near 2^53, one the codec cannot encode at all).
int hpt_spool_ack (hpt_spool_t *self, int64_t seq);

//  Index of the first unacknowledged event whose seq is >= seq, or
//  hpt_spool_size when there is none.
size_t hpt_spool_find (hpt_spool_t *self, int64_t seq);

//  Number of events not yet acknowledged, and event i of them (borrowed,
//  valid until the next append or ack).
size_t hpt_spool_size (hpt_spool_t *self);
const hpt_spool_event_t *hpt_spool_event (hpt_spool_t *self, size_t i);

//  The highest seq acknowledged so far.
int64_t hpt_spool_acked (hpt_spool_t *self);

#endif
