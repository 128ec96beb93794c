/*  hpt_identity -- one agent per workdir, and the id that tells agents apart

    An agent holds an exclusive lock on WORKDIR/agent.lock for as long as
    it runs (flock, on a close-on-exec descriptor, so no task inherits
    it): a second agent on the same workdir would share its spool and its
    tasks' directories, so it is refused at start with the first one's
    pid. The lock goes with the process, however it ends, so a restarted
    agent takes it at once.

    WORKDIR/agent-id holds 32 hex digits from /dev/urandom, made on the
    first start and kept: the same agent (its workdir) has the same id
    across restarts, and two agents started with the same --name have
    different ones. The agent sends it in HELLO's resources (`agentId`),
    and the master refuses a second agent for a name whose first is still
    connected (PROTOCOL.md §5.1), where a restart is let in.

    Invariant: while the object lives, this process holds the lock and
    the id is 32 lowercase hex digits.
*/
#ifndef HPT_IDENTITY_H_INCLUDED
#define HPT_IDENTITY_H_INCLUDED

#include "hpt_error.h"

#define HPT_IDENTITY_ID_LEN 32

typedef struct _hpt_identity_t hpt_identity_t;

//  Locks workdir (which exists) and reads or makes its id. NULL with
//  *error when another process holds the lock or a file cannot be used.
hpt_identity_t *hpt_identity_new (const char *workdir, hpt_error_t *error);

//  Releases the lock (the id file stays).
void hpt_identity_destroy (hpt_identity_t **self_p);

//  The agent's id (borrowed).
const char *hpt_identity_id (const hpt_identity_t *self);

#endif
