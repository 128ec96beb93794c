/*  hpt_cluster_config -- the master's cluster.yaml

    How it is read. The file is loaded into an hpt_tree (every node keeps
    its line and column) and walked by one decoder per object, in the
    manner of hpt_job_reader: a table of known keys with a handler each,
    unknown keys reported with the closest known name, then the rules that
    tie fields together. The current field path is a stack of segments, so
    every problem names its field ("machineTypes.gpu_box.accelerators.count").

    Schema (every field optional; defaults in hpt_cluster_config.h):

        master:
          agents: tcp://HOST:PORT | ipc://PATH     ZeroMQ endpoint to bind
          api: HOST:PORT                           HTTP API (port 0 = any free one)
          stateDir: PATH                           SQLite database and logs
          heartbeatInterval, agentTimeout, stopGracePeriod: DURATION
          agentLostPolicy: fail | requeue
          seed: INTEGER >= 0
        machineTypes:
          NAME: {cpus: >0, memoryGb: >=0, accelerators: {type: ACCEL, count: >=1}}
        scaleTiers:
          TIER: {master: TYPE, worker: TYPE | {type: TYPE, count: N}, parameterServer: ...,
                 evaluator: ...}

    A DURATION is "Ns", "N.Ns" or "Nms" (kept in whole milliseconds). A
    machine type definition replaces the built-in one of the same name
    whole (cpus and memoryGb are required; no accelerators means none). A
    tier definition replaces the built-in tier whole; only the names a job
    can ask for (BASIC, STANDARD_1, PREMIUM_1, BASIC_GPU, BASIC_TPU) may be
    defined, since a job's scaleTier is AI Platform's enum; CUSTOM comes
    from each job's own fields and cannot be defined here. Tiers are checked
    after every machine type is known, so the order of the sections does
    not matter; a tier naming a type defined in this file but invalid is
    not reported a second time.
*/
#include "hpt_cluster_config.h"
#include "hpt_schema.h"
#include "hpt_accel.h"
#include "hpt_job_reader.h"
#include "hpt_tree.h"
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_STRING 4096                  //  any single string
#define S_MAX_DURATION_MS (7LL * 86400000) //  a week: longer is a typo
#define S_MAX_ACCELERATORS 64              //  per machine type
#define S_MAX_CPUS 4096.0                  //  per machine type
#define S_MAX_MEMORY_GB 65536.0            //  per machine type
#define S_IPC_PATH_MAX 107                 //  sun_path less its NUL

HPT_ENUM_DEFINE (hpt_agent_lost_policy, HPT_AGENT_LOST_POLICY_LIST)

struct _hpt_cluster_config_t {
    hpt_master_settings_t master;    //  master: section, defaults filled in
    hpt_machine_catalog_t *machines; //  built-ins plus the file's definitions
};

typedef struct {
    hpt_schema_t schema;          //  where we are, what we found
    hpt_cluster_config_t *config; //  being filled (borrowed)
    hpt_node_t *machine_types;    //  the machineTypes node, for tier checks
    hpt_node_t *scale_tiers;      //  the scaleTiers node, read last
} s_reader_t;

//  ---------------------------------------------------------------------
//  Scalars

//  The text of a non-empty string scalar, or NULL after reporting.
static const char *
s_string (s_reader_t *r, hpt_node_t *node)
{
    if (node->kind != HPT_NODE_SCALAR || hpt_schema_is_null (node)) {
        hpt_schema_error (&r->schema, node, "expected a string, got %s", hpt_node_kind_name (node));
        return NULL;
    }
    if (!*node->text) {
        hpt_schema_error (&r->schema, node, "must not be empty");
        return NULL;
    }
    if (strlen (node->text) > S_MAX_STRING) {
        hpt_schema_error (&r->schema, node, "longer than %d bytes", S_MAX_STRING);
        return NULL;
    }
    return node->text;
}

//  A finite decimal number, or false after reporting.
static bool
s_double (s_reader_t *r, hpt_node_t *node, double *out)
{
    if (node->kind != HPT_NODE_SCALAR || hpt_schema_is_null (node) ||
        node->style == HPT_SCALAR_BOOL) {
        hpt_schema_error (&r->schema, node, "expected a number, got %s", hpt_node_kind_name (node));
        return false;
    }
    const char *text = node->text;
    errno = 0;
    char *end = NULL;
    double value = strtod (text, &end);
    //  strtod also takes "inf", "nan" and hex floats: refuse them.
    bool plain = end != text && *end == '\0' && !strpbrk (text, "xXnNiI");
    if (!plain || !isfinite (value) || errno == ERANGE) {
        hpt_schema_error (&r->schema, node, "expected a number, got '%s'", text);
        return false;
    }
    *out = value;
    return true;
}

//  An integer in [min, max], or false after reporting.
static bool
s_int64 (s_reader_t *r, hpt_node_t *node, int64_t min, int64_t max, int64_t *out)
{
    if (node->kind != HPT_NODE_SCALAR || hpt_schema_is_null (node) ||
        node->style == HPT_SCALAR_BOOL) {
        hpt_schema_error (&r->schema, node, "expected an integer, got %s",
                          hpt_node_kind_name (node));
        return false;
    }
    const char *text = node->text;
    const char *c = text + (*text == '-' || *text == '+');
    bool digits = *c != '\0';
    for (; *c; c++)
        digits &= isdigit ((unsigned char)*c) != 0;
    errno = 0;
    long long value = digits ? strtoll (text, NULL, 10) : 0;
    if (!digits || errno == ERANGE) {
        hpt_schema_error (&r->schema, node, "expected an integer, got '%s'", text);
        return false;
    }
    if (value < min || value > max) {
        if (max == INT64_MAX)
            hpt_schema_error (&r->schema, node, "must be at least %" PRId64 ", got %lld", min,
                              value);
        else
            hpt_schema_error (&r->schema, node,
                              "must be between %" PRId64 " and %" PRId64 ", got %lld", min, max,
                              value);
        return false;
    }
    *out = value;
    return true;
}

//  Writes a millisecond count the way the file spells durations.
static void
s_format_ms (int64_t ms, char *buf, size_t size)
{
    if (ms % 1000 == 0)
        snprintf (buf, size, "%llds", (long long)(ms / 1000));
    else
        snprintf (buf, size, "%lldms", (long long)ms);
}

//  A duration "Ns", "N.Ns" or "Nms" (N.N allowed for ms too) in whole
//  milliseconds, at least min_ms; false after reporting.
static bool
s_duration (s_reader_t *r, hpt_node_t *node, int64_t min_ms, int64_t *out)
{
    if (node->kind != HPT_NODE_SCALAR || hpt_schema_is_null (node)) {
        hpt_schema_error (&r->schema, node, "expected a duration like \"10s\" or \"500ms\", got %s",
                          hpt_node_kind_name (node));
        return false;
    }
    const char *text = node->text;
    size_t len = strlen (text);
    size_t unit = len >= 2 && strcmp (text + len - 2, "ms") == 0 ? 2
                  : len >= 1 && text[len - 1] == 's'             ? 1
                                                                 : 0;
    size_t digits = 0, dots = 0;
    bool ok = unit && len - unit >= 1 && len <= 32;
    for (size_t i = 0; ok && i < len - unit; i++) {
        if (text[i] == '.')
            ok = ++dots == 1 && i > 0 && i + 1 < len - unit;
        else if (isdigit ((unsigned char)text[i]))
            digits++;
        else
            ok = false;
    }
    if (!ok || !digits) {
        hpt_schema_error (&r->schema, node,
                          "expected a duration like \"10s\", \"1.5s\" or \"500ms\", got '%s'",
                          text);
        return false;
    }
    double value = strtod (text, NULL) * (unit == 1 ? 1000.0 : 1.0);
    if (value > (double)S_MAX_DURATION_MS) {
        hpt_schema_error (&r->schema, node, "must be at most 7 days (604800s), got '%s'", text);
        return false;
    }
    int64_t ms = (int64_t)llround (value);
    if (ms < min_ms || (value > 0 && ms == 0)) {
        char least[32];
        s_format_ms (min_ms ? min_ms : 1, least, sizeof (least));
        hpt_schema_error (&r->schema, node, "must be at least %s%s, got '%s'", least,
                          min_ms ? "" : " (or 0s)", text);
        return false;
    }
    *out = ms;
    return true;
}

static bool
s_expect_map (s_reader_t *r, hpt_node_t *node)
{
    if (node->kind == HPT_NODE_MAP) return true;
    hpt_schema_error (&r->schema, node, "expected a mapping, got %s", hpt_node_kind_name (node));
    return false;
}

//  ---------------------------------------------------------------------
//  Objects: a table of known keys and a handler per key

typedef bool (*s_handler_t) (s_reader_t *r, hpt_node_t *value, void *target);

typedef struct {
    const char *key;     //  camelCase field name
    s_handler_t handler; //  converts and checks the value into target
} s_field_t;

#define S_FIELDS(table) table, sizeof (table) / sizeof (table[0])

//  Walks a mapping: runs the handler of each known key with a non-null
//  value and reports unknown keys with a suggestion. False when node is
//  not a mapping.
static bool
s_object (s_reader_t *r, hpt_node_t *node, const s_field_t *fields, size_t count, void *target)
{
    if (!s_expect_map (r, node)) return false;
    const char *names[16];
    size_t name_count = count < 16 ? count : 16;
    for (size_t f = 0; f < name_count; f++)
        names[f] = fields[f].key;
    for (size_t i = 0; i < node->count; i++) {
        const s_field_t *field = NULL;
        for (size_t f = 0; f < count && !field; f++)
            if (strcmp (fields[f].key, node->keys[i]) == 0) field = &fields[f];
        hpt_schema_push_key (&r->schema, node->keys[i]);
        if (field) {
            if (!hpt_schema_is_null (node->items[i])) field->handler (r, node->items[i], target);
        } else {
            const char *hint = hpt_did_you_mean (node->keys[i], names, name_count);
            if (hint)
                hpt_schema_error (&r->schema, node->key_nodes[i],
                                  "unknown field (did you mean '%s'?)", hint);
            else
                hpt_schema_error (&r->schema, node->key_nodes[i], "unknown field");
        }
        hpt_schema_pop (&r->schema);
    }
    return true;
}

//  ---------------------------------------------------------------------
//  master:

static bool
s_host_ok (const char *host, size_t len)
{
    if (len == 0 || len > 253) return false;
    if (host[0] == '[') {
        //  An IPv6 literal: hex digits, ':' and '.' inside brackets.
        if (len < 3 || host[len - 1] != ']') return false;
        for (size_t i = 1; i + 1 < len; i++)
            if (!isxdigit ((unsigned char)host[i]) && host[i] != ':' && host[i] != '.')
                return false;
        return true;
    }
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char)host[i]) && host[i] != '.' && host[i] != '-' && host[i] != '_')
            return false;
    return true;
}

//  Splits "HOST:PORT" at its last ':' and checks both; the port must be in
//  [min_port, 65535].
//  A decimal port in [min_port, 65535].
static bool
s_port (const char *text, long min_port, long *port)
{
    size_t len = strlen (text);
    if (len == 0 || len > 5 || strspn (text, "0123456789") != len) return false;
    *port = strtol (text, NULL, 10);
    return *port >= min_port && *port <= 65535;
}

static bool
s_host_port (const char *text, long min_port, size_t *host_len, long *port)
{
    const char *colon = strrchr (text, ':');
    if (!colon || !s_port (colon + 1, min_port, port)) return false;
    *host_len = (size_t)(colon - text);
    //  "::1:7470" would be ambiguous: IPv6 hosts must be bracketed.
    if (text[0] != '[' && memchr (text, ':', *host_len)) return false;
    return s_host_ok (text, *host_len);
}

static bool
s_m_agents (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_master_settings_t *m = t;
    const char *text = s_string (r, v);
    if (!text) return false;
    bool ok = false;
    size_t host_len;
    long port;
    if (strncmp (text, "tcp://*:", 8) == 0)
        ok = s_port (text + 8, 1, &port); //  ZeroMQ's "every interface"
    else if (strncmp (text, "tcp://", 6) == 0)
        ok = s_host_port (text + 6, 1, &host_len, &port);
    else if (strncmp (text, "ipc://", 6) == 0)
        ok = text[6] != '\0' && strlen (text + 6) <= S_IPC_PATH_MAX;
    if (!ok) {
        hpt_schema_error (&r->schema, v,
                          "expected a ZeroMQ endpoint tcp://HOST:PORT (port 1-65535) or ipc://PATH "
                          "(at most %d bytes), got '%s'",
                          S_IPC_PATH_MAX, text);
        return false;
    }
    free (m->agents);
    m->agents = strdup (text);
    return true;
}

static bool
s_m_api (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_master_settings_t *m = t;
    const char *text = s_string (r, v);
    if (!text) return false;
    size_t host_len;
    long port;
    if (strstr (text, "://") || !s_host_port (text, 0, &host_len, &port)) {
        hpt_schema_error (&r->schema, v,
                          "expected HOST:PORT like 127.0.0.1:7470 (port 0-65535, 0 = any free "
                          "port), got '%s'",
                          text);
        return false;
    }
    free (m->api);
    free (m->api_host);
    m->api = strdup (text);
    if (text[0] == '[')
        m->api_host = strndup (text + 1, host_len - 2);
    else
        m->api_host = strndup (text, host_len);
    m->api_port = (uint16_t)port;
    return true;
}

static bool
s_m_state_dir (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_master_settings_t *m = t;
    const char *text = s_string (r, v);
    if (!text) return false;
    free (m->state_dir);
    m->state_dir = strdup (text);
    return true;
}

static bool
s_m_heartbeat (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_duration (r, v, 1, &((hpt_master_settings_t *)t)->heartbeat_interval_ms);
}

static bool
s_m_timeout (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_duration (r, v, 1, &((hpt_master_settings_t *)t)->agent_timeout_ms);
}

static bool
s_m_grace (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_duration (r, v, 0, &((hpt_master_settings_t *)t)->stop_grace_ms);
}

static bool
s_m_policy (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_master_settings_t *m = t;
    const char *text = s_string (r, v);
    if (!text) return false;
    if (hpt_agent_lost_policy_parse (text, &m->agent_lost_policy) == 0) return true;
    hpt_schema_error (&r->schema, v, "unknown value '%s' (expected fail or requeue)", text);
    return false;
}

static bool
s_m_seed (s_reader_t *r, hpt_node_t *v, void *t)
{
    int64_t seed;
    if (!s_int64 (r, v, 0, INT64_MAX, &seed)) return false;
    ((hpt_master_settings_t *)t)->seed = (uint64_t)seed;
    return true;
}

static const s_field_t s_master_fields[] = {
    {"agents", s_m_agents},          {"api", s_m_api},
    {"stateDir", s_m_state_dir},     {"heartbeatInterval", s_m_heartbeat},
    {"agentTimeout", s_m_timeout},   {"stopGracePeriod", s_m_grace},
    {"agentLostPolicy", s_m_policy}, {"seed", s_m_seed},
};

//  An agent silent for two heartbeats may only have lost two packets: the
//  timeout must leave room for that, or healthy agents flap to LOST.
static void
s_master_rules (s_reader_t *r, hpt_node_t *node, hpt_master_settings_t *m)
{
    if (m->agent_timeout_ms > 2 * m->heartbeat_interval_ms) return;
    char timeout[32], heartbeat[32];
    s_format_ms (m->agent_timeout_ms, timeout, sizeof (timeout));
    s_format_ms (m->heartbeat_interval_ms, heartbeat, sizeof (heartbeat));
    const char *key = hpt_schema_has (node, "agentTimeout") ? "agentTimeout" : "heartbeatInterval";
    hpt_schema_error_child (&r->schema, hpt_node_get (node, key), key,
                            "agentTimeout (%s) must exceed 2 x heartbeatInterval (%s)", timeout,
                            heartbeat);
}

static bool
s_r_master (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_cluster_config_t *config = t;
    bool was_failed = r->schema.failed;
    r->schema.failed = false;
    if (s_object (r, v, S_FIELDS (s_master_fields), &config->master) && !r->schema.failed)
        s_master_rules (r, v, &config->master);
    r->schema.failed |= was_failed;
    return true;
}

//  ---------------------------------------------------------------------
//  machineTypes:

//  Machine type names: letters, digits, '_', '-', '.', a letter or digit
//  first, at most HPT_MACHINE_NAME_MAX - 1 bytes.
static bool
s_name_ok (const char *name)
{
    size_t len = strlen (name);
    if (len == 0 || len >= HPT_MACHINE_NAME_MAX || !isalnum ((unsigned char)name[0])) return false;
    for (const char *c = name; *c; c++)
        if (!isalnum ((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.') return false;
    return true;
}

typedef struct {
    double cpus;            //  cpus
    double memory_gb;       //  memoryGb
    const char *accel_type; //  accelerators.type (borrowed from the tree)
    int64_t accel_count;    //  accelerators.count
    bool ok;                //  every field read without a problem
} s_type_t;

static bool
s_a_type (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_type_t *type = t;
    const char *text = s_string (r, v);
    if (!text) return type->ok = false;
    if (!hpt_accel_lookup (text)) {
        size_t count;
        const hpt_accel_info_t *table = hpt_accel_table (&count);
        const char *names[64];
        for (size_t i = 0; i < count && i < 64; i++)
            names[i] = table[i].name;
        const char *hint = hpt_did_you_mean (text, names, count < 64 ? count : 64);
        if (hint)
            hpt_schema_error (&r->schema, v, "unknown accelerator type '%s' (did you mean %s?)",
                              text, hint);
        else
            hpt_schema_error (&r->schema, v,
                              "unknown accelerator type '%s' (see README, Accelerator types)",
                              text);
        return type->ok = false;
    }
    type->accel_type = text;
    return true;
}

static bool
s_a_count (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_type_t *type = t;
    if (!s_int64 (r, v, 1, S_MAX_ACCELERATORS, &type->accel_count)) return type->ok = false;
    return true;
}

static const s_field_t s_accel_fields[] = {{"type", s_a_type}, {"count", s_a_count}};

static bool
s_t_cpus (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_type_t *type = t;
    if (!s_double (r, v, &type->cpus)) return type->ok = false;
    if (!(type->cpus > 0) || type->cpus > S_MAX_CPUS) {
        hpt_schema_error (&r->schema, v,
                          "must be positive and at most %g (fractions are allowed), got %s",
                          S_MAX_CPUS, v->text);
        return type->ok = false;
    }
    return true;
}

static bool
s_t_memory (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_type_t *type = t;
    if (!s_double (r, v, &type->memory_gb)) return type->ok = false;
    if (type->memory_gb < 0 || type->memory_gb > S_MAX_MEMORY_GB) {
        hpt_schema_error (&r->schema, v, "must be between 0 and %g, got %s", S_MAX_MEMORY_GB,
                          v->text);
        return type->ok = false;
    }
    return true;
}

static bool
s_t_accel (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_type_t *type = t;
    if (!s_object (r, v, S_FIELDS (s_accel_fields), type)) return type->ok = false;
    if (!hpt_schema_has (v, "type")) {
        hpt_schema_error_child (&r->schema, v, "type",
                                "required field is missing (an accelerator type such as "
                                "NVIDIA_TESLA_V100)");
        return type->ok = false;
    }
    return true;
}

static const s_field_t s_type_fields[] = {
    {"cpus", s_t_cpus}, {"memoryGb", s_t_memory}, {"accelerators", s_t_accel}};

//  Reads one machine type definition and adds it to the catalog when it
//  has no problem.
static void
s_machine_type (s_reader_t *r, hpt_node_t *key, hpt_node_t *v)
{
    if (!s_name_ok (key->text)) {
        hpt_schema_error (&r->schema, key,
                          "'%s' is not a usable machine type name: a letter or digit first, then "
                          "letters, digits, '_', '-' or '.' (at most %d)",
                          key->text, HPT_MACHINE_NAME_MAX - 1);
        return;
    }
    s_type_t type = {0, 0, NULL, 1, true};
    if (!s_object (r, v, S_FIELDS (s_type_fields), &type)) return;
    //  A definition replaces the type whole: half a definition would
    //  silently inherit the built-in's other figures.
    if (!hpt_schema_has (v, "cpus"))
        hpt_schema_error_child (&r->schema, v, "cpus", "required field is missing"),
            type.ok = false;
    if (!hpt_schema_has (v, "memoryGb"))
        hpt_schema_error_child (&r->schema, v, "memoryGb", "required field is missing"),
            type.ok = false;
    if (type.ok)
        hpt_machine_catalog_set_type (r->config->machines, key->text, type.cpus, type.memory_gb,
                                      type.accel_type, type.accel_type ? type.accel_count : 0);
}

static bool
s_r_machine_types (s_reader_t *r, hpt_node_t *v, void *t)
{
    (void)t;
    if (!s_expect_map (r, v)) return false;
    r->machine_types = v;
    for (size_t i = 0; i < v->count; i++) {
        hpt_schema_push_key (&r->schema, v->keys[i]);
        s_machine_type (r, v->key_nodes[i], v->items[i]);
        hpt_schema_pop (&r->schema);
    }
    return true;
}

//  ---------------------------------------------------------------------
//  scaleTiers:

typedef struct {
    hpt_tier_replica_t *replica; //  being filled (type borrowed from the tree)
    bool master;                 //  the master kind: count must be 1
    bool ok;                     //  no problem so far
} s_replica_t;

//  Checks that a replica's machine type exists: built in, or defined in
//  this file (a definition with its own problems counts, so it is not
//  reported twice).
static bool
s_type_known (s_reader_t *r, hpt_node_t *v, const char *name)
{
    if (hpt_machine_catalog_type (r->config->machines, name)) return true;
    if (r->machine_types && hpt_node_get (r->machine_types, name)) return false;
    const char *hint = hpt_machine_catalog_suggest_type (r->config->machines, name);
    if (hint)
        hpt_schema_error (&r->schema, v, "unknown machine type '%s' (did you mean '%s'?)", name,
                          hint);
    else
        hpt_schema_error (
            &r->schema, v,
            "unknown machine type '%s' (neither built in nor defined under machineTypes)", name);
    return false;
}

static bool
s_rep_type (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_replica_t *rep = t;
    const char *text = s_string (r, v);
    if (!text || !s_type_known (r, v, text)) return rep->ok = false;
    rep->replica->type = (char *)text;
    return true;
}

static bool
s_rep_count (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_replica_t *rep = t;
    if (!s_int64 (r, v, 0, HPT_MACHINE_MAX_REPLICAS, &rep->replica->count)) return rep->ok = false;
    if (rep->master && rep->replica->count != 1) {
        hpt_schema_error (&r->schema, v,
                          "a cluster has exactly one master: count must be 1, got %lld",
                          (long long)rep->replica->count);
        return rep->ok = false;
    }
    return true;
}

static const s_field_t s_replica_fields[] = {{"type", s_rep_type}, {"count", s_rep_count}};

//  A replica kind: a machine type name (one replica) or {type, count}.
static bool
s_tier_replica (s_reader_t *r, hpt_node_t *v, hpt_tier_replica_t *replica, bool master)
{
    s_replica_t rep = {replica, master, true};
    replica->count = 1;
    if (v->kind == HPT_NODE_SCALAR) return s_rep_type (r, v, &rep);
    if (v->kind != HPT_NODE_MAP) {
        hpt_schema_error (&r->schema, v, "expected a machine type name or {type, count}, got %s",
                          hpt_node_kind_name (v));
        return false;
    }
    s_object (r, v, S_FIELDS (s_replica_fields), &rep);
    if (rep.ok && replica->count > 0 && !hpt_schema_has (v, "type")) {
        hpt_schema_error_child (&r->schema, v, "type",
                                "required field is missing (a machine type)");
        return false;
    }
    return rep.ok;
}

static bool
s_tier_master (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_tier_replica (r, v, &((hpt_scale_tier_def_t *)t)->master, true);
}

static bool
s_tier_worker (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_tier_replica (r, v, &((hpt_scale_tier_def_t *)t)->worker, false);
}

static bool
s_tier_ps (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_tier_replica (r, v, &((hpt_scale_tier_def_t *)t)->parameter_server, false);
}

static bool
s_tier_evaluator (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_tier_replica (r, v, &((hpt_scale_tier_def_t *)t)->evaluator, false);
}

static const s_field_t s_tier_fields[] = {{"master", s_tier_master},
                                          {"worker", s_tier_worker},
                                          {"parameterServer", s_tier_ps},
                                          {"evaluator", s_tier_evaluator}};

//  Reads one tier and replaces the built-in one when it has no problem.
static void
s_scale_tier (s_reader_t *r, hpt_node_t *key, hpt_node_t *v)
{
    const char *name = key->text;
    if (strcmp (name, "CUSTOM") == 0) {
        hpt_schema_error (&r->schema, key,
                          "CUSTOM cannot be redefined: its replicas come from each job's "
                          "masterType, workerType, parameterServerType, evaluatorType and counts");
        return;
    }
    hpt_scale_tier_t known;
    if (hpt_scale_tier_parse (name, &known) != 0) {
        //  CUSTOM, the last tier, is refused above: suggest among the others.
        const char *hint =
            hpt_did_you_mean (name, hpt_scale_tier_enum.names, HPT_SCALE_TIER_CUSTOM);
        hpt_schema_error (&r->schema, key,
                          "unknown scale tier '%s'%s%s%s: a job's scaleTier can only name BASIC, "
                          "STANDARD_1, PREMIUM_1, BASIC_GPU, BASIC_TPU (or CUSTOM)",
                          name, hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
        return;
    }
    //  Replica types point into the tree: the catalog copies them.
    hpt_scale_tier_def_t tier = {.name = (char *)name};
    bool was_failed = r->schema.failed;
    r->schema.failed = false;
    if (s_object (r, v, S_FIELDS (s_tier_fields), &tier)) {
        if (!hpt_schema_has (v, "master"))
            hpt_schema_error_child (&r->schema, v, "master",
                                    "required field is missing (the master's machine "
                                    "type)");
        //  A kind given with count 0 has no replicas: drop its type.
        hpt_tier_replica_t *kinds[] = {&tier.worker, &tier.parameter_server, &tier.evaluator};
        for (size_t k = 0; k < 3; k++)
            if (kinds[k]->count == 0) kinds[k]->type = NULL;
        if (!r->schema.failed) hpt_machine_catalog_set_tier (r->config->machines, &tier);
    }
    r->schema.failed |= was_failed;
}

static void
s_scale_tiers (s_reader_t *r, hpt_node_t *v)
{
    hpt_schema_push_key (&r->schema, "scaleTiers");
    if (s_expect_map (r, v))
        for (size_t i = 0; i < v->count; i++) {
            hpt_schema_push_key (&r->schema, v->keys[i]);
            s_scale_tier (r, v->key_nodes[i], v->items[i]);
            hpt_schema_pop (&r->schema);
        }
    hpt_schema_pop (&r->schema);
}

static bool
s_r_scale_tiers (s_reader_t *r, hpt_node_t *v, void *t)
{
    (void)t;
    //  Read after the machine types, wherever they are in the file.
    r->scale_tiers = v;
    return true;
}

static const s_field_t s_root_fields[] = {
    {"master", s_r_master}, {"machineTypes", s_r_machine_types}, {"scaleTiers", s_r_scale_tiers}};

//  ---------------------------------------------------------------------
//  The configuration

hpt_cluster_config_t *
hpt_cluster_config_new (void)
{
    hpt_cluster_config_t *self = calloc (1, sizeof (*self));
    if (!self) return NULL;
    hpt_master_settings_t *m = &self->master;
    m->agents = strdup (HPT_CLUSTER_DEFAULT_AGENTS);
    m->api = strdup (HPT_CLUSTER_DEFAULT_API);
    m->api_host = strdup ("127.0.0.1");
    m->api_port = 7470;
    m->state_dir = strdup (HPT_CLUSTER_DEFAULT_STATE_DIR);
    m->heartbeat_interval_ms = 1000;
    m->agent_timeout_ms = 10000;
    m->stop_grace_ms = 10000;
    m->agent_lost_policy = HPT_AGENT_LOST_FAIL;
    m->seed = 0;
    self->machines = hpt_machine_catalog_new ();
    if (!m->agents || !m->api || !m->api_host || !m->state_dir || !self->machines)
        hpt_cluster_config_destroy (&self);
    return self;
}

void
hpt_cluster_config_destroy (hpt_cluster_config_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_cluster_config_t *self = *self_p;
    free (self->master.agents);
    free (self->master.api);
    free (self->master.api_host);
    free (self->master.state_dir);
    hpt_machine_catalog_destroy (&self->machines);
    free (self);
    *self_p = NULL;
}

//  True when text holds no YAML content: blank lines, comments, document
//  markers. libyaml sees no document there, and an empty cluster file
//  means "all defaults".
static bool
s_blank (const char *text, size_t size)
{
    size_t i = 0;
    while (i < size) {
        while (i < size && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
            i++;
        size_t start = i;
        while (i < size && text[i] != '\n')
            i++;
        size_t len = i - start;
        const char *line = text + start;
        bool marker = len >= 3 && (strncmp (line, "---", 3) == 0 || strncmp (line, "...", 3) == 0);
        if (marker) {
            //  Only whitespace or a comment may follow a document marker.
            size_t rest = 3;
            while (rest < len && (line[rest] == ' ' || line[rest] == '\t' || line[rest] == '\r'))
                rest++;
            marker = rest == 3 ? len == 3 : rest == len || line[rest] == '#';
        }
        if (len > 0 && line[0] != '#' && !marker) return false;
        i++;
    }
    return true;
}

hpt_cluster_config_t *
hpt_cluster_config_read_text (const char *text, size_t size, hpt_diag_t *diag)
{
    hpt_cluster_config_t *self = hpt_cluster_config_new ();
    if (!self) {
        hpt_diag_add (diag, 0, 0, NULL, NULL, "out of memory");
        return NULL;
    }
    if (s_blank (text, size)) return self;
    hpt_tree_error_t error;
    hpt_node_t *root = hpt_tree_from_yaml (text, size, &error);
    if (!root) {
        hpt_diag_add (diag, error.line, error.column, NULL, NULL, error.message);
        hpt_cluster_config_destroy (&self);
        return NULL;
    }
    s_reader_t r;
    memset (&r, 0, sizeof (r));
    hpt_schema_init (&r.schema, diag);
    r.config = self;
    if (!hpt_schema_is_null (root) && s_object (&r, root, S_FIELDS (s_root_fields), self) &&
        r.scale_tiers && !hpt_schema_is_null (r.scale_tiers))
        s_scale_tiers (&r, r.scale_tiers);
    hpt_node_destroy (&root);
    if (r.schema.failed) {
        hpt_cluster_config_destroy (&self);
        hpt_diag_sort (diag);
    }
    return self;
}

hpt_cluster_config_t *
hpt_cluster_config_read_file (const char *path, hpt_diag_t *diag)
{
    char error[256];
    size_t size = 0;
    char *text = hpt_read_file (path, HPT_TREE_MAX_BYTES, &size, error, sizeof (error));
    if (!text) {
        hpt_diag_add (diag, 0, 0, NULL, NULL, error);
        return NULL;
    }
    hpt_cluster_config_t *self = hpt_cluster_config_read_text (text, size, diag);
    free (text);
    return self;
}

const hpt_master_settings_t *
hpt_cluster_config_master (hpt_cluster_config_t *self)
{
    return &self->master;
}

hpt_machine_catalog_t *
hpt_cluster_config_machines (hpt_cluster_config_t *self)
{
    return self->machines;
}

int
hpt_cluster_config_tasks (hpt_cluster_config_t *self, hpt_job_t *job, hpt_task_spec_t **tasks,
                          size_t *count, char **error)
{
    return hpt_machine_catalog_tasks (self->machines, job, tasks, count, error);
}
