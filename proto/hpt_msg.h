/*  hpt_msg -- the one codec of HPT/2, the master <-> agent wire protocol

    proto/PROTOCOL.md is the specification; this class is its only
    implementation. Nothing else in hpt builds or parses wire bytes: the
    master (ROUTER) and the agents (DEALER) create messages here, set typed
    fields, and hand them to hpt_msg_send; they receive with hpt_msg_recv
    and read typed fields back.

    A message on the wire is two frames (after the ROUTER's routing-id
    frame, which this class adds and strips):
        frame 1  "HPT/2 <TYPE>"       signature, version and type, ASCII
        frame 2  {"field": ...}       the body, one JSON object (UTF-8)

    Decoding is strict: any deviation from PROTOCOL.md (frame count,
    signature, unknown type, unknown or missing field, wrong JSON type,
    out-of-range number, oversized string/array/body, invalid UTF-8, bad
    workingDir, ...) gives NULL and a specific error text. Encoding checks
    the same rules, so an invalid message is never sent.

    Versions. A message of another version is refused as a version fault,
    except REJECT and ERROR: their bodies are the same in every version
    (PROTOCOL.md §7), so they are read in any version's signature, and
    can be sent in one (hpt_msg_set_signature_version), which is how a
    master tells an agent of another version why it is refused.

    Storage: a message keeps its fields in a jansson object. Getters return
    borrowed values that live as long as the message (or until that field
    is set again); setters copy what they are given. A getter for a field
    the message does not have returns 0, false, -1 where documented, or NULL.
    Setters return 0, or -1 when the field does not belong to the message
    type or the value cannot be represented (e.g. a string that is not
    UTF-8); range checks happen at encode time (hpt_msg_validate).
*/
#ifndef HPT_MSG_H_INCLUDED
#define HPT_MSG_H_INCLUDED

#include "hpt_error.h"
#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The protocol version this codec speaks (the N of "HPT/N").
#define HPT_MSG_PROTOCOL 2

//  The longest an agent waits between two HELLOs without an answer
//  (PROTOCOL.md §6.1): a restarted master gives the agents it knew this
//  long, twice, beyond agentTimeout to come back.
#define HPT_MSG_HELLO_MAX_MS 5000

//  Bounds (bytes for strings, not counting a terminating zero). See
//  PROTOCOL.md section "Bounds" for the complete table.
#define HPT_MSG_BODY_MAX (1024 * 1024)    //  body frame
#define HPT_MSG_SIGNATURE_MAX 64          //  signature frame
#define HPT_MSG_NAME_MAX 128              //  agent name, task/job/trial ids, metric tags
#define HPT_MSG_REASON_MAX 1024           //  reasons, error texts
#define HPT_MSG_PATH_MAX 1024             //  workingDir
#define HPT_MSG_USER_MAX 32               //  runAs
#define HPT_MSG_IMAGE_MAX 1024            //  image
#define HPT_MSG_ARG_MAX 131071            //  one argv entry, one env value
#define HPT_MSG_ARGS_MAX 4096             //  argv entries
#define HPT_MSG_ENV_MAX 4096              //  env entries
#define HPT_MSG_TASKS_MAX 4096            //  tasks in HELLO
#define HPT_MSG_POINTS_MAX 10000          //  points in METRICS
#define HPT_MSG_POINTS_BATCH 2000         //  points per METRICS that always fit the body limit
#define HPT_MSG_LOG_CHUNK_MAX (64 * 1024) //  LOGS data (decoded bytes)
#define HPT_MSG_CORES_MAX 65536           //  cpuSet entries, core numbers
#define HPT_MSG_GPUS_MAX 1024             //  gpus and tpus entries, accelerators

typedef enum {
    HPT_MSG_HELLO = 1,    //  agent -> master: register
    HPT_MSG_WELCOME,      //  master -> agent: registered, with timing
    HPT_MSG_REJECT,       //  master -> agent: not registered, why
    HPT_MSG_HEARTBEAT,    //  both ways: alive, and seq high-water mark
    HPT_MSG_ACK,          //  master -> agent: events up to seq stored
    HPT_MSG_TASK_STARTED, //  agent -> master: task process running
    HPT_MSG_TASK_EXITED,  //  agent -> master: task ended (or never started)
    HPT_MSG_METRICS,      //  agent -> master: batch of metric points
    HPT_MSG_LOGS,         //  agent -> master: chunk of a task's output
    HPT_MSG_LAUNCH,       //  master -> agent: start a task
    HPT_MSG_STOP,         //  master -> agent: stop a task
    HPT_MSG_DRAIN,        //  master -> agent: drain state changed
    HPT_MSG_ERROR,        //  both ways: your message was refused
    HPT_MSG_BYE,          //  agent -> master: leaving on purpose
    HPT_MSG_GPU_FAILED,   //  agent -> master: a GPU is unhealthy (XID, ECC, off the bus)
} hpt_msg_id_t;
#define HPT_MSG_ID_COUNT 15

//  Why a received message was dropped (hpt_msg_recv_fault).
typedef enum {
    HPT_MSG_FAULT_NONE = 0,    //  no fault: a message was received
    HPT_MSG_FAULT_INTERRUPTED, //  nothing received (interrupted, no socket)
    HPT_MSG_FAULT_FRAMING,     //  wrong frame count, empty frame, no routing id
    HPT_MSG_FAULT_SIGNATURE,   //  frame 1 is not "HPT/<n> <TYPE>"
    HPT_MSG_FAULT_VERSION,     //  well-formed signature of another version
    HPT_MSG_FAULT_TYPE,        //  unknown message type
    HPT_MSG_FAULT_SIZE,        //  body over HPT_MSG_BODY_MAX
    HPT_MSG_FAULT_BODY,        //  body not valid JSON or breaks a field rule
} hpt_msg_fault_kind_t;

//  What hpt_msg_recv_fault / hpt_msg_decode_fault say about a dropped
//  message, so the receiver can count it by kind and answer ERROR (or
//  REJECT, for a foreign version) to the sender.
typedef struct {
    hpt_msg_fault_kind_t kind; //  what went wrong
    int version;               //  peer's version from the signature, 0 when unknown
    hpt_msg_id_t id;           //  message type when it was recognised, else 0
    zframe_t *routing_id;      //  sender (ROUTER sockets), owned by the fault
    char text[256];            //  specific error text
} hpt_msg_fault_t;

typedef struct _hpt_msg_t hpt_msg_t;

//  ---------------------------------------------------------------------
//  Life cycle, wire

//  Creates an empty message of type id; NULL for an unknown id. The caller
//  owns it and sets its required fields before sending.
hpt_msg_t *hpt_msg_new (hpt_msg_id_t id);

//  Destroys the message and nulls the pointer.
void hpt_msg_destroy (hpt_msg_t **self_p);

//  Deep copy (routing id included); the caller owns it.
hpt_msg_t *hpt_msg_dup (hpt_msg_t *self);

//  Checks every rule PROTOCOL.md gives for this message type. 0 when
//  valid, else -1 with *error (HPT_E_INVALID, naming the type and the
//  field; error may be NULL).
int hpt_msg_validate (hpt_msg_t *self, hpt_error_t *error);

//  Encodes the message as [routing id,] signature, body. NULL when it
//  breaks a rule (see hpt_msg_validate). The caller owns the zmsg.
zmsg_t *hpt_msg_encode (hpt_msg_t *self);

//  Decodes and validates a message of two frames (no routing id). Always
//  takes and destroys *msg_p. NULL with *error (HPT_E_INVALID, the
//  codec's text) when the message breaks any rule. The caller owns the
//  result.
hpt_msg_t *hpt_msg_decode (zmsg_t **msg_p, hpt_error_t *error);

//  Same, with the fault's kind, version and type filled in (fault may be
//  NULL). Starts by resetting the fault.
hpt_msg_t *hpt_msg_decode_fault (zmsg_t **msg_p, hpt_msg_fault_t *fault);

//  Sends the message to dest and destroys it (also on failure). On a
//  ROUTER socket the message's routing id says where it goes (required).
//  0 on success, -1 when the message is invalid or the send failed.
int hpt_msg_send (hpt_msg_t **self_p, zsock_t *dest);

//  Receives one message from input, which must be readable or the call
//  blocks. On a ROUTER socket the routing id frame is stripped and kept
//  (hpt_msg_routing_id). Returns NULL for a dropped message (any rule
//  broken) or when interrupted; the fault (required) then says why and
//  keeps the sender's routing id so the receiver can count it and
//  answer. Release the fault with hpt_msg_fault_reset. The caller owns
//  the result.
hpt_msg_t *hpt_msg_recv_fault (zsock_t *input, hpt_msg_fault_t *fault);

//  Frees what a fault holds (its routing id) and clears it.
void hpt_msg_fault_reset (hpt_msg_fault_t *fault);

//  Name of a fault kind ("framing", "version", ...), for counters.
const char *hpt_msg_fault_name (hpt_msg_fault_kind_t kind);

//  The ROUTER routing id of the sender (received) or recipient (to send);
//  borrowed, NULL when none.
zframe_t *hpt_msg_routing_id (hpt_msg_t *self);

//  Sets the routing id (copied; NULL clears it).
void hpt_msg_set_routing_id (hpt_msg_t *self, zframe_t *routing_id);

//  The User-Id ZAP gave the sender's connection (hptmaster: the agent's
//  CURVE public key, Z85), or NULL (no ZAP, e.g. plain loopback).
const char *hpt_msg_user_id (hpt_msg_t *self);

//  The version the message's signature names: HPT_MSG_PROTOCOL, or for a
//  REJECT or ERROR received from (or to be sent to) a peer of another
//  version, that version. The setter refuses (-1) any other version for
//  other types, and versions outside 1..9999.
int hpt_msg_signature_version (hpt_msg_t *self);
int hpt_msg_set_signature_version (hpt_msg_t *self, int version);

//  The message type, its wire name ("HELLO"), and the reverse (0 when
//  name is unknown).
hpt_msg_id_t hpt_msg_id (hpt_msg_t *self);
const char *hpt_msg_id_name (hpt_msg_id_t id);
hpt_msg_id_t hpt_msg_id_parse (const char *name);

//  The body as compact JSON text (for the agent's spool: store the type
//  name and this text, replay with hpt_msg_body_load). NULL when the
//  message is invalid. The caller frees the text.
char *hpt_msg_body_dump (hpt_msg_t *self);

//  Rebuilds a message of type id from body text, with the same strict
//  checks as hpt_msg_decode (NULL with *error, HPT_E_INVALID). The caller
//  owns the result.
hpt_msg_t *hpt_msg_body_load (hpt_msg_id_t id, const char *text, hpt_error_t *error);

//  ---------------------------------------------------------------------
//  Scalar fields. Which message has which field is in PROTOCOL.md.

//  seq: event sequence number (TASK_STARTED, TASK_EXITED, METRICS, LOGS,
//  ACK, HEARTBEAT); 0 when absent.
int64_t hpt_msg_seq (hpt_msg_t *self);
int hpt_msg_set_seq (hpt_msg_t *self, int64_t seq);

//  protocol: the sender's protocol version (HELLO, WELCOME).
int64_t hpt_msg_protocol (hpt_msg_t *self);
int hpt_msg_set_protocol (hpt_msg_t *self, int64_t protocol);

//  name: agent name (HELLO).
const char *hpt_msg_name (hpt_msg_t *self);
int hpt_msg_set_name (hpt_msg_t *self, const char *name);

//  version: agent software version (HELLO).
const char *hpt_msg_version (hpt_msg_t *self);
int hpt_msg_set_version (hpt_msg_t *self, const char *version);

//  advertise: host name or address tasks on this agent are reached at (HELLO).
const char *hpt_msg_advertise (hpt_msg_t *self);
int hpt_msg_set_advertise (hpt_msg_t *self, const char *advertise);

//  ports: the agent's port range for TF_CONFIG, [low, high] (HELLO).
int64_t hpt_msg_port_low (hpt_msg_t *self);
int64_t hpt_msg_port_high (hpt_msg_t *self);
int hpt_msg_set_ports (hpt_msg_t *self, int64_t low, int64_t high);

//  ackedSeq: HELLO: highest seq the agent saw acknowledged; WELCOME:
//  highest seq of this agent the master has stored.
int64_t hpt_msg_acked_seq (hpt_msg_t *self);
int hpt_msg_set_acked_seq (hpt_msg_t *self, int64_t seq);

//  lastSeq: highest seq the agent has assigned (HELLO).
int64_t hpt_msg_last_seq (hpt_msg_t *self);
int hpt_msg_set_last_seq (hpt_msg_t *self, int64_t seq);

//  runningTasks, load: agent's task count and 1-minute load (HEARTBEAT
//  from agents); -1 / -1.0 when absent.
int64_t hpt_msg_running_tasks (hpt_msg_t *self);
int hpt_msg_set_running_tasks (hpt_msg_t *self, int64_t count);
double hpt_msg_load (hpt_msg_t *self);
int hpt_msg_set_load (hpt_msg_t *self, double load);

//  heartbeatMs, agentTimeoutMs, masterEpoch (WELCOME).
int64_t hpt_msg_heartbeat_ms (hpt_msg_t *self);
int hpt_msg_set_heartbeat_ms (hpt_msg_t *self, int64_t ms);
int64_t hpt_msg_agent_timeout_ms (hpt_msg_t *self);
int hpt_msg_set_agent_timeout_ms (hpt_msg_t *self, int64_t ms);
int64_t hpt_msg_master_epoch (hpt_msg_t *self);
int hpt_msg_set_master_epoch (hpt_msg_t *self, int64_t epoch);

//  reason: REJECT, TASK_EXITED, STOP, DRAIN, ERROR, BYE, GPU_FAILED.
const char *hpt_msg_reason (hpt_msg_t *self);
int hpt_msg_set_reason (hpt_msg_t *self, const char *reason);

//  retryMs: REJECT: when the agent may try again; 0 = do not.
int64_t hpt_msg_retry_ms (hpt_msg_t *self);
int hpt_msg_set_retry_ms (hpt_msg_t *self, int64_t ms);

//  code: ERROR: a token (MALFORMED, NOT_REGISTERED, UNKNOWN_TASK, ...).
const char *hpt_msg_code (hpt_msg_t *self);
int hpt_msg_set_code (hpt_msg_t *self, const char *code);

//  taskId: TASK_STARTED, TASK_EXITED, METRICS, LOGS, LAUNCH, STOP.
const char *hpt_msg_task_id (hpt_msg_t *self);
int hpt_msg_set_task_id (hpt_msg_t *self, const char *task_id);

//  pid (TASK_STARTED), startTime and endTime (epoch ms).
int64_t hpt_msg_pid (hpt_msg_t *self);
int hpt_msg_set_pid (hpt_msg_t *self, int64_t pid);
int64_t hpt_msg_start_time (hpt_msg_t *self);
int hpt_msg_set_start_time (hpt_msg_t *self, int64_t ms);
int64_t hpt_msg_end_time (hpt_msg_t *self);
int hpt_msg_set_end_time (hpt_msg_t *self, int64_t ms);

//  exitCode (-1 = did not exit normally), signal (0 = none), coreDumped
//  (TASK_EXITED).
int64_t hpt_msg_exit_code (hpt_msg_t *self);
int hpt_msg_set_exit_code (hpt_msg_t *self, int64_t code);
int64_t hpt_msg_signal (hpt_msg_t *self);
int hpt_msg_set_signal (hpt_msg_t *self, int64_t signal);
bool hpt_msg_core_dumped (hpt_msg_t *self);
int hpt_msg_set_core_dumped (hpt_msg_t *self, bool core_dumped);

//  stream: "stdout" or "stderr" (LOGS).
const char *hpt_msg_stream (hpt_msg_t *self);
int hpt_msg_set_stream (hpt_msg_t *self, const char *stream);

//  data: LOGS chunk, any bytes (sent as UTF-8 text when it is valid UTF-8
//  without NUL, else base64). The getter returns the decoded bytes
//  (borrowed, zero-terminated for convenience) and their size.
const void *hpt_msg_data (hpt_msg_t *self, size_t *size);
int hpt_msg_set_data (hpt_msg_t *self, const void *data, size_t size);

//  trialId, workingDir, metricTag, stdoutRegex (LAUNCH).
const char *hpt_msg_trial_id (hpt_msg_t *self);
int hpt_msg_set_trial_id (hpt_msg_t *self, const char *trial_id);
const char *hpt_msg_working_dir (hpt_msg_t *self);
int hpt_msg_set_working_dir (hpt_msg_t *self, const char *dir);
const char *hpt_msg_metric_tag (hpt_msg_t *self);
int hpt_msg_set_metric_tag (hpt_msg_t *self, const char *tag);
const char *hpt_msg_stdout_regex (hpt_msg_t *self);
int hpt_msg_set_stdout_regex (hpt_msg_t *self, const char *regex);

//  runAs: the user the task runs as (LAUNCH), NULL when the agent's
//  default.
const char *hpt_msg_run_as (hpt_msg_t *self);
int hpt_msg_set_run_as (hpt_msg_t *self, const char *user);

//  image (LAUNCH): the container image the task runs in, NULL for a
//  process. containerCommand overrides the image's entrypoint; cpus and
//  memoryMb (0 when absent) are the container's limits. Only with image.
const char *hpt_msg_image (hpt_msg_t *self);
int hpt_msg_set_image (hpt_msg_t *self, const char *image);
int hpt_msg_add_container_command (hpt_msg_t *self, const char *arg);
size_t hpt_msg_container_command_count (hpt_msg_t *self);
const char *hpt_msg_container_command (hpt_msg_t *self, size_t index);
double hpt_msg_cpus (hpt_msg_t *self);
int hpt_msg_set_cpus (hpt_msg_t *self, double cpus);
int64_t hpt_msg_memory_mb (hpt_msg_t *self);
int hpt_msg_set_memory_mb (hpt_msg_t *self, int64_t mb);

//  graceMs: SIGTERM to SIGKILL (STOP).
int64_t hpt_msg_grace_ms (hpt_msg_t *self);
int hpt_msg_set_grace_ms (hpt_msg_t *self, int64_t ms);

//  gpu, xid, time (GPU_FAILED): the GPU's index, the XID that made it
//  unhealthy (-1 when none: an ECC or bus failure), and when (epoch ms).
int64_t hpt_msg_gpu_index (hpt_msg_t *self);
int hpt_msg_set_gpu_index (hpt_msg_t *self, int64_t index);
int64_t hpt_msg_xid (hpt_msg_t *self);
int hpt_msg_set_xid (hpt_msg_t *self, int64_t xid);
int64_t hpt_msg_time (hpt_msg_t *self);
int hpt_msg_set_time (hpt_msg_t *self, int64_t ms);

//  draining (DRAIN).
bool hpt_msg_draining (hpt_msg_t *self);
int hpt_msg_set_draining (hpt_msg_t *self, bool draining);

//  ---------------------------------------------------------------------
//  List and object fields

//  argv (LAUNCH): the command line, in order.
int hpt_msg_add_arg (hpt_msg_t *self, const char *arg);
size_t hpt_msg_arg_count (hpt_msg_t *self);
const char *hpt_msg_arg (hpt_msg_t *self, size_t index);

//  packageUris (LAUNCH, optional): packages the agent fetches first.
int hpt_msg_add_package_uri (hpt_msg_t *self, const char *uri);
size_t hpt_msg_package_uri_count (hpt_msg_t *self);
const char *hpt_msg_package_uri (hpt_msg_t *self, size_t index);

//  env (LAUNCH): NAME -> value added to the task's environment. The getter
//  returns the JSON object (borrowed; iterate with json_object_foreach,
//  every value is a string), NULL when absent.
int hpt_msg_set_env_var (hpt_msg_t *self, const char *name, const char *value);
const char *hpt_msg_env_var (hpt_msg_t *self, const char *name);
json_t *hpt_msg_env (hpt_msg_t *self);

//  gpus, tpus (LAUNCH): indexes of the agent's GPUs and TPU chips given
//  to the task (the agent makes them visible to it); cpuSet (LAUNCH):
//  cores to bind to.
int hpt_msg_add_gpu (hpt_msg_t *self, int64_t index);
size_t hpt_msg_gpu_count (hpt_msg_t *self);
int64_t hpt_msg_gpu (hpt_msg_t *self, size_t index);
int hpt_msg_add_tpu (hpt_msg_t *self, int64_t index);
size_t hpt_msg_tpu_count (hpt_msg_t *self);
int64_t hpt_msg_tpu (hpt_msg_t *self, size_t index);
int hpt_msg_add_core (hpt_msg_t *self, int64_t core);
size_t hpt_msg_core_count (hpt_msg_t *self);
int64_t hpt_msg_core (hpt_msg_t *self, size_t index);

//  migs (LAUNCH): indexes of the agent's MIG instances given to the task
//  (the agent puts their MIG UUIDs in CUDA_VISIBLE_DEVICES).
int hpt_msg_add_mig (hpt_msg_t *self, int64_t index);
size_t hpt_msg_mig_count (hpt_msg_t *self);
int64_t hpt_msg_mig (hpt_msg_t *self, size_t index);

//  protocols (REJECT, optional): versions the master speaks.
int hpt_msg_add_protocol (hpt_msg_t *self, int64_t version);
size_t hpt_msg_protocol_count (hpt_msg_t *self);
int64_t hpt_msg_protocol_at (hpt_msg_t *self, size_t index);

//  tasks (HELLO): the tasks the agent still knows: state "RUNNING",
//  "STOPPING" (STOP received) or "EXITED" (its TASK_EXITED is spooled).
int hpt_msg_add_task (hpt_msg_t *self, const char *task_id, int64_t pid, const char *state);
size_t hpt_msg_task_count (hpt_msg_t *self);
//  Task index: its id and state (borrowed) and pid. -1 when out of range.
int hpt_msg_task_at (hpt_msg_t *self, size_t index, const char **task_id, int64_t *pid,
                     const char **state);

//  points (METRICS): step < 0 means "no step" (omitted on the wire); time
//  is epoch ms.
int hpt_msg_add_point (hpt_msg_t *self, const char *tag, double value, int64_t step,
                       int64_t time_ms);
size_t hpt_msg_point_count (hpt_msg_t *self);
//  Point index (tag borrowed); step is -1 when it had none. -1 when out of
//  range.
int hpt_msg_point_at (hpt_msg_t *self, size_t index, const char **tag, double *value, int64_t *step,
                      int64_t *time_ms);

//  resources (HELLO): the agent's topology document, as `hptagent
//  --print-topology` prints it ({cpus, memoryGb, numaNodes, accelerators,
//  ...}). Getter: borrowed. Setter: deep-copies resources.
json_t *hpt_msg_resources (hpt_msg_t *self);
int hpt_msg_set_resources (hpt_msg_t *self, json_t *resources);

#endif
