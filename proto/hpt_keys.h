/*  hpt_keys -- the CURVE certificates of the agent channel

    Master and agents prove who they are with ZeroMQ CURVE key pairs, kept
    in czmq's zcert files: NAME.cert holds the public key (and, for an
    agent, its name as metadata), NAME.cert_secret both keys. The secret
    file is written 0600 and never needs to leave its host; enrolling an
    agent is copying its public NAME.cert into the master's agentCerts
    directory (docs/security.md). This class writes and checks those files
    for both programs, and says which endpoints need them.
*/
#ifndef HPT_KEYS_H_INCLUDED
#define HPT_KEYS_H_INCLUDED

#include "hpt_error.h"
#include <czmq.h>
#include <stdbool.h>

//  Writes a new key pair as DIR/FILE.cert and DIR/FILE.cert_secret (0600),
//  with metadata name = name when name is not NULL. DIR is created (0700)
//  if missing; existing files are never overwritten (HPT_E_EXISTS).
int hpt_keys_generate (const char *dir, const char *file, const char *name, hpt_error_t *error);

//  Loads a certificate; with secret, it must hold the secret key (a
//  *_secret file). NULL with *error (naming the file and what to do)
//  otherwise. The caller destroys it.
zcert_t *hpt_keys_load (const char *path, bool secret, hpt_error_t *error);

//  Whether a ZeroMQ endpoint can only be reached from this host: ipc://,
//  inproc://, or tcp:// on a loopback address (127.0.0.0/8, [::1],
//  localhost). Everything else needs keys, or an explicit "insecure".
bool hpt_keys_local_endpoint (const char *endpoint);

#endif
