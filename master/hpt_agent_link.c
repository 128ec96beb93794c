/*  hpt_agent_link -- the master's side of HPT/2 (proto/PROTOCOL.md)

    Every message from an agent arrives here. The codec has already
    checked it against the protocol's bounds; what is left is what it
    means.

    Admission: with CURVE, a HELLO is refused for good unless its name is
    the one its key's certificate gives (hpt_admission), and any other
    message must come from a key still admitted for its node. A HELLO with
    a resource document over 64 KiB, or a new agent past maxAgents, is
    refused too: registrations are stored, so they must be bounded. So is
    a new agent while the master has fewer free file descriptors than its
    reserve (hpt_fdlimit): one more connection must not cost the API its
    next accept. Every refusal is a REJECT the agent can read, counted
    by reason (hpt_agents_refused_total).

    Registration (HELLO), in three steps inside one transaction:
    1. register: the node is created, or a known node takes the agent's
       new connection, resources and version (keeping its drain state and
       reservations); its acked seq is repaired from HELLO's ackedSeq and
       lastSeq (PROTOCOL.md §6.3 rule 6); the row is stored;
    2. welcome: WELCOME (and DRAIN when drained) are posted;
    3. reconcile: what the agent runs is compared with what the store
       says it should (§6.4). A task the agent runs that the master has
       finished with is stopped. A task the store has as launching that
       the agent never heard of is launched now (its first launch: the
       LAUNCH never arrived). A task the store has as running that the
       agent no longer has was lost with the agent's state (a restarted
       agent runs nothing): agentLostPolicy decides, exactly as for an
       agent that went silent (fail, or requeue). A task that was being
       stopped ended.
    While the store cannot be written, HELLO is refused with a retry.

    Events (TASK_STARTED, TASK_EXITED, METRICS, LOGS) carry the agent's
    seq. Only seq = stored mark + 1 is applied: its effects and the new
    mark are committed in one transaction, then ACKed. A lower seq is a
    replay (ACKed again, nothing applied); a higher one follows a gap
    (dropped: the agent retransmits in order). While the store cannot be
    written, events are dropped unacknowledged and replayed later.

    Anything from a connection that has not registered gets ERROR
    NOT_REGISTERED, at most once a second per connection (§6.5). A message
    of another protocol version gets a REJECT in that version's signature
    (§7: REJECT's body is the same in every version), naming the versions
    this master speaks, so an older or newer agent can tell its operator.

    HEARTBEATs carry what the agent says of its host (tasks running, load,
    its last seq): kept on the node for GET /v1/nodes.
*/
#include "hpt_core_private.h"
#include "hpt_alloc.h"
#include "hpt_fdlimit.h"
#include "hpt_log.h"
#include "hpt_json.h"
#include "hpt_scheduler.h"
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Most connections remembered for the NOT_REGISTERED rate limit; beyond
//  that the memory is cleared (a flood of new connections cannot grow it).
#define S_REFUSED_MAX 4096

//  Least time between two log lines about agents refused for lack of
//  file descriptors (each refusal is counted on /metrics).
#define S_FD_LOG_INTERVAL_MS 60000

//  ---------------------------------------------------------------------
//  Replies to connections that are not (or not yet) a node

static void
s_reject (hpt_core_t *self, zframe_t *routing_id, const char *reason, int64_t retry_ms)
{
    hpt_msg_t *msg = hpt_msg_new (HPT_MSG_REJECT);
    hpt_msg_set_reason (msg, reason);
    if (retry_ms > 0) hpt_msg_set_retry_ms (msg, retry_ms);
    hpt_core_send_to (self, routing_id, &msg);
}

//  ERROR NOT_REGISTERED, at most once a second per connection.
static void
s_not_registered (hpt_core_t *self, zframe_t *routing_id)
{
    hpt_core_drop (self, "not_registered");
    char *key = zframe_strhex (routing_id);
    int64_t now = hpt_core_now ();
    int64_t *last = zhashx_lookup (self->refused_at, key);
    if (!last || now - *last >= 1000) {
        if (!last) {
            if (zhashx_size (self->refused_at) >= S_REFUSED_MAX) zhashx_purge (self->refused_at);
            last = hpt_malloc (sizeof (int64_t));
            zhashx_insert (self->refused_at, key, last);
        }
        *last = now;
        hpt_msg_t *msg = hpt_msg_new (HPT_MSG_ERROR);
        hpt_msg_set_code (msg, "NOT_REGISTERED");
        hpt_msg_set_reason (msg, "not registered: send HELLO");
        hpt_core_send_to (self, routing_id, &msg);
    }
    free (key);
}

//  A message the codec refused: counted, and the sender told why. A peer
//  of another version gets a final REJECT it can read: in its own
//  version's signature, with the versions this master speaks.
static void
s_malformed (hpt_core_t *self, hpt_msg_fault_t *fault)
{
    hpt_core_drop (self, hpt_msg_fault_name (fault->kind));
    if (!fault->routing_id) return;
    hpt_msg_t *reply = NULL;
    if (fault->kind == HPT_MSG_FAULT_VERSION) {
        reply = hpt_msg_new (HPT_MSG_REJECT);
        hpt_msg_set_signature_version (reply, fault->version);
        char *why = hpt_asprintf ("unsupported protocol version HPT/%d (this master speaks HPT/%d)",
                                  fault->version, HPT_MSG_PROTOCOL);
        hpt_msg_set_reason (reply, why);
        free (why);
        hpt_msg_add_protocol (reply, HPT_MSG_PROTOCOL);
    } else {
        reply = hpt_msg_new (HPT_MSG_ERROR);
        hpt_msg_set_code (reply, "MALFORMED");
        hpt_msg_set_reason (reply, fault->text);
    }
    hpt_core_send_to (self, fault->routing_id, &reply);
}

//  ---------------------------------------------------------------------
//  Registration

//  The node's resource document: the agent's topology plus where its
//  tasks are reached (advertise, port range).
static json_t *
s_resources (hpt_msg_t *msg, hpt_host_t *known)
{
    json_t *resources = json_deep_copy (hpt_msg_resources (msg));
    if (!json_is_object (resources)) {
        json_decref (resources);
        resources = json_object ();
    }
    //  Failed GPUs are the master's verdict, kept until an undrain: an
    //  agent cannot declare them, and a new HELLO does not clear them.
    json_object_del (resources, "failedGpus");
    json_t *failed = known ? json_object_get (known->resources, "failedGpus") : NULL;
    if (failed) json_object_set (resources, "failedGpus", failed);
    if (hpt_msg_advertise (msg))
        json_object_set_new (resources, "advertise", json_string (hpt_msg_advertise (msg)));
    if (hpt_msg_port_low (msg) > 0)
        json_object_set_new (resources, "ports",
                             json_pack ("[I,I]", (json_int_t)hpt_msg_port_low (msg),
                                        (json_int_t)hpt_msg_port_high (msg)));
    return resources;
}

//  Tasks a HELLO lists as running (or being stopped).
static int64_t
s_listed_running (hpt_msg_t *msg)
{
    int64_t count = 0;
    for (size_t i = 0; i < hpt_msg_task_count (msg); i++) {
        const char *state = NULL;
        hpt_msg_task_at (msg, i, NULL, NULL, &state);
        count += state && strcmp (state, "EXITED") != 0;
    }
    return count;
}

//  The agentId a resource document carries (PROTOCOL.md 5.1), or NULL
//  when it has none of the right form (borrowed).
static const char *
s_agent_id (json_t *resources)
{
    const char *id = json_string_value (json_object_get (resources, "agentId"));
    if (!id || strlen (id) != 32) return NULL;
    for (const char *c = id; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) return NULL;
    return id;
}

//  Step 1: the node of this HELLO, registered and stored. NULL with
//  *error when the resources are unusable (nothing changed then).
static hpt_host_t *
s_register (hpt_core_t *self, hpt_msg_t *msg, hpt_error_t *error)
{
    const char *name = hpt_msg_name (msg);
    json_t *resources = s_resources (msg, hpt_fleet_get (self->fleet, name));
    hpt_host_t *fresh = hpt_host_new (name, resources, error);
    json_decref (resources);
    if (!fresh) return NULL;
    hpt_host_t *node = hpt_fleet_get (self->fleet, name);
    if (node && node->state == HPT_HOST_READY && node->routing_id &&
        !zframe_eq (node->routing_id, hpt_msg_routing_id (msg)))
        //  The last HELLO for a name wins (PROTOCOL.md §2): usually an
        //  agent restarted before its old connection timed out.
        hpt_log_warning ("agent %s registered again from a new connection", name);
    if (!node) {
        hpt_fleet_add (self->fleet, fresh);
        node = fresh;
        hpt_core_touch_node (self, node, true);
    } else if (node->running_tasks == 0) {
        //  Nothing placed on it: take the resources it reports now, keep
        //  what the master decided about it.
        hpt_core_touch_node (self, node, false);
        fresh->drain = node->drain;
        fresh->drain_reason = node->drain_reason, node->drain_reason = NULL;
        fresh->drained_by = node->drained_by, node->drained_by = NULL;
        fresh->drain_time = node->drain_time;
        fresh->acked_seq = node->acked_seq;
        hpt_fleet_replace (self->fleet, node, fresh);
        node = fresh;
    } else {
        hpt_core_touch_node (self, node, false);
        hpt_host_destroy (&fresh);
        //  The resources stay the master's, but the id is the agent's now.
        const char *id = s_agent_id (hpt_msg_resources (msg));
        if (id) json_object_set_new (node->resources, "agentId", json_string (id));
    }
    //  Repair the stored mark when it disagrees with the agent's spool
    //  (PROTOCOL.md §6.3, rule 6): a master older than the agent's view,
    //  or an agent that lost its spool and counts from a lower number.
    int64_t agent_acked = hpt_msg_acked_seq (msg), agent_last = hpt_msg_last_seq (msg);
    if (node->acked_seq < agent_acked || node->acked_seq > agent_last) {
        hpt_log_warning ("agent %s: stored seq %" PRId64 " repaired to %" PRId64
                         " (agent acked %" PRId64 ", last %" PRId64 ")",
                         node->name, node->acked_seq, agent_acked, agent_acked, agent_last);
        node->acked_seq = agent_acked;
    }
    free (node->key);
    node->key = hpt_msg_user_id (msg) ? hpt_strdup (hpt_msg_user_id (msg)) : NULL;
    free (node->version);
    node->version = hpt_strdup (hpt_msg_version (msg));
    //  What the agent said of its host belongs to its last connection.
    hpt_host_heartbeat (node, s_listed_running (msg), -1, agent_last);
    hpt_fleet_set_route (self->fleet, node, hpt_msg_routing_id (msg));
    node->state = HPT_HOST_READY;
    node->last_seen = hpt_core_now ();
    char *text = hpt_json_dumps (node->resources, false);
    hpt_store_agent_t row = {node->name, node->state, node->last_seen, text};
    hpt_store_agent_upsert (self->store, &row, NULL);
    free (text);
    hpt_store_agent_set_acked_seq (self->store, node->name, node->acked_seq, NULL);
    return node;
}

//  Step 2: WELCOME, and DRAIN when the node is drained.
static void
s_welcome (hpt_core_t *self, hpt_host_t *node)
{
    hpt_msg_t *welcome = hpt_msg_new (HPT_MSG_WELCOME);
    hpt_msg_set_heartbeat_ms (welcome, self->settings->heartbeat_interval_ms);
    hpt_msg_set_agent_timeout_ms (welcome, self->settings->agent_timeout_ms);
    hpt_msg_set_master_epoch (welcome, self->epoch);
    hpt_msg_set_protocol (welcome, HPT_MSG_PROTOCOL);
    hpt_msg_set_acked_seq (welcome, node->acked_seq);
    hpt_core_post (self, node, &welcome);
    if (node->drain != HPT_DRAIN_NONE) {
        hpt_msg_t *drain = hpt_msg_new (HPT_MSG_DRAIN);
        hpt_msg_set_draining (drain, true);
        hpt_msg_set_reason (drain, node->drain_reason ? node->drain_reason : "");
        hpt_core_post (self, node, &drain);
    }
}

//  Step 3a: the tasks the agent lists. Returns them as a set (task id ->
//  itself; the caller destroys it).
static zhashx_t *
s_reconcile_listed (hpt_core_t *self, hpt_host_t *node, hpt_msg_t *msg)
{
    zhashx_t *listed = zhashx_new ();
    for (size_t i = 0; i < hpt_msg_task_count (msg); i++) {
        const char *task_id = NULL, *state = NULL;
        int64_t pid = 0;
        if (hpt_msg_task_at (msg, i, &task_id, &pid, &state) != 0 || !task_id) continue;
        zhashx_update (listed, task_id, (void *)task_id);
        hpt_task_ref_t *ref = hpt_core_task (self, task_id);
        bool exited = state && strcmp (state, "EXITED") == 0;
        if (!ref || ref->task->state == HPT_TASK_EXITED || !ref->task->agent ||
            strcmp (ref->task->agent, node->name) != 0) {
            if (!exited) {
                //  It runs, but the master has finished with it.
                hpt_msg_t *stop = hpt_msg_new (HPT_MSG_STOP);
                hpt_msg_set_task_id (stop, task_id);
                hpt_msg_set_reason (stop, "unknown task");
                hpt_msg_set_grace_ms (stop, self->settings->stop_grace_ms);
                hpt_core_post (self, node, &stop);
            }
        } else if (!exited && ref->task->state == HPT_TASK_LAUNCHING)
            hpt_tuner_task_started (ref->tuner, self->store, ref->trial, ref->task, pid, 0,
                                    hpt_core_now ());
    }
    return listed;
}

//  Step 3b: the tasks the store has on node that the agent did not list.
static void
s_reconcile_missing (hpt_core_t *self, hpt_host_t *node, zhashx_t *listed)
{
    zlistx_t *missing = zlistx_new ();
    for (hpt_task_ref_t *ref = zhashx_first (self->tasks); ref; ref = zhashx_next (self->tasks))
        if (ref->task->agent && strcmp (ref->task->agent, node->name) == 0 &&
            ref->task->state != HPT_TASK_EXITED && !zhashx_lookup (listed, ref->task->task_id))
            zlistx_add_end (missing, ref);
    char *reason =
        hpt_asprintf ("was lost: its agent %s came back without it (restarted?)", node->name);
    for (hpt_task_ref_t *ref = zlistx_first (missing); ref; ref = zlistx_next (missing)) {
        if (ref->task->state == HPT_TASK_EXITED) continue; //  ended with a sibling meanwhile
        if (ref->task->state == HPT_TASK_LAUNCHING)
            //  Stored, but its LAUNCH never reached the agent: this is its
            //  first launch, not a second one.
            hpt_core_launch (self, ref);
        else if (ref->task->state == HPT_TASK_STOPPING)
            hpt_core_task_ended (self, ref, &(hpt_task_exit_t){-1, SIGKILL, NULL, 0, false, NULL});
        else
            hpt_core_task_lost (self, ref, reason);
    }
    free (reason);
    zlistx_destroy (&missing);
}

//  Most bytes of a node's resource document, and most members the
//  master passes through unchecked: a HELLO is stored with each
//  registration, so it must not be able to grow the store without bound.
#define S_RESOURCES_MAX (64 * 1024)
#define S_RESOURCES_MEMBERS_MAX 64

//  Whether the master is within its reserve of free file descriptors
//  (hpt_fdlimit_reserve of its soft limit): a new agent would take one
//  more, and libzmq's and libmicrohttpd's accept loops cannot make
//  progress once none is free, so the API would stop answering. When it
//  is, text says so; logged at most once a minute, with the refusals
//  since the last line.
//  Counting the open descriptors reads /proc/self/fd, O(descriptors):
//  done for every HELLO of a thousand agents registering at once, it was
//  most of that storm. So a count serves for a second, plus one
//  descriptor for each new agent let in since, and is taken afresh when
//  that estimate comes within twice the reserve of the limit.
static bool
s_fds_short (hpt_core_t *self, char *text, size_t size)
{
    int64_t limit = hpt_fdlimit_soft (), reserve = hpt_fdlimit_reserve (limit);
    if (limit <= 0) return false;
    int64_t mono = zclock_mono ();
    int64_t open = self->fds_counted + self->fds_let_in;
    if (!self->fds_counted_at || mono - self->fds_counted_at >= 1000 ||
        limit - open < 2 * reserve) {
        open = hpt_fdlimit_open ();
        //  No descriptor even to count them with: none is free.
        if (open < 0) open = limit;
        self->fds_counted = open;
        self->fds_counted_at = mono;
        self->fds_let_in = 0;
    }
    if (limit - open >= reserve) {
        self->fds_let_in++;
        return false;
    }
    snprintf (text, size,
              "the master is near its open-file limit (%" PRId64 " of %" PRId64
              " descriptors open; it keeps %" PRId64
              " free for its API and store): it takes no new agents until an operator raises its "
              "hard limit (LimitNOFILE=) or agents leave",
              open, limit, reserve);
    self->fd_refusals_unlogged++;
    int64_t now = hpt_core_now ();
    if (!self->fd_refusal_logged || now - self->fd_refusal_logged >= S_FD_LOG_INTERVAL_MS) {
        hpt_log_warning ("refusing new agents: %" PRId64 " of %" PRId64
                         " descriptors open, reserve %" PRId64 " (%" PRIu64
                         " refused since the last such line)",
                         open, limit, reserve, self->fd_refusals_unlogged);
        self->fd_refusal_logged = now;
        self->fd_refusals_unlogged = 0;
    }
    return true;
}

//  A second agent for a name whose first is still connected: both carry
//  an agentId and they differ (a restarted agent keeps its id, so it is
//  let in: last HELLO wins). Refused until the first is declared lost.
static const char *
s_name_in_use (hpt_core_t *self, hpt_msg_t *msg, char *text, size_t size)
{
    const char *name = hpt_msg_name (msg);
    hpt_host_t *known = hpt_fleet_get (self->fleet, name);
    if (!known || known->state != HPT_HOST_READY || !known->routing_id ||
        zframe_eq (known->routing_id, hpt_msg_routing_id (msg)))
        return NULL;
    const char *first = s_agent_id (known->resources);
    const char *second = s_agent_id (hpt_msg_resources (msg));
    if (!first || !second || strcmp (first, second) == 0) return NULL;
    hpt_log_warning ("refused a second agent named %s (agent id %.8s, advertising %s): the name "
                     "is connected to agent id %.8s, advertising %s",
                     name, second, hpt_msg_advertise (msg), first,
                     known->advertise ? known->advertise : "?");
    snprintf (text, size,
              "the name %s is in use by another agent that is connected (agent id %.8s, "
              "advertising %s); give this agent its own --name. If that agent is gone, this one "
              "is let in once the master declares it lost (agentTimeout)",
              name, first, known->advertise ? known->advertise : "?");
    return text;
}

//  Why this HELLO may not register (NULL: it may), with the drop kind and
//  whether the agent may retry. With CURVE, the name must be the one its
//  key's certificate gives.
static const char *
s_refusal (hpt_core_t *self, hpt_msg_t *msg, const char **kind, int64_t *retry_ms, char *text,
           size_t size)
{
    *retry_ms = 0;
    const char *name = hpt_msg_name (msg);
    if (self->admission) {
        const char *admitted = hpt_admission_name (self->admission, hpt_msg_user_id (msg));
        if (!admitted) {
            *kind = "not_admitted";
            return "this agent's key is not admitted (any more): copy its NAME.cert into the "
                   "master's agentCerts directory";
        }
        if (!hpt_admission_allows (self->admission, hpt_msg_user_id (msg), name)) {
            *kind = "name_mismatch";
            hpt_log_warning ("refused HELLO as agent %s from the key of agent %s", name, admitted);
            snprintf (text, size,
                      "this agent's certificate is agent %s's; it cannot register as %s", admitted,
                      name);
            return text;
        }
    }
    json_t *resources = hpt_msg_resources (msg);
    char *dump = json_dumps (resources, JSON_COMPACT);
    size_t bytes = dump ? strlen (dump) : 0;
    free (dump);
    if (bytes > S_RESOURCES_MAX || json_object_size (resources) > S_RESOURCES_MEMBERS_MAX) {
        *kind = "resources_too_large";
        snprintf (text, size,
                  "the resource document has %zu bytes and %zu members; at most %d and %d", bytes,
                  json_object_size (resources), S_RESOURCES_MAX, S_RESOURCES_MEMBERS_MAX);
        return text;
    }
    if (s_name_in_use (self, msg, text, size)) {
        *kind = "name_in_use";
        *retry_ms = self->settings->agent_timeout_ms;
        return text;
    }
    size_t count;
    hpt_fleet_nodes (self->fleet, &count);
    if (!hpt_fleet_get (self->fleet, name) && (int64_t)count >= self->settings->max_agents) {
        *kind = "too_many_agents";
        *retry_ms = self->settings->agent_timeout_ms;
        snprintf (text, size,
                  "the master already knows master.maxAgents (%" PRId64
                  ") agents; an operator can remove lost ones with hpt nodes delete",
                  self->settings->max_agents);
        return text;
    }
    if (!hpt_fleet_get (self->fleet, name) && s_fds_short (self, text, size)) {
        *kind = "fd_limit";
        *retry_ms = self->settings->agent_timeout_ms;
        return text;
    }
    return NULL;
}

static void
s_on_hello (hpt_core_t *self, hpt_msg_t *msg)
{
    zframe_t *routing_id = hpt_msg_routing_id (msg);
    if (hpt_msg_protocol (msg) != HPT_MSG_PROTOCOL) {
        char *why = hpt_asprintf ("protocol version %d is not supported (this master speaks %d)",
                                  (int)hpt_msg_protocol (msg), HPT_MSG_PROTOCOL);
        hpt_master_metrics_agent_refused (self->metrics, "protocol");
        s_reject (self, routing_id, why, 0);
        free (why);
        return;
    }
    const char *kind = NULL;
    int64_t retry_ms = 0;
    char text[512];
    const char *refusal = s_refusal (self, msg, &kind, &retry_ms, text, sizeof (text));
    if (refusal) {
        hpt_core_drop (self, kind);
        hpt_master_metrics_agent_refused (self->metrics, kind);
        s_reject (self, routing_id, refusal, retry_ms);
        return;
    }
    if (hpt_core_begin (self) != 0) {
        hpt_master_metrics_agent_refused (self->metrics, "store_unavailable");
        s_reject (self, routing_id, "the master cannot write its store now; try again", 1000);
        return;
    }
    hpt_error_t error;
    hpt_host_t *node = s_register (self, msg, &error);
    if (!node) {
        hpt_core_commit (self);
        hpt_master_metrics_agent_refused (self->metrics, "bad_resources");
        //  The agent may try again once the cause may have gone.
        s_reject (self, routing_id, error.message, self->settings->agent_timeout_ms);
        return;
    }
    s_welcome (self, node);
    zhashx_t *listed = s_reconcile_listed (self, node, msg);
    s_reconcile_missing (self, node, listed);
    zhashx_destroy (&listed);
    hpt_core_schedule (self);
    hpt_core_commit (self);
}

//  ---------------------------------------------------------------------
//  Events

//  Whether event seq of node is to be applied now; if so, a transaction
//  is open.
static bool
s_event_begin (hpt_core_t *self, hpt_host_t *node, int64_t seq, const char *kind)
{
    const char *outcome = seq <= node->acked_seq      ? "replayed"
                          : seq > node->acked_seq + 1 ? "dropped"
                          : !self->store_ok           ? "dropped"
                                                      : "stored";
    hpt_master_metrics_agent_event (self->metrics, kind, outcome);
    if (seq <= node->acked_seq) {
        //  A replay of something stored (PROTOCOL.md §6.3), or being
        //  stored: an earlier frame of the same group commit may have
        //  raised the mark, so the ACK goes out with that commit.
        hpt_msg_t *ack = hpt_msg_new (HPT_MSG_ACK);
        hpt_msg_set_seq (ack, node->acked_seq);
        hpt_core_post (self, node, &ack);
        return false;
    }
    if (seq > node->acked_seq + 1) {
        //  A gap: an earlier event was lost on a broken connection. Store
        //  nothing out of order; the agent retransmits in order.
        hpt_core_drop (self, "seq_gap");
        return false;
    }
    if (hpt_core_begin (self) != 0) {
        hpt_core_drop (self, "store_unavailable");
        return false;
    }
    return true;
}

//  Stores the new mark with the event's effects, commits, and ACKs.
static void
s_event_end (hpt_core_t *self, hpt_host_t *node, int64_t seq)
{
    hpt_core_touch_node (self, node, false);
    node->acked_seq = seq;
    hpt_store_agent_set_acked_seq (self->store, node->name, seq, NULL);
    hpt_msg_t *ack = hpt_msg_new (HPT_MSG_ACK);
    hpt_msg_set_seq (ack, seq);
    hpt_core_post (self, node, &ack);
    hpt_core_commit (self);
}

//  The event's task, when it is one of node's (an agent speaks only for
//  its own tasks); else counted as unknown.
static hpt_task_ref_t *
s_own_task (hpt_core_t *self, hpt_host_t *node, hpt_msg_t *msg)
{
    hpt_task_ref_t *ref = hpt_core_task (self, hpt_msg_task_id (msg));
    if (ref && ref->task->agent && strcmp (ref->task->agent, node->name) == 0) return ref;
    hpt_core_drop (self, "unknown_task");
    return NULL;
}

static void
s_on_task_started (hpt_core_t *self, hpt_task_ref_t *ref, hpt_msg_t *msg)
{
    hpt_tuner_task_started (ref->tuner, self->store, ref->trial, ref->task, hpt_msg_pid (msg),
                            hpt_msg_start_time (msg), hpt_core_now ());
}

//  Lines of a failed task's stderr told with its failure, and how much of
//  the job's log is read (backwards) to find them: the exit must not wait
//  on a long read, and older lines are in the log for whoever wants them.
#define S_TAIL_LINES 5
#define S_TAIL_WIDTH 300
#define S_TAIL_SCAN (256 * 1024)

//  The last lines of the task's stderr in its job's log, or NULL. Control
//  characters become '?' (the text goes into errorMessage, shown on
//  terminals), long lines are cut.
static char *
s_stderr_tail (hpt_core_t *self, hpt_task_ref_t *ref)
{
    char trial[32];
    snprintf (trial, sizeof (trial), "%" PRId64, ref->trial->id);
    json_t *found = hpt_joblog_tail (self->joblog, hpt_tuner_id (ref->tuner), trial,
                                     ref->task->task_id, "stderr", 64, S_TAIL_SCAN);
    zchunk_t *text = zchunk_new (NULL, 1024);
    size_t i;
    json_t *entry;
    json_array_foreach (json_object_get (found, "entries"), i, entry) {
        const char *chunk = json_string_value (json_object_get (entry, "text"));
        if (chunk) zchunk_extend (text, chunk, strlen (chunk));
    }
    json_decref (found);
    //  The last S_TAIL_LINES lines that are not empty, oldest first.
    char *all = hpt_strndup ((const char *)zchunk_data (text), zchunk_size (text));
    zchunk_destroy (&text);
    const char *lines[S_TAIL_LINES];
    size_t count = 0;
    char *save = NULL;
    for (char *line = strtok_r (all, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        if (count == S_TAIL_LINES) memmove (lines, lines + 1, --count * sizeof (char *));
        lines[count++] = line;
    }
    char *tail = NULL;
    for (size_t k = 0; k < count; k++) {
        //  Cut at a character's start: the text must stay UTF-8.
        size_t width = strlen (lines[k]);
        if (width > S_TAIL_WIDTH)
            for (width = S_TAIL_WIDTH; width > 0 && (lines[k][width] & 0xC0) == 0x80; width--)
                ;
        char *next =
            hpt_asprintf ("%s%s  %.*s", tail ? tail : "", tail ? "\n" : "", (int)width, lines[k]);
        free (tail);
        tail = next;
    }
    free (all);
    for (char *c = tail; c && *c; c++)
        if ((*c > 0 && *c < 0x20 && *c != '\n') || *c == 0x7f) *c = '?';
    return tail;
}

static void
s_on_task_exited (hpt_core_t *self, hpt_task_ref_t *ref, hpt_msg_t *msg)
{
    const char *reason = hpt_msg_reason (msg);
    int code = (int)hpt_msg_exit_code (msg);
    //  An exec failure is the agent's own explanation; otherwise the
    //  status says it.
    //  A failure says what the trainer said last (its LOGS came first: the
    //  agent sends a task's output before its exit).
    char *tail = code != 0 || hpt_msg_signal (msg) ? s_stderr_tail (self, ref) : NULL;
    hpt_task_exit_t exit = {code,
                            (int)hpt_msg_signal (msg),
                            reason && *reason && (code == 127 || code == 125) ? reason : NULL,
                            hpt_msg_end_time (msg),
                            hpt_msg_core_dumped (msg),
                            tail};
    hpt_core_task_ended (self, ref, &exit);
    free (tail);
    hpt_core_schedule (self);
}

static void
s_on_metrics (hpt_core_t *self, hpt_task_ref_t *ref, hpt_msg_t *msg)
{
    size_t count = hpt_msg_point_count (msg);
    hpt_tuner_point_t *points = hpt_calloc (count, sizeof (hpt_tuner_point_t));
    for (size_t i = 0; i < count; i++) {
        int64_t step = -1, time_ms = 0;
        hpt_msg_point_at (msg, i, &points[i].tag, &points[i].value, &step, &time_ms);
        points[i].step = step;
        points[i].time = (double)time_ms / 1000.0;
    }
    char *stop_reason = NULL;
    hpt_tuner_report (ref->tuner, self->store, ref->trial, ref->task, points, count, &stop_reason);
    free (points);
    if (!stop_reason) return;
    //  Early stopping: stored first (STOPPING, the reason), the STOPs
    //  go out with the commit.
    char *why = hpt_asprintf ("stopped early: %s", stop_reason);
    hpt_task_t **to_stop = NULL;
    size_t stop_count = 0;
    hpt_tuner_stop_early (ref->tuner, self->store, ref->trial, why, hpt_core_now (), &to_stop,
                          &stop_count);
    char *text = hpt_asprintf ("trial %" PRId64 " %s", ref->trial->id, why);
    hpt_core_log_event (self, ref->tuner, ref->trial, text);
    free (text);
    for (size_t i = 0; i < stop_count; i++) {
        hpt_msg_t *stop = hpt_msg_new (HPT_MSG_STOP);
        hpt_msg_set_task_id (stop, to_stop[i]->task_id);
        hpt_msg_set_reason (stop, "early stopping");
        hpt_msg_set_grace_ms (stop, self->settings->stop_grace_ms);
        hpt_core_post (self, hpt_fleet_get (self->fleet, to_stop[i]->agent), &stop);
    }
    free (to_stop);
    free (why);
    free (stop_reason);
}

static void
s_on_logs (hpt_core_t *self, hpt_task_ref_t *ref, hpt_msg_t *msg)
{
    hpt_joblog_chunk_t chunk = {
        .trial_id = ref->trial->id, .task_id = ref->task->task_id, .stream = hpt_msg_stream (msg)};
    chunk.data = hpt_msg_data (msg, &chunk.size);
    char *replica = hpt_asprintf ("%s-%d", ref->task->request->replica, ref->task->request->index);
    chunk.replica = replica;
    int64_t size = 0;
    hpt_error_t error;
    const char *job_id = hpt_tuner_id (ref->tuner);
    if (hpt_joblog_output (hpt_core_joblog (self), job_id, &chunk, hpt_core_now (), &size,
                           &error) != 0)
        hpt_store_fail (self->store, &error);
    else
        hpt_core_log_written (self, job_id, size);
    free (replica);
}

//  Whether task's placement holds GPU index (whole, or a MIG instance of
//  it).
static bool
s_holds_gpu (hpt_host_t *node, hpt_task_t *task, int64_t gpu)
{
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (task->placement, "gpus"), i, item) {
        if (json_integer_value (item) == gpu) return true;
    }
    json_array_foreach (json_object_get (task->placement, "migs"), i, item) {
        for (size_t a = 0; a < node->accel_count; a++)
            if (node->accels[a].mig && node->accels[a].index == json_integer_value (item) &&
                node->accels[a].parent == gpu)
                return true;
    }
    return false;
}

//  GPU_FAILED: the GPU leaves the pool (stored with the node), and the
//  tasks holding it fail or are requeued (agentLostPolicy) with why.
static void
s_on_gpu_failed (hpt_core_t *self, hpt_host_t *node, hpt_msg_t *msg)
{
    int64_t gpu = hpt_msg_gpu_index (msg);
    const char *reason = hpt_msg_reason (msg) ? hpt_msg_reason (msg) : "";
    hpt_core_touch_node (self, node, false);
    if (!hpt_host_fail_gpu (node, (int)gpu, reason)) {
        hpt_core_drop (self, "unknown_gpu");
        return;
    }
    zsys_error ("hptmaster: agent %s: GPU %" PRId64 " failed: %s", node->name, gpu, reason);
    char *text = hpt_json_dumps (node->resources, false);
    hpt_store_agent_t row = {node->name, node->state, node->last_seen, text};
    hpt_store_agent_upsert (self->store, &row, NULL);
    free (text);
    zlistx_t *refs = zlistx_new ();
    for (hpt_task_ref_t *ref = zhashx_first (self->tasks); ref; ref = zhashx_next (self->tasks))
        if (ref->task->agent && strcmp (ref->task->agent, node->name) == 0 &&
            ref->task->state != HPT_TASK_EXITED && s_holds_gpu (node, ref->task, gpu))
            zlistx_add_end (refs, ref);
    char *why = hpt_asprintf ("GPU %" PRId64 " of agent %s failed: %s", gpu, node->name, reason);
    for (hpt_task_ref_t *ref = zlistx_first (refs); ref; ref = zlistx_next (refs))
        if (ref->task->state != HPT_TASK_EXITED) hpt_core_task_lost (self, ref, why);
    free (why);
    zlistx_destroy (&refs);
    hpt_core_schedule (self);
}

//  One event: applied with its mark in one transaction, or recognised as
//  a replay or a gap.
static void
s_on_event (hpt_core_t *self, hpt_host_t *node, hpt_msg_t *msg)
{
    int64_t seq = hpt_msg_seq (msg);
    hpt_msg_id_t id = hpt_msg_id (msg);
    const char *kind = id == HPT_MSG_TASK_STARTED  ? "task_started"
                       : id == HPT_MSG_TASK_EXITED ? "task_exited"
                       : id == HPT_MSG_METRICS     ? "metrics"
                       : id == HPT_MSG_GPU_FAILED  ? "gpu_failed"
                                                   : "logs";
    if (!s_event_begin (self, node, seq, kind)) return;
    if (id == HPT_MSG_GPU_FAILED) {
        s_on_gpu_failed (self, node, msg);
        s_event_end (self, node, seq);
        return;
    }
    hpt_task_ref_t *ref = s_own_task (self, node, msg);
    if (ref) switch (hpt_msg_id (msg)) {
            case HPT_MSG_TASK_STARTED:
                s_on_task_started (self, ref, msg);
                break;
            case HPT_MSG_TASK_EXITED:
                s_on_task_exited (self, ref, msg);
                break;
            case HPT_MSG_METRICS:
                s_on_metrics (self, ref, msg);
                break;
            default:
                s_on_logs (self, ref, msg);
        }
    s_event_end (self, node, seq);
}

static void
s_on_bye (hpt_core_t *self, hpt_host_t *node, hpt_msg_t *msg)
{
    //  Leaving on purpose: gone now, not after the timeout.
    if (hpt_core_begin (self) != 0) return;
    char *why = hpt_asprintf ("said BYE: %s", hpt_msg_reason (msg) ? hpt_msg_reason (msg) : "");
    hpt_core_node_lost (self, node, why);
    free (why);
    hpt_core_schedule (self);
    if (hpt_core_commit (self) == 0) hpt_fleet_set_route (self->fleet, node, NULL);
}

hpt_msg_t *
hpt_agent_link_recv (hpt_core_t *self)
{
    hpt_msg_fault_t fault;
    memset (&fault, 0, sizeof (fault));
    hpt_msg_t *msg = hpt_msg_recv_fault (self->agents, &fault);
    if (!msg) {
        //  Counted and dropped, never fatal; the sender learns why.
        if (fault.kind != HPT_MSG_FAULT_INTERRUPTED) s_malformed (self, &fault);
        hpt_msg_fault_reset (&fault);
    }
    return msg;
}

//  The READY node msg comes from, or NULL for an unknown peer, one the
//  master gave up on, or one whose key is no longer admitted.
static hpt_host_t *
s_registered (hpt_core_t *self, hpt_msg_t *msg)
{
    hpt_host_t *node = hpt_fleet_by_route (self->fleet, hpt_msg_routing_id (msg));
    if (!node || node->state != HPT_HOST_READY) return NULL;
    if (self->admission &&
        !hpt_admission_allows (self->admission, hpt_msg_user_id (msg), node->name))
        return NULL;
    return node;
}

bool
hpt_agent_link_arrived (hpt_core_t *self, hpt_msg_t *msg)
{
    if (hpt_msg_id (msg) == HPT_MSG_HELLO) return false;
    hpt_host_t *node = s_registered (self, msg);
    if (node) hpt_core_heard (self, node);
    return node && hpt_msg_id (msg) == HPT_MSG_HEARTBEAT;
}

void
hpt_agent_link_handle (hpt_core_t *self, hpt_msg_t *msg)
{
    hpt_msg_id_t id = hpt_msg_id (msg);
    hpt_host_t *node = id == HPT_MSG_HELLO ? NULL : s_registered (self, msg);
    if (id == HPT_MSG_HELLO)
        s_on_hello (self, msg);
    else if (!node)
        //  Unknown peer (or one the master gave up on): it must say HELLO.
        s_not_registered (self, hpt_msg_routing_id (msg));
    else {
        hpt_core_heard (self, node);
        if (id == HPT_MSG_TASK_STARTED || id == HPT_MSG_TASK_EXITED || id == HPT_MSG_METRICS ||
            id == HPT_MSG_LOGS || id == HPT_MSG_GPU_FAILED)
            s_on_event (self, node, msg);
        else if (id == HPT_MSG_BYE)
            s_on_bye (self, node, msg);
        else if (id == HPT_MSG_HEARTBEAT)
            hpt_host_heartbeat (node, hpt_msg_running_tasks (msg), hpt_msg_load (msg),
                                hpt_msg_seq (msg));
        else
            hpt_core_drop (self, "unexpected");
    }
    hpt_msg_destroy (&msg);
}
