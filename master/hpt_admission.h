/*  hpt_admission -- which agents may connect, and under which name

    With master.security.curve the agents socket is a CURVE server: every
    connection proves that it holds the secret half of a public key. This
    class decides which keys are admitted and what each may call itself.
    It reads the admitted agents' public certificates (czmq's zcert
    format, `hptagent keygen` writes them) from one directory: each
    certificate's `name` metadata is the one agent name its key may use.
    It answers ZeroMQ's authentication requests (ZAP, RFC 27) on
    inproc://zeromq.zap.01, in the master's loop: a known key is admitted
    with its Z85 text as the connection's User-Id, any other is refused
    (counted and logged, at most once a second). The core then checks
    every message's User-Id against the name it claims or the node it
    comes from (hpt_admission_name), so an admitted agent can never speak
    as another, and a revoked key is refused from its next message on.

    The directory is read again when its modification time changes (a
    certificate added, removed or renamed into place), when a file that
    was skipped as not a certificate changes (one read while cp was still
    writing it), and on hpt_admission_reload (..., true), which the
    master does on SIGHUP.

    Group keys (hpt_admission_admit_group) are the master's own: it makes
    one per Slurm job and admits it for that job's agents, NAME.K, only.

    Invariants: at most one key per name (a second certificate with a name
    already taken is skipped and logged); certificates without a name are
    skipped and logged.
*/
#ifndef HPT_ADMISSION_H_INCLUDED
#define HPT_ADMISSION_H_INCLUDED

#include "hpt_error.h"
#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _hpt_admission_t hpt_admission_t;

//  Reads the certificates in dir and binds the ZAP handler. Returns NULL
//  with *error when dir cannot be read or the handler cannot be bound.
hpt_admission_t *hpt_admission_new (const char *dir, hpt_error_t *error);

//  Destroys the object (and its ZAP socket) and nulls the pointer.
void hpt_admission_destroy (hpt_admission_t **self_p);

//  The ZAP socket, for the owner's loop to read (borrowed).
zsock_t *hpt_admission_zap (hpt_admission_t *self);

//  Answers one ZAP request waiting on the ZAP socket.
void hpt_admission_handle (hpt_admission_t *self);

//  Reads the directory again if it changed (always, with force). Returns
//  true when the admitted keys changed.
bool hpt_admission_reload (hpt_admission_t *self, bool force);

//  The name the key (Z85 text, a message's User-Id) may use, or NULL when
//  it is not admitted (borrowed, valid until the next reload).
const char *hpt_admission_name (hpt_admission_t *self, const char *key);

//  Whether key may register as name: the one name of its certificate,
//  or for a group key, any name PREFIX.SOMETHING.
bool hpt_admission_allows (hpt_admission_t *self, const char *key, const char *name);

//  Admits key (Z85) for the agents PREFIX.* until revoked: the agents a
//  Slurm job starts for one trial (docs/slurm.md). Not from agentCerts,
//  so a reload keeps it.
void hpt_admission_admit_group (hpt_admission_t *self, const char *key, const char *prefix);

//  Stops admitting a group key.
void hpt_admission_revoke_group (hpt_admission_t *self, const char *key);

//  Connections refused by ZAP since the start (unknown keys, other
//  mechanisms).
uint64_t hpt_admission_refused (hpt_admission_t *self);

//  How many keys are admitted now.
size_t hpt_admission_count (hpt_admission_t *self);

#endif
