/*  hpt_cluster_config -- the master's cluster.yaml

    How it is read. The file is loaded into an hpt_tree (every node keeps
    its line and column) and walked with hpt_schema, as every config
    reader is: a field table per object with a handler per known key,
    unknown keys reported with the closest known name, then the rules that
    tie fields together. hpt_schema keeps the field path, so every problem
    names its field ("machineTypes.gpu_box.accelerators.count").

    Schema (every field optional; defaults in hpt_cluster_config.h):

        master:
          agents: tcp://HOST:PORT | ipc://PATH     ZeroMQ endpoint to bind
          api: HOST:PORT                           HTTP API (port 0 = any free one)
          stateDir: PATH                           SQLite database and logs
          heartbeatInterval, agentTimeout, stopGracePeriod: DURATION
          agentLostPolicy: fail | requeue
          seed: INTEGER >= 0
          maxAgents: INTEGER >= 1
          maxParallelTrials: INTEGER >= 1            most a job may ask for (default 1000)
          security: {curve: {cert: FILE, agentCerts: DIR}, insecure: BOOL}
          tls: {cert: FILE, key: FILE}             HTTPS for the API (both required)
        machineTypes:
          NAME: {cpus: >0, memoryGb: >=0, accelerators: {type: ACCEL, count: >=1}}
        scaleTiers:
          TIER: {master: TYPE, worker: TYPE | {type: TYPE, count: N}, parameterServer: ...,
                 evaluator: ...}
        slurm:                                     trials as Slurm jobs (docs/slurm.md)
          partition: NAME (required), account, qos, reservation: NAME
          sbatchArgs: [--OPTION[=VALUE], ...]      none that hpt sets itself
          agentCommand, workdir: ABSOLUTE PATH     written into the job's script
          master: tcp://HOST:PORT                  the agents endpoint as nodes reach it
          use: always | overflow
          maxJobs: INTEGER >= 1
          pollInterval, commandTimeout: DURATION

    A DURATION is "Ns", "N.Ns" or "Nms" (kept in whole milliseconds). A
    machine type definition replaces the built-in one of the same name
    whole (cpus and memoryGb are required; no accelerators means none). A
    tier definition replaces the built-in tier whole; only the names a job
    can ask for (hpt_job.h's scale tiers but CUSTOM) may be defined, since
    a job's scaleTier is AI Platform's enum; CUSTOM comes from each job's
    own fields and cannot be defined here. Tiers are checked after every
    machine type is known, so the order of the sections does not matter; a
    tier naming a type defined in this file but invalid is not reported a
    second time. A part is applied only when it has no problem of its own
    (the reader compares hpt_schema's problem count before and after it).
*/
#include "hpt_cluster_config.h"
#include "hpt_keys.h"
#include "hpt_alloc.h"
#include "hpt_schema.h"
#include "hpt_tree.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_DURATION_MS (7LL * 86400000) //  a week: longer is a typo
#define S_MAX_ACCELERATORS 64              //  per machine type
#define S_MAX_CPUS 4096.0                  //  per machine type
#define S_MAX_MEMORY_GB 65536.0            //  per machine type
#define S_IPC_PATH_MAX 107                 //  sun_path less its NUL

HPT_ENUM_DEFINE (hpt_agent_lost_policy, HPT_AGENT_LOST_POLICY_LIST)
HPT_ENUM_DEFINE (hpt_slurm_use, HPT_SLURM_USE_LIST)

struct _hpt_cluster_config_t {
    hpt_master_settings_t master;    //  master: section, defaults filled in
    hpt_slurm_settings_t slurm;      //  slurm: section, defaults filled in
    hpt_machine_catalog_t *machines; //  built-ins plus the file's definitions
};

typedef struct {
    hpt_schema_t schema;          //  first: handlers get it and cast it back
    hpt_cluster_config_t *config; //  being filled (borrowed)
    hpt_node_t *machine_types;    //  the machineTypes node, for tier checks
    hpt_node_t *scale_tiers;      //  the scaleTiers node, read last
} s_reader_t;

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

//  A decimal port in [min_port, 65535].
static bool
s_port (const char *text, long min_port, long *port)
{
    size_t len = strlen (text);
    if (len == 0 || len > 5 || strspn (text, "0123456789") != len) return false;
    *port = strtol (text, NULL, 10);
    return *port >= min_port && *port <= 65535;
}

//  Splits "HOST:PORT" at its last ':' and checks both; the port must be in
//  [min_port, 65535].
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
s_m_agents (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_master_settings_t *m = t;
    const char *text = hpt_schema_text (r, v, true);
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
        hpt_schema_error (r, v,
                          "expected a ZeroMQ endpoint tcp://HOST:PORT (port 1-65535) or ipc://PATH "
                          "(at most %d bytes), got '%s'",
                          S_IPC_PATH_MAX, text);
        return false;
    }
    free (m->agents);
    m->agents = hpt_strdup (text);
    return true;
}

static bool
s_m_api (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_master_settings_t *m = t;
    const char *text = hpt_schema_text (r, v, true);
    if (!text) return false;
    size_t host_len;
    long port;
    if (strstr (text, "://") || !s_host_port (text, 0, &host_len, &port)) {
        hpt_schema_error (r, v,
                          "expected HOST:PORT like 127.0.0.1:7470 (port 0-65535, 0 = any free "
                          "port), got '%s'",
                          text);
        return false;
    }
    free (m->api);
    free (m->api_host);
    m->api = hpt_strdup (text);
    //  The host as the socket layer takes it: an IPv6 literal unbracketed.
    if (text[0] == '[')
        m->api_host = hpt_strndup (text + 1, host_len - 2);
    else
        m->api_host = hpt_strndup (text, host_len);
    m->api_port = (uint16_t)port;
    return true;
}

static bool
s_m_seed (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    int64_t seed;
    if (!hpt_schema_int64 (r, v, 0, INT64_MAX, &seed)) return false;
    ((hpt_master_settings_t *)t)->seed = (uint64_t)seed;
    return true;
}

//  master.security.curve: both files are required together.
static const hpt_schema_field_t s_curve_fields[] = {
    HPT_SCHEMA_ENTRY ("cert", hpt_schema_nonempty_field,
                      .required = "the master's secret certificate file",
                      .offset = offsetof (hpt_master_settings_t, curve_cert)),
    HPT_SCHEMA_ENTRY ("agentCerts", hpt_schema_nonempty_field,
                      .required = "the directory of admitted agents' public certificates",
                      .offset = offsetof (hpt_master_settings_t, curve_agent_certs)),
};

static bool
s_m_curve (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_curve_fields), t);
}

//  master.apiHostNames: the names a browser may use for the API (its Host
//  header); the defaults (the api address, localhost, 127.0.0.1, [::1])
//  are always in.
static bool
s_m_host_names (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_master_settings_t *m = t;
    char **names = NULL;
    size_t count = 0;
    if (!hpt_schema_strings (r, v, 64, true, &names, &count)) return false;
    for (size_t i = 0; i < m->api_host_name_count; i++)
        free (m->api_host_names[i]);
    free (m->api_host_names);
    m->api_host_names = names;
    m->api_host_name_count = count;
    return true;
}

static const hpt_schema_field_t s_security_fields[] = {
    HPT_SCHEMA_FIELD ("curve", s_m_curve),
    HPT_SCHEMA_BOOL ("insecure", hpt_master_settings_t, insecure),
};

static bool
s_m_security (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_security_fields), t);
}

//  master.tls: the API's certificate and key, required together (a
//  certificate without its key cannot serve, and a lone key is a typo).
static const hpt_schema_field_t s_tls_fields[] = {
    HPT_SCHEMA_ENTRY ("cert", hpt_schema_nonempty_field,
                      .required = "the API's PEM certificate file, e.g. server.pem from hptmaster "
                                  "certgen",
                      .offset = offsetof (hpt_master_settings_t, tls_cert)),
    HPT_SCHEMA_ENTRY ("key", hpt_schema_nonempty_field,
                      .required = "the certificate's PEM key file, e.g. server.key from hptmaster "
                                  "certgen",
                      .offset = offsetof (hpt_master_settings_t, tls_key)),
};

static bool
s_m_tls (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_tls_fields), t);
}

#define S_MILLIS(key, member, min)                                                                 \
    HPT_SCHEMA_MILLIS (key, hpt_master_settings_t, member, min, S_MAX_DURATION_MS)

static const hpt_schema_field_t s_master_fields[] = {
    HPT_SCHEMA_FIELD ("agents", s_m_agents),
    HPT_SCHEMA_FIELD ("api", s_m_api),
    HPT_SCHEMA_NONEMPTY ("stateDir", hpt_master_settings_t, state_dir),
    S_MILLIS ("heartbeatInterval", heartbeat_interval_ms, 1),
    S_MILLIS ("agentTimeout", agent_timeout_ms, 1),
    S_MILLIS ("stopGracePeriod", stop_grace_ms, 0),
    HPT_SCHEMA_ENUM ("agentLostPolicy", hpt_master_settings_t, agent_lost_policy,
                     hpt_agent_lost_policy_enum, 0),
    HPT_SCHEMA_FIELD ("seed", s_m_seed),
    HPT_SCHEMA_INT64 ("maxAgents", hpt_master_settings_t, max_agents, 1, 1000000),
    HPT_SCHEMA_INT64 ("maxParallelTrials", hpt_master_settings_t, max_parallel_trials, 1, 1000000),
    HPT_SCHEMA_FIELD ("security", s_m_security),
    HPT_SCHEMA_FIELD ("apiHostNames", s_m_host_names),
    HPT_SCHEMA_STRING ("apiSocket", hpt_master_settings_t, api_socket),
    HPT_SCHEMA_INT64 ("apiRequestsPerSecond", hpt_master_settings_t, api_rate, 1, 1000000),
    HPT_SCHEMA_FIELD ("tls", s_m_tls),
};

//  An agent silent for two heartbeats may only have lost two packets: the
//  timeout must leave room for that, or healthy agents flap to LOST.
static void
s_master_rules (hpt_schema_t *r, hpt_node_t *node, hpt_master_settings_t *m)
{
    if (!m->curve_cert && !m->insecure && !hpt_keys_local_endpoint (m->agents))
        hpt_schema_error_child (r, hpt_node_get (node, "agents"), "agents",
                                "%s can be reached from other hosts: set master.security.curve "
                                "(cert, agentCerts) so that only enrolled agents can connect, or "
                                "master.security.insecure: true to accept anyone (see "
                                "docs/security.md)",
                                m->agents);
    if (m->agent_timeout_ms > 2 * m->heartbeat_interval_ms) return;
    char timeout[32], heartbeat[32];
    hpt_schema_millis_text (m->agent_timeout_ms, timeout, sizeof (timeout));
    hpt_schema_millis_text (m->heartbeat_interval_ms, heartbeat, sizeof (heartbeat));
    const char *key = hpt_schema_has (node, "agentTimeout") ? "agentTimeout" : "heartbeatInterval";
    hpt_schema_error_child (r, hpt_node_get (node, key), key,
                            "agentTimeout (%s) must exceed 2 x heartbeatInterval (%s)", timeout,
                            heartbeat);
}

static bool
s_r_master (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_master_settings_t *m = &((hpt_cluster_config_t *)t)->master;
    size_t before = r->problems;
    //  The timing rule only makes sense between values that were read.
    if (hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_master_fields), m) && r->problems == before)
        s_master_rules (r, v, m);
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
    const char *accel_type; //  accelerators.type (static, hpt_accel's name)
    int64_t accel_count;    //  accelerators.count
} s_type_t;

static bool
s_a_type (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    const hpt_accel_info_t *info = hpt_schema_accel (r, v);
    if (!info) return false;
    ((s_type_t *)t)->accel_type = info->name;
    return true;
}

static const hpt_schema_field_t s_accel_fields[] = {
    HPT_SCHEMA_REQUIRED ("type", s_a_type, "an accelerator type such as NVIDIA_TESLA_V100"),
    HPT_SCHEMA_INT64 ("count", s_type_t, accel_count, 1, S_MAX_ACCELERATORS),
};

static bool
s_t_accel (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    return hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_accel_fields), t);
}

//  A definition replaces the type whole: half a definition would silently
//  inherit the built-in's other figures, so cpus and memoryGb are required.
static const hpt_schema_field_t s_type_fields[] = {
    HPT_SCHEMA_ENTRY ("cpus", hpt_schema_double_field, .required = "",
                      .offset = offsetof (s_type_t, cpus), .range = {0, S_MAX_CPUS, true}),
    HPT_SCHEMA_ENTRY ("memoryGb", hpt_schema_double_field, .required = "",
                      .offset = offsetof (s_type_t, memory_gb),
                      .range = {0, S_MAX_MEMORY_GB, false}),
    HPT_SCHEMA_FIELD ("accelerators", s_t_accel),
};

//  Reads one machine type definition and adds it to the catalog when it
//  has no problem.
static bool
s_machine_type (hpt_schema_t *r, hpt_node_t *parent, size_t i, void *t)
{
    hpt_node_t *key = parent->key_nodes[i];
    if (!s_name_ok (key->text)) {
        hpt_schema_error (r, key,
                          "'%s' is not a usable machine type name: a letter or digit first, then "
                          "letters, digits, '_', '-' or '.' (at most %d)",
                          key->text, HPT_MACHINE_NAME_MAX - 1);
        return false;
    }
    s_type_t type = {0, 0, NULL, 1};
    size_t before = r->problems;
    hpt_schema_object (r, parent->items[i], HPT_SCHEMA_FIELDS (s_type_fields), &type);
    if (r->problems != before) return false;
    hpt_machine_catalog_set_type (((s_reader_t *)r)->config->machines, key->text, type.cpus,
                                  type.memory_gb, type.accel_type,
                                  type.accel_type ? type.accel_count : 0);
    return true;
}

static bool
s_r_machine_types (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    ((s_reader_t *)r)->machine_types = v;
    return hpt_schema_map (r, v, SIZE_MAX, "machine types", s_machine_type, NULL);
}

//  ---------------------------------------------------------------------
//  scaleTiers:

typedef struct {
    hpt_tier_replica_t *replica; //  being filled (type borrowed from the tree)
    bool master;                 //  the master kind: count must be 1
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
s_rep_type (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    s_replica_t *rep = t;
    const char *text = hpt_schema_text (r, v, true);
    if (!text || !s_type_known ((s_reader_t *)r, v, text)) return false;
    rep->replica->type = (char *)text;
    return true;
}

static bool
s_rep_count (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    s_replica_t *rep = t;
    if (!hpt_schema_int64 (r, v, 0, HPT_MACHINE_MAX_REPLICAS, &rep->replica->count)) return false;
    if (rep->master && rep->replica->count != 1) {
        hpt_schema_error (r, v, "a cluster has exactly one master: count must be 1, got %lld",
                          (long long)rep->replica->count);
        return false;
    }
    return true;
}

static const hpt_schema_field_t s_replica_fields[] = {
    HPT_SCHEMA_FIELD ("type", s_rep_type),
    HPT_SCHEMA_FIELD ("count", s_rep_count),
};

//  A replica kind: a machine type name (one replica) or {type, count}; the
//  table's offset says which kind of the tier.
static bool
s_tier_replica (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    s_replica_t rep = {(hpt_tier_replica_t *)((char *)t + f->offset),
                       f->offset == offsetof (hpt_scale_tier_def_t, master)};
    rep.replica->count = 1;
    if (v->kind == HPT_NODE_SCALAR) return s_rep_type (r, v, &rep, f);
    if (v->kind != HPT_NODE_MAP) {
        hpt_schema_error (r, v, "expected a machine type name or {type, count}, got %s",
                          hpt_node_kind_name (v));
        return false;
    }
    size_t before = r->problems;
    hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_replica_fields), &rep);
    //  A kind with no replicas needs no type.
    if (r->problems == before && rep.replica->count > 0 && !hpt_schema_has (v, "type")) {
        hpt_schema_error_child (r, v, "type", "required field is missing (a machine type)");
        return false;
    }
    return r->problems == before;
}

#define S_KIND(key, member) HPT_SCHEMA_MEMBER (key, s_tier_replica, hpt_scale_tier_def_t, member)

static const hpt_schema_field_t s_tier_fields[] = {
    HPT_SCHEMA_ENTRY ("master", s_tier_replica, .required = "the master's machine type",
                      .offset = offsetof (hpt_scale_tier_def_t, master)),
    S_KIND ("worker", worker),
    S_KIND ("parameterServer", parameter_server),
    S_KIND ("evaluator", evaluator),
};

//  Whether key names a tier a job can ask for, after reporting when not.
static bool
s_tier_name_ok (hpt_schema_t *r, hpt_node_t *key)
{
    const char *name = key->text;
    hpt_scale_tier_t tier;
    if (hpt_scale_tier_parse (name, &tier) == 0) {
        if (tier != HPT_SCALE_TIER_CUSTOM) return true;
        hpt_schema_error (r, key,
                          "CUSTOM cannot be redefined: its replicas come from each job's "
                          "masterType, workerType, parameterServerType, evaluatorType and counts");
        return false;
    }
    //  CUSTOM is the last tier: the others are the ones a file may define.
    const char *const *names = hpt_scale_tier_enum.names;
    const char *hint = hpt_schema_did_you_mean (name, names, HPT_SCALE_TIER_CUSTOM);
    char list[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < HPT_SCALE_TIER_CUSTOM; i++)
        used += snprintf (list + used, used < sizeof (list) ? sizeof (list) - used : 0, "%s%s",
                          i ? ", " : "", names[i]);
    hpt_schema_error (r, key,
                      "unknown scale tier '%s'%s%s%s: a job's scaleTier can only name %s (or "
                      "CUSTOM)",
                      name, hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "",
                      list);
    return false;
}

//  Reads one tier and replaces the built-in one when it has no problem.
static bool
s_scale_tier (hpt_schema_t *r, hpt_node_t *parent, size_t i, void *t)
{
    hpt_node_t *key = parent->key_nodes[i];
    if (!s_tier_name_ok (r, key)) return false;
    //  Replica types point into the tree: the catalog copies them.
    hpt_scale_tier_def_t tier = {.name = key->text};
    size_t before = r->problems;
    if (!hpt_schema_object (r, parent->items[i], HPT_SCHEMA_FIELDS (s_tier_fields), &tier) ||
        r->problems != before)
        return false;
    //  A kind given with count 0 has no replicas: drop its type.
    hpt_tier_replica_t *kinds[] = {&tier.worker, &tier.parameter_server, &tier.evaluator};
    for (size_t k = 0; k < 3; k++)
        if (kinds[k]->count == 0) kinds[k]->type = NULL;
    hpt_machine_catalog_set_tier (((s_reader_t *)r)->config->machines, &tier);
    return true;
}

static bool
s_r_scale_tiers (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    //  Read after the machine types, wherever they are in the file.
    ((s_reader_t *)r)->scale_tiers = v;
    return true;
}

static void
s_scale_tiers (s_reader_t *r, hpt_node_t *v)
{
    hpt_schema_push_key (&r->schema, "scaleTiers");
    hpt_schema_map (&r->schema, v, SIZE_MAX, "scale tiers", s_scale_tier, NULL);
    hpt_schema_pop (&r->schema);
}

//  ---------------------------------------------------------------------
//  slurm:

//  Slurm names (partition, account, qos, reservation): what Slurm itself
//  accepts in them, and nothing a shell or a command line could misread.
static bool
s_s_name (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    const char *text = hpt_schema_text (r, v, true);
    if (!text) return false;
    for (const char *c = text; *c; c++)
        if (!isalnum ((unsigned char)*c) && !strchr ("_.-", *c)) {
            hpt_schema_error (r, v, "'%s' is not a Slurm name: letters, digits, '_', '.', '-'",
                              text);
            return false;
        }
    char **member = (char **)((char *)t + f->offset);
    free (*member);
    *member = hpt_strdup (text);
    return true;
}

//  A path on the compute nodes: absolute, no whitespace or quotes (it is
//  written into the job's script).
static bool
s_s_path (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    const char *text = hpt_schema_text (r, v, true);
    if (!text) return false;
    if (text[0] != '/' || strpbrk (text, " \t\r\n'\"\\$`")) {
        hpt_schema_error (r, v,
                          "expected an absolute path without spaces, quotes, '$' or '\\', got "
                          "'%s'",
                          text);
        return false;
    }
    char **member = (char **)((char *)t + f->offset);
    free (*member);
    *member = hpt_strdup (text);
    return true;
}

//  The options hpt sets itself: a second value would contradict it.
static const char *const s_sbatch_owned[] = {
    "--job-name",
    "-J",
    "--parsable",
    "--partition",
    "-p",
    "--account",
    "-A",
    "--qos",
    "-q",
    "--reservation",
    "--nodes",
    "-N",
    "--ntasks",
    "-n",
    "--cpus-per-task",
    "-c",
    "--mem",
    "--mem-per-cpu",
    "--gpus-per-task",
    "--gpus",
    "-G",
    "--comment",
    "--wrap",
    "--output",
    "-o",
    "--error",
    "-e",
    "--hold",
    "-H",
    "--export",
};

//  One of sbatchArgs: "--option" or "--option=value", no whitespace
//  (they are passed as separate arguments, never through a shell), and
//  none of the options hpt sets.
static bool
s_s_arg (hpt_schema_t *r, hpt_node_t *parent, size_t i, void *t)
{
    hpt_slurm_settings_t *s = t;
    hpt_node_t *v = parent->items[i];
    const char *text = hpt_schema_text (r, v, true);
    if (!text) return false;
    size_t name_len = strcspn (text, "=");
    for (size_t k = 0; k < sizeof (s_sbatch_owned) / sizeof (s_sbatch_owned[0]); k++)
        if (strlen (s_sbatch_owned[k]) == name_len &&
            strncmp (text, s_sbatch_owned[k], name_len) == 0) {
            hpt_schema_error (r, v,
                              "%.*s is set by hpt from the trial and slurm's other fields; it "
                              "cannot be given here",
                              (int)name_len, text);
            return false;
        }
    if (strncmp (text, "--", 2) != 0 || strpbrk (text, " \t\r\n")) {
        hpt_schema_error (r, v,
                          "expected a long sbatch option such as --time=04:00:00 (no spaces), "
                          "got '%s'",
                          text);
        return false;
    }
    s->sbatch_args[s->sbatch_arg_count++] = hpt_strdup (text);
    return true;
}

//  sbatchArgs: at most 64.
static bool
s_s_args (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_slurm_settings_t *s = t;
    for (size_t i = 0; i < s->sbatch_arg_count; i++)
        free (s->sbatch_args[i]);
    free (s->sbatch_args);
    s->sbatch_args = hpt_calloc (64, sizeof (char *));
    s->sbatch_arg_count = 0;
    return hpt_schema_list (r, v, 64, "sbatch arguments", s_s_arg, s);
}

//  slurm.master: the agents endpoint as the compute nodes reach it.
static bool
s_s_master (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_slurm_settings_t *s = t;
    const char *text = hpt_schema_text (r, v, true);
    if (!text) return false;
    size_t host_len;
    long port;
    if (strncmp (text, "tcp://", 6) != 0 || !s_host_port (text + 6, 1, &host_len, &port) ||
        text[6] == '*') {
        hpt_schema_error (r, v,
                          "expected the master's agents endpoint as the compute nodes reach it, "
                          "tcp://HOST:PORT, got '%s'",
                          text);
        return false;
    }
    free (s->master);
    s->master = hpt_strdup (text);
    return true;
}

#define S_SLURM_NAME(key, member) HPT_SCHEMA_MEMBER (key, s_s_name, hpt_slurm_settings_t, member)
static const hpt_schema_field_t s_slurm_fields[] = {
    HPT_SCHEMA_ENTRY ("partition", s_s_name, .required = "the Slurm partition trials run in",
                      .offset = offsetof (hpt_slurm_settings_t, partition)),
    S_SLURM_NAME ("account", account),
    S_SLURM_NAME ("qos", qos),
    S_SLURM_NAME ("reservation", reservation),
    HPT_SCHEMA_FIELD ("sbatchArgs", s_s_args),
    HPT_SCHEMA_MEMBER ("agentCommand", s_s_path, hpt_slurm_settings_t, agent_command),
    HPT_SCHEMA_MEMBER ("workdir", s_s_path, hpt_slurm_settings_t, workdir),
    HPT_SCHEMA_FIELD ("master", s_s_master),
    HPT_SCHEMA_ENUM ("use", hpt_slurm_settings_t, use, hpt_slurm_use_enum, 0),
    HPT_SCHEMA_INT64 ("maxJobs", hpt_slurm_settings_t, max_jobs, 1, 100000),
    HPT_SCHEMA_MILLIS ("pollInterval", hpt_slurm_settings_t, poll_ms, 100, 3600000),
    HPT_SCHEMA_MILLIS ("commandTimeout", hpt_slurm_settings_t, command_ms, 100, 3600000),
};

static bool
s_r_slurm (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    hpt_slurm_settings_t *s = &((hpt_cluster_config_t *)t)->slurm;
    s->present = true;
    return hpt_schema_object (r, v, HPT_SCHEMA_FIELDS (s_slurm_fields), s);
}

static const hpt_schema_field_t s_root_fields[] = {
    HPT_SCHEMA_FIELD ("master", s_r_master),
    HPT_SCHEMA_FIELD ("machineTypes", s_r_machine_types),
    HPT_SCHEMA_FIELD ("scaleTiers", s_r_scale_tiers),
    HPT_SCHEMA_FIELD ("slurm", s_r_slurm),
};

//  ---------------------------------------------------------------------
//  The configuration

hpt_cluster_config_t *
hpt_cluster_config_new (void)
{
    hpt_cluster_config_t *self = hpt_calloc (1, sizeof (*self));
    hpt_master_settings_t *m = &self->master;
    m->agents = hpt_strdup (HPT_CLUSTER_DEFAULT_AGENTS);
    m->api = hpt_strdup (HPT_CLUSTER_DEFAULT_API);
    m->api_host = hpt_strdup ("127.0.0.1");
    m->api_port = 7470;
    m->state_dir = hpt_strdup (HPT_CLUSTER_DEFAULT_STATE_DIR);
    m->heartbeat_interval_ms = 1000;
    m->agent_timeout_ms = 10000;
    m->stop_grace_ms = 10000;
    m->agent_lost_policy = HPT_AGENT_LOST_FAIL;
    m->seed = 0;
    m->max_agents = HPT_CLUSTER_DEFAULT_MAX_AGENTS;
    m->max_parallel_trials = HPT_CLUSTER_DEFAULT_MAX_PARALLEL_TRIALS;
    m->api_rate = 50;
    hpt_slurm_settings_t *sl = &self->slurm;
    sl->agent_command = hpt_strdup ("/usr/bin/hptagent");
    sl->workdir = hpt_strdup ("/tmp/hpt-slurm");
    sl->use = HPT_SLURM_USE_ALWAYS;
    sl->max_jobs = 64;
    sl->poll_ms = 5000;
    sl->command_ms = 30000;
    self->machines = hpt_machine_catalog_new ();
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
    for (size_t i = 0; i < self->master.api_host_name_count; i++)
        free (self->master.api_host_names[i]);
    free (self->master.api_host_names);
    free (self->master.api_socket);
    free (self->master.curve_cert);
    free (self->master.curve_agent_certs);
    free (self->master.tls_cert);
    free (self->master.tls_key);
    hpt_slurm_settings_t *sl = &self->slurm;
    free (sl->partition);
    free (sl->account);
    free (sl->qos);
    free (sl->reservation);
    for (size_t i = 0; i < sl->sbatch_arg_count; i++)
        free (sl->sbatch_args[i]);
    free (sl->sbatch_args);
    free (sl->agent_command);
    free (sl->workdir);
    free (sl->master);
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
    if (s_blank (text, size)) return self;
    s_reader_t r = {.config = self};
    hpt_schema_init (&r.schema, diag);
    hpt_node_t *root = hpt_schema_parse (&r.schema, text, size, false);
    if (root && !hpt_schema_is_null (root) &&
        hpt_schema_object (&r.schema, root, HPT_SCHEMA_FIELDS (s_root_fields), self) &&
        r.scale_tiers)
        s_scale_tiers (&r, r.scale_tiers);
    hpt_node_destroy (&root);
    if (r.schema.problems) {
        hpt_cluster_config_destroy (&self);
        hpt_diag_sort (diag);
    }
    return self;
}

hpt_cluster_config_t *
hpt_cluster_config_read_file (const char *path, hpt_diag_t *diag)
{
    hpt_schema_t schema;
    hpt_schema_init (&schema, diag);
    size_t size = 0;
    char *text = hpt_schema_read_file (&schema, path, &size);
    if (!text) return NULL;
    hpt_cluster_config_t *self = hpt_cluster_config_read_text (text, size, diag);
    free (text);
    return self;
}

hpt_cluster_config_t *
hpt_cluster_config_load (const char *path)
{
    if (!path) return hpt_cluster_config_new ();
    hpt_diag_t *diag = hpt_diag_new (path, false);
    hpt_cluster_config_t *self = hpt_cluster_config_read_file (path, diag);
    if (!self) hpt_diag_print (diag, stderr);
    hpt_diag_destroy (&diag);
    return self;
}

const hpt_master_settings_t *
hpt_cluster_config_master (hpt_cluster_config_t *self)
{
    return &self->master;
}

const hpt_slurm_settings_t *
hpt_cluster_config_slurm (hpt_cluster_config_t *self)
{
    return &self->slurm;
}

hpt_machine_catalog_t *
hpt_cluster_config_machines (hpt_cluster_config_t *self)
{
    return self->machines;
}

int
hpt_cluster_config_tasks (hpt_cluster_config_t *self, hpt_job_t *job, hpt_task_spec_t **tasks,
                          size_t *count, hpt_error_t *error)
{
    return hpt_machine_catalog_tasks (self->machines, job, tasks, count, error);
}

//  ---------------------------------------------------------------------
//  Reload: what may change while the master runs

//  Puts running's value of one restart-only string setting into next
//  when they differ; notes the field's name in changed.
static void
s_keep_string (char **next, char *const *running, const char *field, zlistx_t *changed)
{
    bool same = (!*next && !*running) || (*next && *running && strcmp (*next, *running) == 0);
    if (same) return;
    free (*next);
    *next = *running ? hpt_strdup (*running) : NULL;
    zlistx_add_end (changed, (void *)field);
}

char *
hpt_cluster_config_keep_fixed (hpt_cluster_config_t *next, const hpt_cluster_config_t *running)
{
    hpt_master_settings_t *n = &next->master;
    const hpt_master_settings_t *r = &running->master;
    zlistx_t *changed = zlistx_new ();
    s_keep_string (&n->agents, &r->agents, "master.agents", changed);
    size_t before = zlistx_size (changed);
    s_keep_string (&n->api, &r->api, "master.api", changed);
    if (zlistx_size (changed) > before) {
        free (n->api_host);
        n->api_host = hpt_strdup (r->api_host);
        n->api_port = r->api_port;
    }
    s_keep_string (&n->api_socket, &r->api_socket, "master.apiSocket", changed);
    s_keep_string (&n->state_dir, &r->state_dir, "master.stateDir", changed);
    s_keep_string (&n->tls_cert, &r->tls_cert, "master.tls.cert", changed);
    s_keep_string (&n->tls_key, &r->tls_key, "master.tls.key", changed);
    s_keep_string (&n->curve_cert, &r->curve_cert, "master.security.curve.cert", changed);
    s_keep_string (&n->curve_agent_certs, &r->curve_agent_certs, "master.security.curve.agentCerts",
                   changed);
    if (n->insecure != r->insecure) {
        n->insecure = r->insecure;
        zlistx_add_end (changed, (void *)"master.security.insecure");
    }
    char *names = NULL;
    for (const char *field = zlistx_first (changed); field; field = zlistx_next (changed)) {
        char *longer = hpt_asprintf ("%s%s%s", names ? names : "", names ? ", " : "", field);
        free (names);
        names = longer;
    }
    zlistx_destroy (&changed);
    return names;
}
