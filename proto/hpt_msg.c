/*  hpt_msg -- the one codec of HPT/2 (see hpt_msg.h and PROTOCOL.md)

    How it works. A message is a type and a jansson object holding its
    fields under their wire names, so encoding is "check, then dump" and
    decoding is "parse, then check". Every rule of PROTOCOL.md lives in one
    table, s_rules: per message type, the fields it may carry, each with a
    kind (string, integer, number, bool, string list, integer list, or a
    structured field with its own checker), whether it is required, and its
    bounds. One validator walks that table for both directions, so the
    sender cannot emit what the receiver would refuse.

    Decoding order (each step gives its own error text and fault kind):
      1. exactly two non-empty frames                        -> FRAMING
      2. frame 1 is "HPT/<digits> <TYPE>", at most 64 bytes  -> SIGNATURE
      3. TYPE is known                                       -> TYPE
      4. version is HPT_MSG_PROTOCOL (any, for REJECT and
         ERROR, whose bodies every version keeps)            -> VERSION
      5. body at most HPT_MSG_BODY_MAX bytes                 -> SIZE
      6. body is UTF-8 JSON, one object, no duplicate keys,
         no NUL in strings (jansson checks the UTF-8)        -> BODY
      7. no unknown field, every required field, every type,
         range and length, then cross-field rules            -> BODY
    jansson's parser bounds nesting depth, and its integers are 64-bit
    (bigger ones are a parse error), so nothing here recurses on input or
    overflows.

    Cost: the long lists (METRICS points, argv, cpuSet) are checked by a
    fast predicate per item; the error text (which names the item, e.g.
    "field 'points'[17].value") is built only for the item that fails.
    Checking 10 000 points takes about 1 ms; jansson's parse dominates.
*/
#include "hpt_msg.h"
#include "hpt_alloc.h"
#include "hpt_gpu_link.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _hpt_msg_t {
    hpt_msg_id_t id;      //  message type
    int version;          //  the signature's version: HPT_MSG_PROTOCOL but for REJECT/ERROR
    json_t *body;         //  fields by wire name (owned)
    zframe_t *routing_id; //  ROUTER routing id, NULL when none (owned)
    char *user_id;        //  the sender's ZAP User-Id (CURVE: its public key), NULL when none
    unsigned char *data;  //  decoded LOGS data cache, NULL until asked
    size_t data_size;     //  bytes in data
};

//  ---------------------------------------------------------------------
//  The rules

typedef enum {
    K_STRING,    //  JSON string
    K_INT,       //  JSON integer
    K_NUMBER,    //  JSON integer or real
    K_BOOL,      //  true/false
    K_STRINGS,   //  array of strings
    K_INTS,      //  array of integers
    K_ENV,       //  object NAME -> string
    K_PORTS,     //  [low, high]
    K_TASKS,     //  array of {taskId, pid, state}
    K_POINTS,    //  array of {tag, value, step?, time}
    K_RESOURCES, //  the agent's topology document
    K_DATA,      //  LOGS data, plain or base64 per "encoding"
} s_kind_t;

typedef enum {
    C_TEXT,     //  any UTF-8 (jansson guarantees that much)
    C_LABEL,    //  UTF-8 without control characters
    C_NAME,     //  [A-Za-z0-9._:-], first character alphanumeric
    C_TASK_ID,  //  like C_NAME plus '/', no "..", no "//", no trailing '/'
    C_HOST,     //  host name or address: [A-Za-z0-9._:%[]-]
    C_RELPATH,  //  relative path without ".." components
    C_USER,     //  POSIX user name: [A-Za-z0-9._-], first a letter or '_'
    C_TOKEN,    //  [A-Z0-9_]
    C_STREAM,   //  "stdout" | "stderr"
    C_ENCODING, //  "base64"
    C_DISTINCT, //  integer list without repeats
    C_IMAGE,    //  container image reference: [A-Za-z0-9._/:@+-], first alphanumeric
} s_check_t;

typedef struct {
    const char *name; //  wire name
    s_kind_t kind;    //  JSON shape
    bool required;    //  must be present
    s_check_t check;  //  extra rule for strings and lists
    double min;       //  numbers: least value; strings: least length; lists: least items
    double max;       //  numbers: greatest value; strings: longest; lists: most items
    int64_t item_min; //  lists: least item value (ints) or length (strings)
    int64_t item_max; //  lists: greatest item value (ints) or length (strings)
} s_field_t;

#define SEQ_MAX 9007199254740991.0 //  2^53 - 1: exact in every JSON reader
#define TIME_MAX 253402300799999.0 //  9999-12-31 in epoch ms
#define PID_MAX 2147483647.0
#define FIELDS_MAX 20

typedef struct {
    const char *name;             //  wire type name
    s_field_t fields[FIELDS_MAX]; //  terminated by a NULL name
} s_rule_t;

//  Indexed by hpt_msg_id_t.
static const s_rule_t s_rules[HPT_MSG_ID_COUNT + 1] = {
    [HPT_MSG_HELLO] = {"HELLO",
                       {{"protocol", K_INT, true, C_TEXT, 1, 1000, 0, 0},
                        {"name", K_STRING, true, C_NAME, 1, HPT_MSG_NAME_MAX, 0, 0},
                        {"version", K_STRING, true, C_LABEL, 1, 64, 0, 0},
                        {"advertise", K_STRING, true, C_HOST, 1, 255, 0, 0},
                        {"ports", K_PORTS, true, C_TEXT, 0, 0, 0, 0},
                        {"resources", K_RESOURCES, true, C_TEXT, 0, 0, 0, 0},
                        {"tasks", K_TASKS, true, C_TEXT, 0, HPT_MSG_TASKS_MAX, 0, 0},
                        {"ackedSeq", K_INT, true, C_TEXT, 0, SEQ_MAX, 0, 0},
                        {"lastSeq", K_INT, true, C_TEXT, 0, SEQ_MAX, 0, 0}}},
    [HPT_MSG_WELCOME] = {"WELCOME",
                         {{"protocol", K_INT, true, C_TEXT, 1, 1000, 0, 0},
                          {"heartbeatMs", K_INT, true, C_TEXT, 10, 600000, 0, 0},
                          {"agentTimeoutMs", K_INT, true, C_TEXT, 20, 3600000, 0, 0},
                          {"masterEpoch", K_INT, true, C_TEXT, 1, SEQ_MAX, 0, 0},
                          {"ackedSeq", K_INT, true, C_TEXT, 0, SEQ_MAX, 0, 0}}},
    [HPT_MSG_REJECT] = {"REJECT",
                        {{"reason", K_STRING, true, C_TEXT, 1, HPT_MSG_REASON_MAX, 0, 0},
                         {"retryMs", K_INT, false, C_TEXT, 0, 86400000, 0, 0},
                         {"protocols", K_INTS, false, C_DISTINCT, 0, 64, 1, 1000}}},
    [HPT_MSG_HEARTBEAT] = {"HEARTBEAT",
                           {{"seq", K_INT, true, C_TEXT, 0, SEQ_MAX, 0, 0},
                            {"runningTasks", K_INT, false, C_TEXT, 0, 1000000, 0, 0},
                            {"load", K_NUMBER, false, C_TEXT, 0, 1e6, 0, 0}}},
    [HPT_MSG_ACK] = {"ACK", {{"seq", K_INT, true, C_TEXT, 1, SEQ_MAX, 0, 0}}},
    [HPT_MSG_TASK_STARTED] = {"TASK_STARTED",
                              {{"seq", K_INT, true, C_TEXT, 1, SEQ_MAX, 0, 0},
                               {"taskId", K_STRING, true, C_TASK_ID, 1, HPT_MSG_NAME_MAX, 0, 0},
                               {"pid", K_INT, true, C_TEXT, 1, PID_MAX, 0, 0},
                               {"startTime", K_INT, true, C_TEXT, 0, TIME_MAX, 0, 0}}},
    [HPT_MSG_TASK_EXITED] = {"TASK_EXITED",
                             {{"seq", K_INT, true, C_TEXT, 1, SEQ_MAX, 0, 0},
                              {"taskId", K_STRING, true, C_TASK_ID, 1, HPT_MSG_NAME_MAX, 0, 0},
                              {"exitCode", K_INT, true, C_TEXT, -1, 255, 0, 0},
                              {"signal", K_INT, true, C_TEXT, 0, 128, 0, 0},
                              {"coreDumped", K_BOOL, false, C_TEXT, 0, 0, 0, 0},
                              {"reason", K_STRING, true, C_TEXT, 0, HPT_MSG_REASON_MAX, 0, 0},
                              {"endTime", K_INT, true, C_TEXT, 0, TIME_MAX, 0, 0}}},
    [HPT_MSG_METRICS] = {"METRICS",
                         {{"seq", K_INT, true, C_TEXT, 1, SEQ_MAX, 0, 0},
                          {"taskId", K_STRING, true, C_TASK_ID, 1, HPT_MSG_NAME_MAX, 0, 0},
                          {"points", K_POINTS, true, C_TEXT, 1, HPT_MSG_POINTS_MAX, 0, 0}}},
    [HPT_MSG_LOGS] = {"LOGS",
                      {{"seq", K_INT, true, C_TEXT, 1, SEQ_MAX, 0, 0},
                       {"taskId", K_STRING, true, C_TASK_ID, 1, HPT_MSG_NAME_MAX, 0, 0},
                       {"stream", K_STRING, true, C_STREAM, 1, 6, 0, 0},
                       {"data", K_DATA, true, C_TEXT, 0, 0, 0, 0},
                       {"encoding", K_STRING, false, C_ENCODING, 1, 6, 0, 0}}},
    [HPT_MSG_LAUNCH] =
        {"LAUNCH",
         {{"taskId", K_STRING, true, C_TASK_ID, 1, HPT_MSG_NAME_MAX, 0, 0},
          {"trialId", K_STRING, true, C_NAME, 1, HPT_MSG_NAME_MAX, 0, 0},
          {"argv", K_STRINGS, true, C_TEXT, 0, HPT_MSG_ARGS_MAX, 0, HPT_MSG_ARG_MAX},
          {"env", K_ENV, false, C_TEXT, 0, HPT_MSG_ENV_MAX, 0, 0},
          {"workingDir", K_STRING, false, C_RELPATH, 1, HPT_MSG_PATH_MAX, 0, 0},
          {"metricTag", K_STRING, true, C_LABEL, 1, HPT_MSG_NAME_MAX, 0, 0},
          {"packageUris", K_STRINGS, false, C_LABEL, 0, 64, 1, 4096},
          {"gpus", K_INTS, false, C_DISTINCT, 0, HPT_MSG_GPUS_MAX, 0, 65535},
          {"tpus", K_INTS, false, C_DISTINCT, 0, HPT_MSG_GPUS_MAX, 0, 65535},
          {"migs", K_INTS, false, C_DISTINCT, 0, HPT_MSG_GPUS_MAX, 0, 65535},
          {"cpuSet", K_INTS, false, C_DISTINCT, 0, HPT_MSG_CORES_MAX, 0, HPT_MSG_CORES_MAX - 1},
          {"stdoutRegex", K_STRING, false, C_TEXT, 1, 1024, 0, 0},
          {"runAs", K_STRING, false, C_USER, 1, HPT_MSG_USER_MAX, 0, 0},
          {"image", K_STRING, false, C_IMAGE, 1, HPT_MSG_IMAGE_MAX, 0, 0},
          {"containerCommand", K_STRINGS, false, C_TEXT, 1, HPT_MSG_ARGS_MAX, 0, HPT_MSG_ARG_MAX},
          {"cpus", K_NUMBER, false, C_TEXT, 0, 1e6, 0, 0},
          {"memoryMb", K_INT, false, C_TEXT, 0, SEQ_MAX, 0, 0}}},
    [HPT_MSG_STOP] = {"STOP",
                      {{"taskId", K_STRING, true, C_TASK_ID, 1, HPT_MSG_NAME_MAX, 0, 0},
                       {"reason", K_STRING, true, C_TEXT, 1, HPT_MSG_REASON_MAX, 0, 0},
                       {"graceMs", K_INT, true, C_TEXT, 0, 3600000, 0, 0}}},
    [HPT_MSG_DRAIN] = {"DRAIN",
                       {{"draining", K_BOOL, true, C_TEXT, 0, 0, 0, 0},
                        {"reason", K_STRING, false, C_TEXT, 0, HPT_MSG_REASON_MAX, 0, 0}}},
    [HPT_MSG_ERROR] = {"ERROR",
                       {{"code", K_STRING, true, C_TOKEN, 1, 32, 0, 0},
                        {"reason", K_STRING, true, C_TEXT, 0, HPT_MSG_REASON_MAX, 0, 0}}},
    [HPT_MSG_BYE] = {"BYE", {{"reason", K_STRING, false, C_TEXT, 0, HPT_MSG_REASON_MAX, 0, 0}}},
    [HPT_MSG_GPU_FAILED] = {"GPU_FAILED",
                            {{"seq", K_INT, true, C_TEXT, 1, SEQ_MAX, 0, 0},
                             {"gpu", K_INT, true, C_TEXT, 0, 65535, 0, 0},
                             {"reason", K_STRING, true, C_TEXT, 1, HPT_MSG_REASON_MAX, 0, 0},
                             {"xid", K_INT, false, C_TEXT, 0, 65535, 0, 0},
                             {"time", K_INT, true, C_TEXT, 0, TIME_MAX, 0, 0}}},
};

//  ---------------------------------------------------------------------
//  Error text

//  Every rule a message breaks is an invalid argument to whoever built
//  or sent it.
#define s_fail(error, ...) hpt_error_set (error, HPT_E_INVALID, __VA_ARGS__)

//  Sets the fault's kind and text.
static void s_fault (hpt_msg_fault_t *fault, hpt_msg_fault_kind_t kind, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
static void
s_fault (hpt_msg_fault_t *fault, hpt_msg_fault_kind_t kind, const char *format, ...)
{
    fault->kind = kind;
    va_list args;
    va_start (args, format);
    vsnprintf (fault->text, sizeof fault->text, format, args);
    va_end (args);
}

//  Copies up to 40 bytes of untrusted text into out (size >= 48) with
//  anything but printable ASCII shown as '?', so error texts stay short
//  and safe to log.
static void
s_sanitize (const void *data, size_t size, char *out)
{
    const unsigned char *bytes = data;
    size_t n = size < 40 ? size : 40;
    for (size_t i = 0; i < n; i++)
        out[i] = bytes[i] >= 0x20 && bytes[i] < 0x7f ? (char)bytes[i] : '?';
    strcpy (out + n, size > 40 ? "..." : "");
}

static const s_field_t *
s_field (hpt_msg_id_t id, const char *name)
{
    if (id < 1 || id > HPT_MSG_ID_COUNT) return NULL;
    for (const s_field_t *f = s_rules[id].fields; f->name; f++)
        if (strcmp (f->name, name) == 0) return f;
    return NULL;
}

//  ---------------------------------------------------------------------
//  String rules

static bool
s_is_alnum (int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool
s_has_control (const char *text, size_t length)
{
    for (size_t i = 0; i < length; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) return true;
    return false;
}

//  Only bytes from the set, first one alphanumeric.
static bool
s_chars_in (const char *text, size_t length, const char *extra)
{
    if (length == 0 || !s_is_alnum (text[0])) return false;
    for (size_t i = 0; i < length; i++)
        if (!s_is_alnum (text[i]) && !strchr (extra, text[i])) return false;
    return true;
}

//  A relative path that cannot climb out of the directory it is joined to.
static const char *
s_relpath_problem (const char *path, size_t length)
{
    if (path[0] == '/') return "must be a relative path";
    if (s_has_control (path, length)) return "must not contain control characters";
    const char *segment = path;
    while (true) {
        const char *slash = strchr (segment, '/');
        size_t n = slash ? (size_t)(slash - segment) : strlen (segment);
        if (n == 2 && segment[0] == '.' && segment[1] == '.') return "must not contain '..'";
        if (!slash) break;
        segment = slash + 1;
    }
    return NULL;
}

static const char *
s_string_problem (s_check_t check, const char *text, size_t length)
{
    switch (check) {
        case C_TEXT:
            return NULL;
        case C_LABEL:
            return s_has_control (text, length) ? "must not contain control characters" : NULL;
        case C_NAME:
            return s_chars_in (text, length, "._:-")
                       ? NULL
                       : "must be [A-Za-z0-9._:-] starting with a letter or digit";
        case C_TASK_ID:
            if (!s_chars_in (text, length, "._:/-"))
                return "must be [A-Za-z0-9._:/-] starting with a letter or digit";
            if (strstr (text, "..") || strstr (text, "//") || text[length - 1] == '/')
                return "must not contain '..' or '//' or end with '/'";
            return NULL;
        case C_HOST:
            for (size_t i = 0; i < length; i++)
                if (!s_is_alnum (text[i]) && !strchr ("._:%[]-", text[i]))
                    return "must be a host name or address";
            return NULL;
        case C_RELPATH:
            return s_relpath_problem (text, length);
        case C_USER:
            if (!((text[0] >= 'a' && text[0] <= 'z') || (text[0] >= 'A' && text[0] <= 'Z') ||
                  text[0] == '_'))
                return "must be a user name: [A-Za-z0-9._-] starting with a letter or '_'";
            for (size_t i = 0; i < length; i++)
                if (!s_is_alnum (text[i]) && !strchr ("._-", text[i]))
                    return "must be a user name: [A-Za-z0-9._-] starting with a letter or '_'";
            return NULL;
        case C_TOKEN:
            for (size_t i = 0; i < length; i++)
                if (!((text[i] >= 'A' && text[i] <= 'Z') || (text[i] >= '0' && text[i] <= '9') ||
                      text[i] == '_'))
                    return "must be [A-Z0-9_]";
            return NULL;
        case C_STREAM:
            return strcmp (text, "stdout") == 0 || strcmp (text, "stderr") == 0
                       ? NULL
                       : "must be \"stdout\" or \"stderr\"";
        case C_ENCODING:
            return strcmp (text, "base64") == 0 ? NULL : "must be \"base64\"";
        case C_DISTINCT:
            return NULL;
        case C_IMAGE:
            return s_chars_in (text, length, "._/:@+-")
                       ? NULL
                       : "must be an image reference: [A-Za-z0-9._/:@+-] starting with a letter "
                         "or digit";
    }
    return NULL;
}

//  Checks a JSON string against length bounds and a rule. what names it
//  in the error ("field 'x'", "argv[3]").
static int
s_check_string (json_t *value, const char *what, size_t min, size_t max, s_check_t check,
                hpt_error_t *error)
{
    if (!json_is_string (value)) return s_fail (error, "%s: must be a string", what);
    size_t length = json_string_length (value);
    if (length < min) return s_fail (error, "%s: must not be empty", what);
    if (length > max) return s_fail (error, "%s: longer than %zu bytes", what, max);
    const char *problem = s_string_problem (check, json_string_value (value), length);
    if (problem) return s_fail (error, "%s: %s", what, problem);
    return 0;
}

static int
s_check_int (json_t *value, const char *what, double min, double max, hpt_error_t *error)
{
    if (!json_is_integer (value)) return s_fail (error, "%s: must be an integer", what);
    double number = (double)json_integer_value (value);
    if (number < min || number > max)
        return s_fail (error, "%s: must be in [%.0f, %.0f]", what, min, max);
    return 0;
}

static int
s_check_number (json_t *value, const char *what, double min, double max, hpt_error_t *error)
{
    if (!json_is_number (value)) return s_fail (error, "%s: must be a number", what);
    double number = json_number_value (value);
    if (!isfinite (number) || number < min || number > max)
        return s_fail (error, "%s: must be in [%g, %g]", what, min, max);
    return 0;
}

//  Rejects keys of object not named in allowed (NULL-terminated).
static int
s_check_keys (json_t *object, const char *what, const char *const *allowed, hpt_error_t *error)
{
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value) {
        size_t i = 0;
        while (allowed[i] && strcmp (allowed[i], key) != 0)
            i++;
        if (!allowed[i]) {
            char safe[48];
            s_sanitize (key, strlen (key), safe);
            return s_fail (error, "%s: unknown field '%s'", what, safe);
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Structured fields

static int
s_check_env (json_t *value, const char *what, size_t max, hpt_error_t *error)
{
    if (!json_is_object (value)) return s_fail (error, "%s: must be an object", what);
    if (json_object_size (value) > max)
        return s_fail (error, "%s: more than %zu entries", what, max);
    const char *key;
    json_t *item;
    json_object_foreach (value, key, item) {
        size_t length = strlen (key);
        bool ok = length > 0 && length <= 256 && !(key[0] >= '0' && key[0] <= '9');
        for (size_t i = 0; ok && i < length; i++)
            ok = s_is_alnum (key[i]) || key[i] == '_';
        char safe[48];
        s_sanitize (key, length, safe);
        if (!ok)
            return s_fail (error,
                           "%s: variable name '%s' must be [A-Za-z_][A-Za-z0-9_]*, at most 256",
                           what, safe);
        char where[128];
        snprintf (where, sizeof where, "%s.%s", what, safe);
        if (s_check_string (item, where, 0, HPT_MSG_ARG_MAX, C_TEXT, error)) return -1;
    }
    return 0;
}

static int
s_check_ports (json_t *value, const char *what, hpt_error_t *error)
{
    if (!json_is_array (value) || json_array_size (value) != 2)
        return s_fail (error, "%s: must be [low, high]", what);
    if (s_check_int (json_array_get (value, 0), what, 1, 65535, error) ||
        s_check_int (json_array_get (value, 1), what, 1, 65535, error))
        return -1;
    if (json_integer_value (json_array_get (value, 0)) >
        json_integer_value (json_array_get (value, 1)))
        return s_fail (error, "%s: low must not exceed high", what);
    return 0;
}

static int
s_check_int_list (json_t *value, const char *what, size_t min_items, size_t max_items,
                  int64_t item_min, int64_t item_max, bool distinct, hpt_error_t *error)
{
    if (!json_is_array (value)) return s_fail (error, "%s: must be an array", what);
    size_t n = json_array_size (value);
    if (n < min_items || n > max_items)
        return s_fail (error, "%s: must have %zu to %zu entries", what, min_items, max_items);
    //  Distinctness by a bitmap over the (small) value range.
    size_t span = distinct ? (size_t)(item_max - item_min + 1) : 0;
    unsigned char *seen = distinct ? hpt_calloc ((span + 7) / 8, 1) : NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *item = json_array_get (value, i);
        json_int_t number = json_integer_value (item);
        bool seen_before = seen && json_is_integer (item) && number >= item_min &&
                           number <= item_max &&
                           (seen[(number - item_min) / 8] & (1u << ((number - item_min) % 8)));
        if (json_is_integer (item) && number >= item_min && number <= item_max && !seen_before) {
            if (seen)
                seen[(number - item_min) / 8] |= (unsigned char)(1u << ((number - item_min) % 8));
            continue; //  the common case: no error text to build
        }
        char where[96];
        snprintf (where, sizeof where, "%s[%zu]", what, i);
        rc = s_check_int (item, where, (double)item_min, (double)item_max, error);
        if (rc == 0 && seen) {
            size_t bit = (size_t)(json_integer_value (item) - item_min);
            if (seen[bit / 8] & (1u << (bit % 8)))
                rc = s_fail (error, "%s: repeats an earlier entry", where);
            seen[bit / 8] |= (unsigned char)(1u << (bit % 8));
        }
    }
    free (seen);
    return rc;
}

static int
s_check_string_list (json_t *value, const char *what, const s_field_t *f, hpt_error_t *error)
{
    if (!json_is_array (value)) return s_fail (error, "%s: must be an array", what);
    size_t n = json_array_size (value);
    if (n < (size_t)f->min || n > (size_t)f->max)
        return s_fail (error, "%s: must have %zu to %zu entries", what, (size_t)f->min,
                       (size_t)f->max);
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get (value, i);
        size_t length = json_string_length (item);
        if (json_is_string (item) && length >= (size_t)f->item_min &&
            length <= (size_t)f->item_max &&
            !s_string_problem (f->check, json_string_value (item), length))
            continue; //  the common case: no error text to build
        char where[96];
        snprintf (where, sizeof where, "%s[%zu]", what, i);
        if (s_check_string (item, where, (size_t)f->item_min, (size_t)f->item_max, f->check, error))
            return -1;
    }
    return 0;
}

//  EXITED: the process ended and its TASK_EXITED waits in the spool.
static bool
s_task_state_ok (const char *state)
{
    return state && (strcmp (state, "RUNNING") == 0 || strcmp (state, "STOPPING") == 0 ||
                     strcmp (state, "EXITED") == 0);
}

static int
s_check_tasks (json_t *value, const char *what, size_t max, hpt_error_t *error)
{
    static const char *const keys[] = {"taskId", "pid", "state", NULL};
    if (!json_is_array (value)) return s_fail (error, "%s: must be an array", what);
    if (json_array_size (value) > max)
        return s_fail (error, "%s: more than %zu entries", what, max);
    json_t *ids = json_object ();
    int rc = 0;
    size_t i;
    json_t *task;
    json_array_foreach (value, i, task) {
        char where[96], item[128];
        snprintf (where, sizeof where, "%s[%zu]", what, i);
        if (!json_is_object (task)) {
            rc = s_fail (error, "%s: must be an object", where);
            break;
        }
        snprintf (item, sizeof item, "%s.taskId", where);
        json_t *id = json_object_get (task, "taskId");
        rc = s_check_keys (task, where, keys, error);
        if (!rc) rc = s_check_string (id, item, 1, HPT_MSG_NAME_MAX, C_TASK_ID, error);
        snprintf (item, sizeof item, "%s.pid", where);
        if (!rc) rc = s_check_int (json_object_get (task, "pid"), item, 1, PID_MAX, error);
        json_t *state = json_object_get (task, "state");
        if (!rc && !s_task_state_ok (json_string_value (state)))
            rc = s_fail (error, "%s.state: must be \"RUNNING\", \"STOPPING\" or \"EXITED\"", where);
        if (!rc && json_object_get (ids, json_string_value (id)))
            rc = s_fail (error, "%s.taskId: repeats an earlier task", where);
        if (rc) break;
        json_object_set (ids, json_string_value (id), json_true ());
    }
    json_decref (ids);
    return rc;
}

//  The common case of s_check_points, without building error texts.
static bool
s_point_ok (json_t *point)
{
    json_t *tag = json_object_get (point, "tag");
    json_t *value = json_object_get (point, "value");
    json_t *step = json_object_get (point, "step");
    json_t *time = json_object_get (point, "time");
    size_t length = json_string_length (tag);
    return json_is_object (point) && json_object_size (point) == 3u + (step != NULL) &&
           json_is_string (tag) && length >= 1 && length <= HPT_MSG_NAME_MAX &&
           !s_has_control (json_string_value (tag), length) && json_is_number (value) &&
           isfinite (json_number_value (value)) &&
           (!step || (json_is_integer (step) && json_integer_value (step) >= 0 &&
                      (double)json_integer_value (step) <= SEQ_MAX)) &&
           json_is_integer (time) && json_integer_value (time) >= 0 &&
           (double)json_integer_value (time) <= TIME_MAX;
}

static int
s_check_points (json_t *value, const char *what, size_t min, size_t max, hpt_error_t *error)
{
    static const char *const keys[] = {"tag", "value", "step", "time", NULL};
    if (!json_is_array (value)) return s_fail (error, "%s: must be an array", what);
    size_t n = json_array_size (value);
    if (n < min || n > max)
        return s_fail (error, "%s: must have %zu to %zu entries", what, min, max);
    for (size_t i = 0; i < n; i++) {
        json_t *point = json_array_get (value, i);
        if (s_point_ok (point)) continue;
        char where[96], item[128];
        snprintf (where, sizeof where, "%s[%zu]", what, i);
        if (!json_is_object (point)) return s_fail (error, "%s: must be an object", where);
        if (s_check_keys (point, where, keys, error)) return -1;
        snprintf (item, sizeof item, "%s.tag", where);
        if (s_check_string (json_object_get (point, "tag"), item, 1, HPT_MSG_NAME_MAX, C_LABEL,
                            error))
            return -1;
        snprintf (item, sizeof item, "%s.value", where);
        if (s_check_number (json_object_get (point, "value"), item, -HUGE_VAL, HUGE_VAL, error))
            return -1;
        json_t *step = json_object_get (point, "step");
        snprintf (item, sizeof item, "%s.step", where);
        if (step && s_check_int (step, item, 0, SEQ_MAX, error)) return -1;
        snprintf (item, sizeof item, "%s.time", where);
        if (s_check_int (json_object_get (point, "time"), item, 0, TIME_MAX, error)) return -1;
        return s_fail (error, "%s: invalid point", where); //  never reached
    }
    return 0;
}

//  An optional member: absent and null pass; otherwise checked.
static int
s_check_nullable_string (json_t *object, const char *key, const char *where, size_t max,
                         hpt_error_t *error)
{
    json_t *value = json_object_get (object, key);
    if (!value || json_is_null (value)) return 0;
    char what[160];
    snprintf (what, sizeof what, "%s.%s", where, key);
    return s_check_string (value, what, 0, max, C_LABEL, error);
}

//  accelerators[i].links: peer GPU index (decimal, as a member name) ->
//  link code (PROTOCOL.md 5.1).
static int
s_check_links (json_t *links, const char *where, hpt_error_t *error)
{
    if (!links) return 0;
    if (!json_is_object (links) || json_object_size (links) > HPT_MSG_GPUS_MAX)
        return s_fail (error, "%s.links: must be an object of at most %d members", where,
                       HPT_MSG_GPUS_MAX);
    const char *key;
    json_t *value;
    json_object_foreach (links, key, value) {
        char safe[48];
        size_t length = strlen (key);
        s_sanitize (key, length, safe);
        bool index_ok = length >= 1 && length <= 5 && (key[0] != '0' || length == 1);
        for (size_t i = 0; index_ok && i < length; i++)
            index_ok = key[i] >= '0' && key[i] <= '9';
        if (!index_ok || atol (key) > 65535)
            return s_fail (error, "%s.links: '%s' is not a GPU index", where, safe);
        hpt_gpu_link_t link;
        if (!hpt_gpu_link_parse (json_string_value (value), &link))
            return s_fail (error, "%s.links.%s: must be NV1..NV64, PIX, PXB, PHB, NODE or SYS",
                           where, safe);
    }
    return 0;
}

//  accelerators[i].mig: the GPU's MIG instances, each schedulable by its
//  type and index.
static int
s_check_migs (json_t *migs, const char *where, hpt_error_t *error)
{
    if (!migs) return 0;
    if (!json_is_array (migs) || json_array_size (migs) > 64)
        return s_fail (error, "%s.mig: must be an array of at most 64", where);
    size_t i;
    json_t *mig;
    json_array_foreach (migs, i, mig) {
        char item[192], what[224];
        snprintf (item, sizeof item, "%s.mig[%zu]", where, i);
        if (!json_is_object (mig)) return s_fail (error, "%s: must be an object", item);
        snprintf (what, sizeof what, "%s.type", item);
        if (s_check_string (json_object_get (mig, "type"), what, 1, 64, C_NAME, error)) return -1;
        snprintf (what, sizeof what, "%s.index", item);
        if (s_check_int (json_object_get (mig, "index"), what, 0, 65535, error)) return -1;
        snprintf (what, sizeof what, "%s.uuid", item);
        if (s_check_string (json_object_get (mig, "uuid"), what, 1, 128, C_NAME, error)) return -1;
        json_t *memory = json_object_get (mig, "memoryGb");
        snprintf (what, sizeof what, "%s.memoryGb", item);
        if (memory && !json_is_null (memory) && s_check_number (memory, what, 0, 1e9, error))
            return -1;
        if (s_check_nullable_string (mig, "name", item, 256, error)) return -1;
    }
    return 0;
}

static int
s_check_accelerator (json_t *accel, const char *where, hpt_error_t *error)
{
    char what[160];
    if (!json_is_object (accel)) return s_fail (error, "%s: must be an object", where);
    snprintf (what, sizeof what, "%s.type", where);
    if (s_check_string (json_object_get (accel, "type"), what, 1, 64, C_NAME, error)) return -1;
    snprintf (what, sizeof what, "%s.index", where);
    if (s_check_int (json_object_get (accel, "index"), what, 0, 65535, error)) return -1;
    json_t *numa = json_object_get (accel, "numaNode");
    snprintf (what, sizeof what, "%s.numaNode", where);
    if (numa && !json_is_null (numa) && s_check_int (numa, what, -1, 65535, error)) return -1;
    json_t *memory = json_object_get (accel, "memoryGb");
    snprintf (what, sizeof what, "%s.memoryGb", where);
    if (memory && !json_is_null (memory) && s_check_number (memory, what, 0, 1e9, error)) return -1;
    json_t *cpus = json_object_get (accel, "cpus");
    snprintf (what, sizeof what, "%s.cpus", where);
    if (cpus &&
        s_check_int_list (cpus, what, 0, HPT_MSG_CORES_MAX, 0, HPT_MSG_CORES_MAX - 1, false, error))
        return -1;
    if (s_check_nullable_string (accel, "pciBusId", where, 64, error) ||
        s_check_nullable_string (accel, "uuid", where, 128, error) ||
        s_check_nullable_string (accel, "name", where, 256, error))
        return -1;
    json_t *mig_enabled = json_object_get (accel, "migEnabled");
    if (mig_enabled && !json_is_boolean (mig_enabled))
        return s_fail (error, "%s.migEnabled: must be a boolean", where);
    return s_check_links (json_object_get (accel, "links"), where, error) ||
                   s_check_migs (json_object_get (accel, "mig"), where, error)
               ? -1
               : 0;
}

//  resources.containers: what the master places container tasks by.
static int
s_check_containers (json_t *value, const char *what, hpt_error_t *error)
{
    static const char *const keys[] = {"runtime", "gpus", "gpuProblem", NULL};
    char where[160];
    if (!value) return 0;
    snprintf (where, sizeof where, "%s.containers", what);
    if (!json_is_object (value)) return s_fail (error, "%s: must be an object", where);
    if (s_check_keys (value, where, keys, error)) return -1;
    snprintf (where, sizeof where, "%s.containers.runtime", what);
    if (s_check_string (json_object_get (value, "runtime"), where, 1, 1024, C_LABEL, error))
        return -1;
    if (!json_is_boolean (json_object_get (value, "gpus")))
        return s_fail (error, "%s.containers.gpus: must be a boolean", what);
    snprintf (where, sizeof where, "%s.containers", what);
    return s_check_nullable_string (value, "gpuProblem", where, HPT_MSG_REASON_MAX, error);
}

//  The resources document is the agent's topology: the members the master
//  schedules by are checked; others (e.g. "pus", "discovery", "mig") pass
//  through so agents can report more without a protocol change.
static int
s_check_resources (json_t *value, const char *what, hpt_error_t *error)
{
    char where[160];
    if (!json_is_object (value)) return s_fail (error, "%s: must be an object", what);
    snprintf (where, sizeof where, "%s.cpus", what);
    if (s_check_number (json_object_get (value, "cpus"), where, 0, 1e6, error)) return -1;
    if (!(json_number_value (json_object_get (value, "cpus")) > 0))
        return s_fail (error, "%s: must be more than 0", where);
    snprintf (where, sizeof where, "%s.memoryGb", what);
    if (s_check_number (json_object_get (value, "memoryGb"), where, 0, 1e9, error)) return -1;
    json_t *nodes = json_object_get (value, "numaNodes");
    snprintf (where, sizeof where, "%s.numaNodes", what);
    if (nodes && (!json_is_array (nodes) || json_array_size (nodes) > HPT_MSG_GPUS_MAX))
        return s_fail (error, "%s: must be an array of at most %d", where, HPT_MSG_GPUS_MAX);
    size_t i;
    json_t *item;
    json_array_foreach (nodes, i, item) {
        snprintf (where, sizeof where, "%s.numaNodes[%zu]", what, i);
        if (!json_is_object (item)) return s_fail (error, "%s: must be an object", where);
        json_t *cpus = json_object_get (item, "cpus");
        strncat (where, ".cpus", sizeof where - strlen (where) - 1);
        if (cpus && s_check_int_list (cpus, where, 0, HPT_MSG_CORES_MAX, 0, HPT_MSG_CORES_MAX - 1,
                                      false, error))
            return -1;
    }
    if (s_check_containers (json_object_get (value, "containers"), what, error)) return -1;
    json_t *accels = json_object_get (value, "accelerators");
    snprintf (where, sizeof where, "%s.accelerators", what);
    if (accels && (!json_is_array (accels) || json_array_size (accels) > HPT_MSG_GPUS_MAX))
        return s_fail (error, "%s: must be an array of at most %d", where, HPT_MSG_GPUS_MAX);
    json_array_foreach (accels, i, item) {
        snprintf (where, sizeof where, "%s.accelerators[%zu]", what, i);
        if (s_check_accelerator (item, where, error)) return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  base64 (RFC 4648, padded), for LOGS data that is not UTF-8 text

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

//  Caller frees the result.
static char *
s_base64_encode (const unsigned char *data, size_t size)
{
    char *out = hpt_malloc ((size + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < size; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < size) v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < size) v |= data[i + 2];
        out[o++] = s_b64[(v >> 18) & 63];
        out[o++] = s_b64[(v >> 12) & 63];
        out[o++] = i + 1 < size ? s_b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < size ? s_b64[v & 63] : '=';
    }
    out[o] = 0;
    return out;
}

static int
s_b64_value (char c)
{
    const char *p = c ? strchr (s_b64, c) : NULL;
    return p ? (int)(p - s_b64) : -1;
}

//  Strict, canonical decoding into out (room for length / 4 * 3 bytes).
//  Returns the byte count, or -1 when text is not canonical base64.
static long
s_base64_decode (const char *text, size_t length, unsigned char *out)
{
    if (length % 4) return -1;
    size_t o = 0;
    for (size_t i = 0; i < length; i += 4) {
        bool last = i + 4 == length;
        int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=' && text[i + 3] == '=') : 0;
        int v[4];
        for (int k = 0; k < 4 - pad; k++)
            if ((v[k] = s_b64_value (text[i + k])) < 0) return -1;
        for (int k = 4 - pad; k < 4; k++)
            v[k] = 0;
        uint32_t bits =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        //  Canonical: the bits padding leaves unused are zero.
        if ((pad == 1 && (bits & 0xff)) || (pad == 2 && (bits & 0xffff))) return -1;
        out[o++] = (unsigned char)(bits >> 16);
        if (pad < 2) out[o++] = (unsigned char)(bits >> 8);
        if (pad < 1) out[o++] = (unsigned char)bits;
    }
    return (long)o;
}

static int
s_check_data (json_t *body, hpt_error_t *error)
{
    json_t *data = json_object_get (body, "data");
    if (!json_is_string (data)) return s_fail (error, "field 'data': must be a string");
    size_t length = json_string_length (data);
    //  Another encoding value is refused by the "encoding" field's own rule.
    const char *encoding = json_string_value (json_object_get (body, "encoding"));
    if (!encoding || strcmp (encoding, "base64") != 0) {
        if (length > HPT_MSG_LOG_CHUNK_MAX)
            return s_fail (error, "field 'data': longer than %d bytes", HPT_MSG_LOG_CHUNK_MAX);
        return 0;
    }
    if (length > (HPT_MSG_LOG_CHUNK_MAX + 2) / 3 * 4)
        return s_fail (error, "field 'data': decodes to more than %d bytes", HPT_MSG_LOG_CHUNK_MAX);
    unsigned char *bytes = hpt_malloc (length / 4 * 3 + 1);
    long n = s_base64_decode (json_string_value (data), length, bytes);
    free (bytes);
    if (n < 0) return s_fail (error, "field 'data': not canonical base64");
    if (n > HPT_MSG_LOG_CHUNK_MAX)
        return s_fail (error, "field 'data': decodes to more than %d bytes", HPT_MSG_LOG_CHUNK_MAX);
    return 0;
}

//  ---------------------------------------------------------------------
//  The validator

static int
s_check_field (const s_field_t *f, json_t *value, json_t *body, hpt_error_t *error)
{
    char what[64];
    snprintf (what, sizeof what, "field '%s'", f->name);
    switch (f->kind) {
        case K_STRING:
            return s_check_string (value, what, (size_t)f->min, (size_t)f->max, f->check, error);
        case K_INT:
            return s_check_int (value, what, f->min, f->max, error);
        case K_NUMBER:
            return s_check_number (value, what, f->min, f->max, error);
        case K_BOOL:
            return json_is_boolean (value) ? 0 : s_fail (error, "%s: must be a boolean", what);
        case K_STRINGS:
            return s_check_string_list (value, what, f, error);
        case K_INTS:
            return s_check_int_list (value, what, (size_t)f->min, (size_t)f->max, f->item_min,
                                     f->item_max, f->check == C_DISTINCT, error);
        case K_ENV:
            return s_check_env (value, what, (size_t)f->max, error);
        case K_PORTS:
            return s_check_ports (value, what, error);
        case K_TASKS:
            return s_check_tasks (value, what, (size_t)f->max, error);
        case K_POINTS:
            return s_check_points (value, what, (size_t)f->min, (size_t)f->max, error);
        case K_RESOURCES:
            return s_check_resources (value, what, error);
        case K_DATA:
            return s_check_data (body, error);
    }
    return s_fail (error, "%s: no rule", what);
}

//  A process needs a program (argv[0]); a container (image) may run its
//  image's entrypoint with no arguments, and only a container takes the
//  container members.
static int
s_check_launch (json_t *body, hpt_error_t *error)
{
    json_t *argv = json_object_get (body, "argv");
    if (json_array_size (json_object_get (body, "gpus")) &&
        json_array_size (json_object_get (body, "migs")))
        return s_fail (error, "field 'migs': not with 'gpus' (a task gets whole GPUs or MIG "
                              "instances)");
    if (json_object_get (body, "image")) return 0;
    if (json_array_size (argv) == 0)
        return s_fail (error, "field 'argv': must have 1 to %d entries without 'image'",
                       HPT_MSG_ARGS_MAX);
    if (json_string_length (json_array_get (argv, 0)) == 0)
        return s_fail (error, "field 'argv': argv[0] must not be empty");
    static const char *const container_only[] = {"containerCommand", "cpus", "memoryMb"};
    for (size_t i = 0; i < 3; i++)
        if (json_object_get (body, container_only[i]))
            return s_fail (error, "field '%s': only with 'image'", container_only[i]);
    return 0;
}

//  Rules that tie two fields together.
static int
s_check_cross (hpt_msg_id_t id, json_t *body, hpt_error_t *error)
{
    json_t *protocol = json_object_get (body, "protocol");
    if (protocol && json_integer_value (protocol) != HPT_MSG_PROTOCOL)
        return s_fail (error, "field 'protocol': %lld does not match HPT/%d",
                       (long long)json_integer_value (protocol), HPT_MSG_PROTOCOL);
    if (id == HPT_MSG_HELLO && json_integer_value (json_object_get (body, "ackedSeq")) >
                                   json_integer_value (json_object_get (body, "lastSeq")))
        return s_fail (error, "field 'ackedSeq': must not exceed lastSeq");
    if (id == HPT_MSG_WELCOME && json_integer_value (json_object_get (body, "agentTimeoutMs")) <
                                     2 * json_integer_value (json_object_get (body, "heartbeatMs")))
        return s_fail (error, "field 'agentTimeoutMs': must be at least twice heartbeatMs");
    if (id == HPT_MSG_LAUNCH) return s_check_launch (body, error);
    return 0;
}

//  Checks body against the rules of message type id. The error names the
//  type and the field.
static int
s_validate (hpt_msg_id_t id, json_t *body, hpt_error_t *error)
{
    hpt_error_t local;
    const char *type = s_rules[id].name;
    if (!json_is_object (body)) return s_fail (error, "%s: body must be a JSON object", type);
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value) {
        if (!s_field (id, key)) {
            char safe[48];
            s_sanitize (key, strlen (key), safe);
            return s_fail (error, "%s: unknown field '%s'", type, safe);
        }
    }
    for (const s_field_t *f = s_rules[id].fields; f->name; f++) {
        value = json_object_get (body, f->name);
        if (!value) {
            if (f->required) return s_fail (error, "%s: missing field '%s'", type, f->name);
            continue;
        }
        if (s_check_field (f, value, body, &local))
            return s_fail (error, "%s: %s", type, local.message);
    }
    if (s_check_cross (id, body, &local)) return s_fail (error, "%s: %s", type, local.message);
    return 0;
}

//  ---------------------------------------------------------------------
//  Life cycle

hpt_msg_t *
hpt_msg_new (hpt_msg_id_t id)
{
    if (id < 1 || id > HPT_MSG_ID_COUNT) return NULL;
    hpt_msg_t *self = hpt_calloc (1, sizeof (hpt_msg_t));
    self->id = id;
    self->version = HPT_MSG_PROTOCOL;
    self->body = json_object ();
    //  The version field has one valid value; fill it so callers need not.
    if (s_field (id, "protocol"))
        json_object_set_new (self->body, "protocol", json_integer (HPT_MSG_PROTOCOL));
    //  Required lists that may be empty start empty, so a sender with
    //  nothing to list (an agent running no task) need not say so.
    for (const s_field_t *f = s_rules[id].fields; f->name; f++)
        if (f->required && f->min == 0 &&
            (f->kind == K_TASKS || f->kind == K_STRINGS || f->kind == K_INTS))
            json_object_set_new (self->body, f->name, json_array ());
    return self;
}

void
hpt_msg_destroy (hpt_msg_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_msg_t *self = *self_p;
    json_decref (self->body);
    zframe_destroy (&self->routing_id);
    free (self->user_id);
    free (self->data);
    free (self);
    *self_p = NULL;
}

hpt_msg_t *
hpt_msg_dup (hpt_msg_t *self)
{
    if (!self) return NULL;
    hpt_msg_t *copy = hpt_calloc (1, sizeof (hpt_msg_t));
    copy->id = self->id;
    copy->version = self->version;
    copy->body = json_deep_copy (self->body);
    copy->routing_id = self->routing_id ? zframe_dup (self->routing_id) : NULL;
    copy->user_id = self->user_id ? hpt_strdup (self->user_id) : NULL;
    return copy;
}

int
hpt_msg_validate (hpt_msg_t *self, hpt_error_t *error)
{
    if (!self) return s_fail (error, "no message");
    return s_validate (self->id, self->body, error);
}

//  ---------------------------------------------------------------------
//  Wire

char *
hpt_msg_body_dump (hpt_msg_t *self)
{
    if (hpt_msg_validate (self, NULL)) return NULL;
    char *text = json_dumps (self->body, JSON_COMPACT);
    if (text && strlen (text) > HPT_MSG_BODY_MAX) {
        free (text);
        return NULL;
    }
    return text;
}

static zmsg_t *
s_encode (hpt_msg_t *self, bool with_routing_id)
{
    char *text = hpt_msg_body_dump (self);
    if (!text) return NULL;
    zmsg_t *msg = zmsg_new ();
    if (with_routing_id && self->routing_id)
        zmsg_append (msg, &(zframe_t *){zframe_dup (self->routing_id)});
    zmsg_addstrf (msg, "HPT/%d %s", self->version, s_rules[self->id].name);
    zmsg_addmem (msg, text, strlen (text));
    free (text);
    return msg;
}

zmsg_t *
hpt_msg_encode (hpt_msg_t *self)
{
    return self ? s_encode (self, true) : NULL;
}

//  REJECT and ERROR keep their HPT/1 bodies in every version (PROTOCOL.md
//  §7), so a peer of any version can say why it refuses.
static bool
s_frozen (hpt_msg_id_t id)
{
    return id == HPT_MSG_REJECT || id == HPT_MSG_ERROR;
}

//  Parses "HPT/<version> <TYPE>" into fault->version and fault->id.
static int
s_parse_signature (zframe_t *frame, hpt_msg_fault_t *fault)
{
    const char *bytes = (const char *)zframe_data (frame);
    size_t size = zframe_size (frame);
    char safe[48];
    s_sanitize (bytes, size, safe);
    size_t i = 4, digits = 0;
    long version = 0;
    //  No leading zero, so each version has one spelling.
    if (size > HPT_MSG_SIGNATURE_MAX || size < 6 || memcmp (bytes, "HPT/", 4) != 0 ||
        bytes[4] == '0')
        goto bad;
    while (i < size && bytes[i] >= '0' && bytes[i] <= '9' && digits < 4) {
        version = version * 10 + (bytes[i++] - '0');
        digits++;
    }
    if (digits == 0 || version == 0 || i >= size || bytes[i++] != ' ' || i == size) goto bad;
    char type[HPT_MSG_SIGNATURE_MAX + 1];
    size_t n = size - i;
    memcpy (type, bytes + i, n);
    type[n] = 0;
    for (size_t k = 0; k < n; k++)
        if (!((type[k] >= 'A' && type[k] <= 'Z') || type[k] == '_')) goto bad;
    fault->version = (int)version;
    fault->id = hpt_msg_id_parse (type);
    if (!fault->id) {
        s_fault (fault, HPT_MSG_FAULT_TYPE, "unknown message type '%s'", type);
        return -1;
    }
    if (version != HPT_MSG_PROTOCOL && !s_frozen (fault->id)) {
        s_fault (fault, HPT_MSG_FAULT_VERSION,
                 "unsupported protocol version HPT/%ld (this side speaks HPT/%d)", version,
                 HPT_MSG_PROTOCOL);
        return -1;
    }
    return 0;
bad:
    s_fault (fault, HPT_MSG_FAULT_SIGNATURE, "bad signature '%s': expected 'HPT/%d <TYPE>'", safe,
             HPT_MSG_PROTOCOL);
    return -1;
}

//  Builds a message from body bytes (not zero-terminated) or sets the
//  fault.
static hpt_msg_t *
s_from_body (hpt_msg_id_t id, const char *bytes, size_t size, hpt_msg_fault_t *fault)
{
    fault->id = id;
    if (size > HPT_MSG_BODY_MAX) {
        s_fault (fault, HPT_MSG_FAULT_SIZE, "%s: body of %zu bytes exceeds %d", s_rules[id].name,
                 size, HPT_MSG_BODY_MAX);
        return NULL;
    }
    json_error_t jerror;
    json_t *body = json_loadb (bytes, size, JSON_REJECT_DUPLICATES, &jerror);
    if (!body) {
        s_fault (fault, HPT_MSG_FAULT_BODY, "%s: body is not valid JSON: %s at byte %d",
                 s_rules[id].name, jerror.text, jerror.position);
        return NULL;
    }
    hpt_error_t error;
    if (s_validate (id, body, &error)) {
        s_fault (fault, HPT_MSG_FAULT_BODY, "%s", error.message);
        json_decref (body);
        return NULL;
    }
    hpt_msg_t *self = hpt_calloc (1, sizeof (hpt_msg_t));
    self->id = id;
    self->version = HPT_MSG_PROTOCOL;
    self->body = body;
    return self;
}

hpt_msg_t *
hpt_msg_decode_fault (zmsg_t **msg_p, hpt_msg_fault_t *fault)
{
    hpt_msg_fault_t local;
    if (!fault) fault = &local, memset (&local, 0, sizeof local);
    hpt_msg_fault_reset (fault);
    if (!msg_p || !*msg_p) {
        s_fault (fault, HPT_MSG_FAULT_INTERRUPTED, "no message");
        return NULL;
    }
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    hpt_msg_t *self = NULL;
    zframe_t *signature = zmsg_first (msg);
    zframe_t *body = zmsg_next (msg);
    if (zmsg_size (msg) != 2) {
        s_fault (fault, HPT_MSG_FAULT_FRAMING, "expected 2 frames (signature, body), got %zu",
                 zmsg_size (msg));
    } else if (zframe_size (signature) == 0 || zframe_size (body) == 0) {
        s_fault (fault, HPT_MSG_FAULT_FRAMING, "empty %s frame",
                 zframe_size (signature) == 0 ? "signature" : "body");
    } else if (s_parse_signature (signature, fault) == 0) {
        self = s_from_body (fault->id, (const char *)zframe_data (body), zframe_size (body), fault);
        if (self) self->version = fault->version;
    }
    zmsg_destroy (&msg);
    return self;
}

hpt_msg_t *
hpt_msg_decode (zmsg_t **msg_p, hpt_error_t *error)
{
    hpt_msg_fault_t fault = {0};
    hpt_msg_t *self = hpt_msg_decode_fault (msg_p, &fault);
    if (!self) s_fail (error, "%s", fault.text);
    hpt_msg_fault_reset (&fault);
    return self;
}

hpt_msg_t *
hpt_msg_body_load (hpt_msg_id_t id, const char *text, hpt_error_t *error)
{
    if (id < 1 || id > HPT_MSG_ID_COUNT || !text) {
        s_fail (error, "unknown message type %d", (int)id);
        return NULL;
    }
    hpt_msg_fault_t fault = {0};
    hpt_msg_t *self = s_from_body (id, text, strlen (text), &fault);
    if (!self) s_fail (error, "%s", fault.text);
    return self;
}

int
hpt_msg_send (hpt_msg_t **self_p, zsock_t *dest)
{
    if (!self_p || !*self_p) return -1;
    hpt_msg_t *self = *self_p;
    bool router = dest && zsock_type (dest) == ZMQ_ROUTER;
    zmsg_t *msg = NULL;
    if (dest && (!router || self->routing_id)) msg = s_encode (self, router);
    hpt_msg_destroy (self_p);
    if (!msg) return -1;
    if (zmsg_send (&msg, dest) != 0) {
        zmsg_destroy (&msg);
        return -1;
    }
    return 0;
}

hpt_msg_t *
hpt_msg_recv_fault (zsock_t *input, hpt_msg_fault_t *fault)
{
    assert (fault);
    hpt_msg_fault_reset (fault);
    zmsg_t *msg = input ? zmsg_recv (input) : NULL;
    if (!msg) {
        s_fault (fault, HPT_MSG_FAULT_INTERRUPTED, "interrupted");
        return NULL;
    }
    zframe_t *routing_id = NULL;
    if (zsock_type (input) == ZMQ_ROUTER) {
        routing_id = zmsg_pop (msg);
        if (!routing_id) {
            zmsg_destroy (&msg);
            s_fault (fault, HPT_MSG_FAULT_FRAMING, "no routing id frame");
            return NULL;
        }
    }
    //  ZAP's User-Id comes with every frame of an authenticated peer.
    const char *user_id = zmsg_first (msg) ? zframe_meta (zmsg_first (msg), "User-Id") : NULL;
    char *user = user_id && *user_id ? hpt_strdup (user_id) : NULL;
    hpt_msg_t *self = hpt_msg_decode_fault (&msg, fault);
    if (self) {
        self->routing_id = routing_id;
        self->user_id = user;
    } else {
        free (user);
        fault->routing_id = routing_id;
    }
    return self;
}

void
hpt_msg_fault_reset (hpt_msg_fault_t *fault)
{
    if (!fault) return;
    zframe_destroy (&fault->routing_id);
    memset (fault, 0, sizeof *fault);
}

const char *
hpt_msg_fault_name (hpt_msg_fault_kind_t kind)
{
    static const char *const names[] = {"none",    "interrupted", "framing", "signature",
                                        "version", "type",        "size",    "body"};
    return kind <= HPT_MSG_FAULT_BODY ? names[kind] : "unknown";
}

const char *
hpt_msg_user_id (hpt_msg_t *self)
{
    return self ? self->user_id : NULL;
}

zframe_t *
hpt_msg_routing_id (hpt_msg_t *self)
{
    return self ? self->routing_id : NULL;
}

void
hpt_msg_set_routing_id (hpt_msg_t *self, zframe_t *routing_id)
{
    if (!self) return;
    zframe_destroy (&self->routing_id);
    self->routing_id = routing_id ? zframe_dup (routing_id) : NULL;
}

hpt_msg_id_t
hpt_msg_id (hpt_msg_t *self)
{
    return self ? self->id : 0;
}

int
hpt_msg_signature_version (hpt_msg_t *self)
{
    return self ? self->version : 0;
}

int
hpt_msg_set_signature_version (hpt_msg_t *self, int version)
{
    if (!self || version < 1 || version > 9999) return -1;
    if (version != HPT_MSG_PROTOCOL && !s_frozen (self->id)) return -1;
    self->version = version;
    return 0;
}

const char *
hpt_msg_id_name (hpt_msg_id_t id)
{
    return id >= 1 && id <= HPT_MSG_ID_COUNT ? s_rules[id].name : "UNKNOWN";
}

hpt_msg_id_t
hpt_msg_id_parse (const char *name)
{
    for (int id = 1; name && id <= HPT_MSG_ID_COUNT; id++)
        if (strcmp (s_rules[id].name, name) == 0) return (hpt_msg_id_t)id;
    return 0;
}

//  ---------------------------------------------------------------------
//  Field access: generic helpers the typed accessors wrap

//  Stores value (stolen) under key when key belongs to the message type.
static int
s_set (hpt_msg_t *self, const char *key, json_t *value)
{
    if (!self || !value || !s_field (self->id, key)) {
        json_decref (value);
        return -1;
    }
    json_object_set_new (self->body, key, value);
    return 0;
}

static json_t *
s_get (hpt_msg_t *self, const char *key)
{
    return self ? json_object_get (self->body, key) : NULL;
}

static int64_t
s_get_int (hpt_msg_t *self, const char *key, int64_t absent)
{
    json_t *value = s_get (self, key);
    return json_is_integer (value) ? (int64_t)json_integer_value (value) : absent;
}

static const char *
s_get_str (hpt_msg_t *self, const char *key)
{
    return json_string_value (s_get (self, key));
}

static int
s_set_str (hpt_msg_t *self, const char *key, const char *value)
{
    return value ? s_set (self, key, json_string (value)) : -1;
}

//  Appends item (stolen) to the list under key, creating it.
static int
s_append (hpt_msg_t *self, const char *key, json_t *item)
{
    json_t *list = s_get (self, key);
    if (!item || !self || !s_field (self->id, key)) {
        json_decref (item);
        return -1;
    }
    if (!json_is_array (list)) {
        list = json_array ();
        json_object_set_new (self->body, key, list);
    }
    return json_array_append_new (list, item);
}

static size_t
s_count (hpt_msg_t *self, const char *key)
{
    return json_array_size (s_get (self, key));
}

#define INT_FIELD(fn, key, absent)                                                                 \
    int64_t hpt_msg_##fn (hpt_msg_t *self)                                                         \
    {                                                                                              \
        return s_get_int (self, key, absent);                                                      \
    }                                                                                              \
    int hpt_msg_set_##fn (hpt_msg_t *self, int64_t value)                                          \
    {                                                                                              \
        return s_set (self, key, json_integer ((json_int_t)value));                                \
    }
#define STR_FIELD(fn, key)                                                                         \
    const char *hpt_msg_##fn (hpt_msg_t *self)                                                     \
    {                                                                                              \
        return s_get_str (self, key);                                                              \
    }                                                                                              \
    int hpt_msg_set_##fn (hpt_msg_t *self, const char *value)                                      \
    {                                                                                              \
        return s_set_str (self, key, value);                                                       \
    }
#define BOOL_FIELD(fn, key)                                                                        \
    bool hpt_msg_##fn (hpt_msg_t *self)                                                            \
    {                                                                                              \
        return json_is_true (s_get (self, key));                                                   \
    }                                                                                              \
    int hpt_msg_set_##fn (hpt_msg_t *self, bool value)                                             \
    {                                                                                              \
        return s_set (self, key, json_boolean (value));                                            \
    }
#define INT_LIST(add, count, at, key)                                                              \
    int hpt_msg_##add (hpt_msg_t *self, int64_t value)                                             \
    {                                                                                              \
        return s_append (self, key, json_integer ((json_int_t)value));                             \
    }                                                                                              \
    size_t hpt_msg_##count (hpt_msg_t *self)                                                       \
    {                                                                                              \
        return s_count (self, key);                                                                \
    }                                                                                              \
    int64_t hpt_msg_##at (hpt_msg_t *self, size_t index)                                           \
    {                                                                                              \
        json_t *item = json_array_get (s_get (self, key), index);                                  \
        return json_is_integer (item) ? (int64_t)json_integer_value (item) : -1;                   \
    }
#define STR_LIST(add, count, at, key)                                                              \
    int hpt_msg_##add (hpt_msg_t *self, const char *value)                                         \
    {                                                                                              \
        return value ? s_append (self, key, json_string (value)) : -1;                             \
    }                                                                                              \
    size_t hpt_msg_##count (hpt_msg_t *self)                                                       \
    {                                                                                              \
        return s_count (self, key);                                                                \
    }                                                                                              \
    const char *hpt_msg_##at (hpt_msg_t *self, size_t index)                                       \
    {                                                                                              \
        return json_string_value (json_array_get (s_get (self, key), index));                      \
    }

// clang-format off
INT_FIELD (seq, "seq", 0)
INT_FIELD (protocol, "protocol", 0)
STR_FIELD (name, "name")
STR_FIELD (version, "version")
STR_FIELD (advertise, "advertise")
INT_FIELD (acked_seq, "ackedSeq", 0)
INT_FIELD (last_seq, "lastSeq", 0)
INT_FIELD (running_tasks, "runningTasks", -1)
INT_FIELD (heartbeat_ms, "heartbeatMs", 0)
INT_FIELD (agent_timeout_ms, "agentTimeoutMs", 0)
INT_FIELD (master_epoch, "masterEpoch", 0)
STR_FIELD (reason, "reason")
INT_FIELD (retry_ms, "retryMs", 0)
STR_FIELD (code, "code")
STR_FIELD (task_id, "taskId")
INT_FIELD (pid, "pid", 0)
INT_FIELD (start_time, "startTime", 0)
INT_FIELD (end_time, "endTime", 0)
INT_FIELD (exit_code, "exitCode", -1)
INT_FIELD (signal, "signal", 0)
BOOL_FIELD (core_dumped, "coreDumped")
STR_FIELD (stream, "stream")
STR_FIELD (trial_id, "trialId")
STR_FIELD (working_dir, "workingDir")
STR_FIELD (metric_tag, "metricTag")
STR_FIELD (stdout_regex, "stdoutRegex")
STR_FIELD (run_as, "runAs")
STR_FIELD (image, "image")
INT_FIELD (memory_mb, "memoryMb", 0)
STR_LIST (add_container_command, container_command_count, container_command, "containerCommand")
INT_FIELD (grace_ms, "graceMs", 0)
BOOL_FIELD (draining, "draining")
STR_LIST (add_arg, arg_count, arg, "argv")
STR_LIST (add_package_uri, package_uri_count, package_uri, "packageUris")
INT_LIST (add_gpu, gpu_count, gpu, "gpus")
INT_LIST (add_tpu, tpu_count, tpu, "tpus")
INT_LIST (add_mig, mig_count, mig, "migs")
INT_FIELD (gpu_index, "gpu", -1)
INT_FIELD (xid, "xid", -1)
INT_FIELD (time, "time", 0)
INT_LIST (add_core, core_count, core, "cpuSet")
INT_LIST (add_protocol, protocol_count, protocol_at, "protocols")
// clang-format on

double
hpt_msg_load (hpt_msg_t *self)
{
    json_t *value = s_get (self, "load");
    return json_is_number (value) ? json_number_value (value) : -1.0;
}

int
hpt_msg_set_load (hpt_msg_t *self, double load)
{
    return s_set (self, "load", json_real (load));
}

double
hpt_msg_cpus (hpt_msg_t *self)
{
    json_t *value = s_get (self, "cpus");
    return json_is_number (value) ? json_number_value (value) : 0;
}

int
hpt_msg_set_cpus (hpt_msg_t *self, double cpus)
{
    return s_set (self, "cpus", json_real (cpus));
}

int64_t
hpt_msg_port_low (hpt_msg_t *self)
{
    return (int64_t)json_integer_value (json_array_get (s_get (self, "ports"), 0));
}

int64_t
hpt_msg_port_high (hpt_msg_t *self)
{
    return (int64_t)json_integer_value (json_array_get (s_get (self, "ports"), 1));
}

int
hpt_msg_set_ports (hpt_msg_t *self, int64_t low, int64_t high)
{
    return s_set (self, "ports", json_pack ("[II]", (json_int_t)low, (json_int_t)high));
}

//  LOGS data: plain text when it can be a JSON string (UTF-8, no NUL),
//  base64 otherwise; see PROTOCOL.md.
int
hpt_msg_set_data (hpt_msg_t *self, const void *data, size_t size)
{
    if (!self || !s_field (self->id, "data") || (!data && size)) return -1;
    free (self->data);
    self->data = NULL;
    json_t *text =
        memchr (data ? data : "", 0, size) ? NULL : json_stringn (data ? data : "", size);
    if (text) {
        json_object_del (self->body, "encoding");
        return s_set (self, "data", text);
    }
    char *armoured = s_base64_encode (data, size);
    int rc = s_set (self, "data", json_string (armoured));
    free (armoured);
    return rc ? rc : s_set (self, "encoding", json_string ("base64"));
}

const void *
hpt_msg_data (hpt_msg_t *self, size_t *size)
{
    json_t *data = s_get (self, "data");
    if (size) *size = 0;
    if (!json_is_string (data)) return NULL;
    size_t length = json_string_length (data);
    if (!s_get (self, "encoding")) {
        if (size) *size = length;
        return json_string_value (data);
    }
    if (!self->data) {
        self->data = hpt_malloc (length / 4 * 3 + 1);
        long n = s_base64_decode (json_string_value (data), length, self->data);
        self->data_size = n < 0 ? 0 : (size_t)n;
        self->data[self->data_size] = 0;
    }
    if (size) *size = self->data_size;
    return self->data;
}

int
hpt_msg_set_env_var (hpt_msg_t *self, const char *name, const char *value)
{
    if (!self || !name || !value || !s_field (self->id, "env")) return -1;
    json_t *env = s_get (self, "env");
    if (!json_is_object (env)) {
        env = json_object ();
        json_object_set_new (self->body, "env", env);
    }
    json_t *text = json_string (value);
    return text ? json_object_set_new (env, name, text) : -1;
}

const char *
hpt_msg_env_var (hpt_msg_t *self, const char *name)
{
    return name ? json_string_value (json_object_get (s_get (self, "env"), name)) : NULL;
}

json_t *
hpt_msg_env (hpt_msg_t *self)
{
    json_t *env = s_get (self, "env");
    return json_is_object (env) ? env : NULL;
}

int
hpt_msg_add_task (hpt_msg_t *self, const char *task_id, int64_t pid, const char *state)
{
    if (!task_id || !state) return -1;
    return s_append (
        self, "tasks",
        json_pack ("{s:s, s:I, s:s}", "taskId", task_id, "pid", (json_int_t)pid, "state", state));
}

size_t
hpt_msg_task_count (hpt_msg_t *self)
{
    return s_count (self, "tasks");
}

int
hpt_msg_task_at (hpt_msg_t *self, size_t index, const char **task_id, int64_t *pid,
                 const char **state)
{
    json_t *task = json_array_get (s_get (self, "tasks"), index);
    if (!json_is_object (task)) return -1;
    if (task_id) *task_id = json_string_value (json_object_get (task, "taskId"));
    if (pid) *pid = (int64_t)json_integer_value (json_object_get (task, "pid"));
    if (state) *state = json_string_value (json_object_get (task, "state"));
    return 0;
}

int
hpt_msg_add_point (hpt_msg_t *self, const char *tag, double value, int64_t step, int64_t time_ms)
{
    json_t *number = json_real (value);
    json_t *text = tag ? json_string (tag) : NULL;
    if (!number || !text) {
        json_decref (number);
        json_decref (text);
        return -1;
    }
    json_t *point = json_object ();
    json_object_set_new (point, "tag", text);
    json_object_set_new (point, "value", number);
    if (step >= 0) json_object_set_new (point, "step", json_integer ((json_int_t)step));
    json_object_set_new (point, "time", json_integer ((json_int_t)time_ms));
    return s_append (self, "points", point);
}

size_t
hpt_msg_point_count (hpt_msg_t *self)
{
    return s_count (self, "points");
}

int
hpt_msg_point_at (hpt_msg_t *self, size_t index, const char **tag, double *value, int64_t *step,
                  int64_t *time_ms)
{
    json_t *point = json_array_get (s_get (self, "points"), index);
    if (!json_is_object (point)) return -1;
    json_t *step_value = json_object_get (point, "step");
    if (tag) *tag = json_string_value (json_object_get (point, "tag"));
    if (value) *value = json_number_value (json_object_get (point, "value"));
    if (step) *step = json_is_integer (step_value) ? (int64_t)json_integer_value (step_value) : -1;
    if (time_ms) *time_ms = (int64_t)json_integer_value (json_object_get (point, "time"));
    return 0;
}

json_t *
hpt_msg_resources (hpt_msg_t *self)
{
    json_t *resources = s_get (self, "resources");
    return json_is_object (resources) ? resources : NULL;
}

int
hpt_msg_set_resources (hpt_msg_t *self, json_t *resources)
{
    return resources ? s_set (self, "resources", json_deep_copy (resources)) : -1;
}
