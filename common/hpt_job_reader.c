/*  hpt_job_reader -- reads and validates a job config (YAML or JSON)

    How it works. The document is loaded into an hpt_tree (positions kept),
    then walked by one decoder per object of the schema. A decoder is a
    table of known keys, each with a handler that converts and checks one
    field; keys not in the table are reported with the closest known name
    ("did you mean"). After its fields, a decoder checks the rules that tie
    fields together (min < max, counts need their type, ...). The current
    field path is a stack of segments kept in the reader, so every message
    names its field both as a dotted path and as a JSON pointer.

    Scalars: a YAML plain scalar is typed by the field that receives it
    (`maxTrials: 30` is a number, `jobDir: 123` a string); quoted YAML
    scalars and JSON strings are strings, but int64 and double fields
    accept strings too because the REST API writes int64 as strings.
    Booleans accept YAML 1.1's spellings (True, true, TRUE, yes, on, ...)
    as gcloud's YAML loader does.
*/
#include "hpt_job_reader.h"
#include "hpt_accel.h"
#include "hpt_line_metrics.h"
#include "hpt_schema.h"
#include "hpt_space.h"
#include "hpt_tree.h"
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_STRING 4096 //  any single string field
#define S_MAX_LIST 1000   //  args, packageUris, command, categories, values
#define S_MAX_PARAMS 100  //  parameters of one job
#define S_MAX_COUNT 10000 //  replicas of one kind
#define S_MAX_INT32 2147483647

//  The reader's state is where it is and what it found (hpt_schema).
typedef hpt_schema_t s_reader_t;

//  ---------------------------------------------------------------------
//  "Did you mean"

static size_t
s_distance (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la > 64 || lb > 64) return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost =
                tolower ((unsigned char)a[i - 1]) == tolower ((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *
hpt_did_you_mean (const char *word, const char *const *candidates, size_t count)
{
    const char *best = NULL;
    size_t best_distance = SIZE_MAX;
    for (size_t i = 0; i < count; i++) {
        size_t d = s_distance (word, candidates[i]);
        if (d < best_distance) {
            best_distance = d;
            best = candidates[i];
        }
    }
    size_t len = strlen (word);
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    return best && best_distance <= limit ? best : NULL;
}

//  ---------------------------------------------------------------------
//  Scalars

//  A scalar's text when it is one; reports and returns NULL otherwise.
static const char *
s_scalar (s_reader_t *r, hpt_node_t *node, const char *expected)
{
    if (node->kind != HPT_NODE_SCALAR || hpt_schema_is_null (node)) {
        hpt_schema_error (r, node, "expected %s, got %s", expected, hpt_node_kind_name (node));
        return NULL;
    }
    return node->text;
}

//  Reads a string field into *out (fresh copy). Returns false on a problem.
static bool
s_string (s_reader_t *r, hpt_node_t *node, char **out)
{
    if (node->kind == HPT_NODE_SCALAR &&
        (node->style == HPT_SCALAR_NUMBER || node->style == HPT_SCALAR_BOOL)) {
        hpt_schema_error (r, node, "expected a string, got %s", hpt_node_kind_name (node));
        return false;
    }
    const char *text = s_scalar (r, node, "a string");
    if (!text) return false;
    if (strlen (text) > S_MAX_STRING) {
        hpt_schema_error (r, node, "longer than %d bytes", S_MAX_STRING);
        return false;
    }
    free (*out);
    *out = strdup (text);
    return true;
}

static bool
s_nonempty_string (s_reader_t *r, hpt_node_t *node, char **out)
{
    if (!s_string (r, node, out)) return false;
    if (!**out) {
        hpt_schema_error (r, node, "must not be empty");
        free (*out);
        *out = NULL;
        return false;
    }
    return true;
}

static bool
s_int64 (s_reader_t *r, hpt_node_t *node, int64_t min, int64_t max, int64_t *out)
{
    if (node->kind == HPT_NODE_SCALAR && node->style == HPT_SCALAR_BOOL) {
        hpt_schema_error (r, node, "expected an integer, got a boolean");
        return false;
    }
    const char *text = s_scalar (r, node, "an integer");
    if (!text) return false;
    const char *c = text;
    if (*c == '-' || *c == '+') c++;
    bool digits = *c != '\0';
    for (; *c; c++)
        digits &= isdigit ((unsigned char)*c) != 0;
    errno = 0;
    char *end = NULL;
    long long value = digits ? strtoll (text, &end, 10) : 0;
    if (!digits || errno == ERANGE) {
        hpt_schema_error (r, node, "expected an integer, got '%s'", text);
        return false;
    }
    if (value < min || value > max) {
        if (max == INT64_MAX)
            hpt_schema_error (r, node, "must be at least %" PRId64 ", got %lld", min, value);
        else
            hpt_schema_error (r, node, "must be between %" PRId64 " and %" PRId64 ", got %lld", min,
                              max, value);
        return false;
    }
    *out = value;
    return true;
}

static bool
s_double (s_reader_t *r, hpt_node_t *node, double *out)
{
    if (node->kind == HPT_NODE_SCALAR && node->style == HPT_SCALAR_BOOL) {
        hpt_schema_error (r, node, "expected a number, got a boolean");
        return false;
    }
    const char *text = s_scalar (r, node, "a number");
    if (!text) return false;
    errno = 0;
    char *end = NULL;
    double value = strtod (text, &end);
    //  strtod also takes "inf", "nan" and hex floats: refuse what is not a
    //  plain finite decimal number.
    bool plain = end != text && *end == '\0' && !strpbrk (text, "xXnN");
    if (!plain || !isfinite (value) || errno == ERANGE) {
        hpt_schema_error (r, node, "expected a finite number, got '%s'", text);
        return false;
    }
    *out = value;
    return true;
}

static bool
s_bool (s_reader_t *r, hpt_node_t *node, bool *out)
{
    static const char *yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    if (node->kind == HPT_NODE_SCALAR &&
        (node->style == HPT_SCALAR_BOOL || node->style == HPT_SCALAR_PLAIN)) {
        for (size_t i = 0; i < sizeof (yes) / sizeof (yes[0]); i++) {
            if (strcmp (node->text, yes[i]) == 0) {
                *out = true;
                return true;
            }
            if (strcmp (node->text, no[i]) == 0) {
                *out = false;
                return true;
            }
        }
    }
    if (node->kind == HPT_NODE_SCALAR && !hpt_schema_is_null (node))
        hpt_schema_error (r, node, "expected a boolean (true or false), got '%s'", node->text);
    else
        hpt_schema_error (r, node, "expected a boolean, got %s", hpt_node_kind_name (node));
    return false;
}

//  Reads an enum by its spelling; values whose bit is set in refused
//  (*_UNSPECIFIED, reserved values) are not a user's to pick. Returns the
//  value or -1.
static int
s_enum (s_reader_t *r, hpt_node_t *node, const hpt_enum_t *type, unsigned refused)
{
    char *text = NULL;
    if (!s_string (r, node, &text)) return -1;
    const char *names[32] = {NULL};
    size_t count = 0;
    int found = -1;
    for (size_t i = 0; i < type->count && count < 32; i++) {
        if (refused & (1u << i)) continue;
        names[count++] = type->names[i];
        if (strcmp (type->names[i], text) == 0) found = (int)i;
    }
    if (found >= 0) {
        free (text);
        return found;
    }
    const char *hint = hpt_did_you_mean (text, names, count);
    char list[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < count; i++)
        used += snprintf (list + used, used < sizeof (list) ? sizeof (list) - used : 0, "%s%s",
                          i ? ", " : "", names[i]);
    if (hint)
        hpt_schema_error (r, node, "unknown value '%s' (did you mean %s?)", text, hint);
    else
        hpt_schema_error (r, node, "unknown value '%s' (expected one of %s)", text, list);
    free (text);
    return -1;
}

//  Durations are written like protobuf's Duration in JSON: "7200s",
//  "1.5s". Returns seconds.
static bool
s_duration (s_reader_t *r, hpt_node_t *node, double *out)
{
    char *text = NULL;
    if (!s_string (r, node, &text)) return false;
    size_t len = strlen (text);
    bool ok = len >= 2 && text[len - 1] == 's';
    size_t dots = 0;
    for (size_t i = 0; ok && i + 1 < len; i++) {
        if (text[i] == '.')
            ok = ++dots == 1 && i > 0 && i + 2 < len;
        else
            ok = isdigit ((unsigned char)text[i]) != 0;
    }
    double seconds = ok ? strtod (text, NULL) : 0;
    if (!ok)
        hpt_schema_error (r, node, "expected a duration in seconds like \"7200s\", got '%s'", text);
    else if (!(seconds > 0) || seconds > 315576000000.0)
        hpt_schema_error (r, node, "duration must be positive, got '%s'", text);
    free (text);
    if (!ok || !(seconds > 0) || seconds > 315576000000.0) return false;
    *out = seconds;
    return true;
}

static bool
s_expect (s_reader_t *r, hpt_node_t *node, hpt_node_kind_t kind)
{
    if (node->kind == kind) return true;
    hpt_schema_error (r, node, "expected %s, got %s", kind == HPT_NODE_MAP ? "a mapping" : "a list",
                      hpt_node_kind_name (node));
    return false;
}

//  Reads a list of strings (each non-empty when nonempty is set).
static bool
s_strings (s_reader_t *r, hpt_node_t *node, bool nonempty, char ***out, size_t *count)
{
    if (!s_expect (r, node, HPT_NODE_SEQ)) return false;
    if (node->count > S_MAX_LIST) {
        hpt_schema_error (r, node, "more than %d entries", S_MAX_LIST);
        return false;
    }
    char **strv = calloc (node->count ? node->count : 1, sizeof (char *));
    bool ok = true;
    for (size_t i = 0; i < node->count; i++) {
        hpt_schema_push_index (r, i);
        ok &= nonempty ? s_nonempty_string (r, node->items[i], &strv[i])
                       : s_string (r, node->items[i], &strv[i]);
        hpt_schema_pop (r);
    }
    if (!ok) {
        for (size_t i = 0; i < node->count; i++)
            free (strv[i]);
        free (strv);
        return false;
    }
    *out = strv;
    *count = node->count;
    return true;
}

static int
s_kv_compare (const void *a, const void *b)
{
    return strcmp (((const hpt_kv_t *)a)->name, ((const hpt_kv_t *)b)->name);
}

//  Reads a string map; each key is checked by key_ok (which reports).
static bool
s_string_map (s_reader_t *r, hpt_node_t *node, bool (*key_ok) (s_reader_t *, hpt_node_t *),
              hpt_kv_t **out, size_t *count)
{
    if (!s_expect (r, node, HPT_NODE_MAP)) return false;
    if (node->count > S_MAX_LIST) {
        hpt_schema_error (r, node, "more than %d entries", S_MAX_LIST);
        return false;
    }
    hpt_kv_t *kv = calloc (node->count ? node->count : 1, sizeof (hpt_kv_t));
    bool ok = true;
    for (size_t i = 0; i < node->count; i++) {
        hpt_schema_push_key (r, node->keys[i]);
        kv[i].name = strdup (node->keys[i]);
        ok &= key_ok (r, node->key_nodes[i]);
        hpt_node_t *value = node->items[i];
        //  A map of strings: YAML plain scalars that look like numbers or
        //  booleans are still text here ("1", "true").
        if (value->kind == HPT_NODE_SCALAR && value->style == HPT_SCALAR_PLAIN &&
            !hpt_schema_is_null (value))
            kv[i].value = strdup (value->text);
        else
            ok &= s_string (r, value, &kv[i].value);
        hpt_schema_pop (r);
    }
    if (!ok) {
        for (size_t i = 0; i < node->count; i++) {
            free (kv[i].name);
            free (kv[i].value);
        }
        free (kv);
        return false;
    }
    qsort (kv, node->count, sizeof (hpt_kv_t), s_kv_compare);
    *out = kv;
    *count = node->count;
    return true;
}

//  ---------------------------------------------------------------------
//  Objects: a table of known keys and a handler per key

typedef bool (*s_handler_t) (s_reader_t *r, hpt_node_t *value, void *target);

typedef struct {
    const char *key;     //  camelCase field name
    s_handler_t handler; //  converts and checks the value into target
} s_field_t;

//  Walks a mapping: calls the handler of every known key, reports unknown
//  keys with a suggestion. Returns false when node is not a mapping.
static bool
s_object (s_reader_t *r, hpt_node_t *node, const s_field_t *fields, size_t count, void *target)
{
    if (!s_expect (r, node, HPT_NODE_MAP)) return false;
    const char *names[64];
    for (size_t f = 0; f < count && f < 64; f++)
        names[f] = fields[f].key;
    for (size_t i = 0; i < node->count; i++) {
        const s_field_t *field = NULL;
        for (size_t f = 0; f < count; f++)
            if (strcmp (fields[f].key, node->keys[i]) == 0) field = &fields[f];
        hpt_schema_push_key (r, node->keys[i]);
        if (field) {
            if (!hpt_schema_is_null (node->items[i])) field->handler (r, node->items[i], target);
        } else {
            const char *hint = hpt_did_you_mean (node->keys[i], names, count < 64 ? count : 64);
            if (hint)
                hpt_schema_error (r, node->key_nodes[i], "unknown field (did you mean '%s'?)",
                                  hint);
            else
                hpt_schema_error (r, node->key_nodes[i], "unknown field");
        }
        hpt_schema_pop (r);
    }
    return true;
}

#define S_FIELDS(table) table, sizeof (table) / sizeof (table[0])

//  ---------------------------------------------------------------------
//  ParameterSpec

typedef struct {
    hpt_param_spec_t *spec; //  being filled
    bool has_min;           //  minValue read successfully
    bool has_max;           //  maxValue read successfully
    bool has_type;          //  type read successfully
    bool has_scale;         //  scaleType given (even NONE)
} s_param_t;

static bool
s_param_name_ok (const char *name)
{
    if (!name || !(isalpha ((unsigned char)name[0]) || name[0] == '_') || strlen (name) > 128)
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum ((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.') return false;
    return true;
}

static bool
s_p_name (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_param_t *p = t;
    if (!s_nonempty_string (r, v, &p->spec->name)) return false;
    if (!s_param_name_ok (p->spec->name)) {
        hpt_schema_error (
            r, v,
            "'%s' is not a usable flag name: use a letter or '_' first, then letters, "
            "digits, '_', '-' or '.' (at most 128)",
            p->spec->name);
        return false;
    }
    return true;
}

static bool
s_p_type (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_param_t *p = t;
    int type = s_enum (r, v, &hpt_param_type_enum, 1u << HPT_PARAM_TYPE_UNSPECIFIED);
    if (type < 0) return false;
    p->spec->type = (hpt_param_type_t)type;
    p->has_type = true;
    return true;
}

static bool
s_p_min (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_param_t *p = t;
    p->has_min = s_double (r, v, &p->spec->min_value);
    return p->has_min;
}

static bool
s_p_max (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_param_t *p = t;
    p->has_max = s_double (r, v, &p->spec->max_value);
    return p->has_max;
}

static bool
s_p_discrete (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_param_t *p = t;
    if (!s_expect (r, v, HPT_NODE_SEQ)) return false;
    if (v->count == 0) {
        hpt_schema_error (r, v, "must list at least one value");
        return false;
    }
    if (v->count > S_MAX_LIST) {
        hpt_schema_error (r, v, "at most %d values are allowed, got %zu", S_MAX_LIST, v->count);
        return false;
    }
    double *values = calloc (v->count, sizeof (double));
    bool ok = true;
    for (size_t i = 0; i < v->count; i++) {
        hpt_schema_push_index (r, i);
        if (!s_double (r, v->items[i], &values[i]))
            ok = false;
        else if (ok && i > 0 && !(values[i] > values[i - 1]))
            ok = false,
            hpt_schema_error (r, v->items[i], "discreteValues must be strictly increasing");
        hpt_schema_pop (r);
    }
    if (!ok) {
        free (values);
        return false;
    }
    free (p->spec->discrete_values);
    p->spec->discrete_values = values;
    p->spec->discrete_count = v->count;
    return true;
}

static bool
s_p_categorical (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_param_t *p = t;
    char **strv = NULL;
    size_t count = 0;
    if (!s_expect (r, v, HPT_NODE_SEQ)) return false;
    if (v->count == 0) {
        hpt_schema_error (r, v, "must list at least one category");
        return false;
    }
    //  Categories are text: a YAML plain `- 1` is the category "1".
    if (v->count > S_MAX_LIST) {
        hpt_schema_error (r, v, "more than %d entries", S_MAX_LIST);
        return false;
    }
    strv = calloc (v->count, sizeof (char *));
    bool ok = true;
    for (size_t i = 0; i < v->count; i++) {
        hpt_schema_push_index (r, i);
        hpt_node_t *item = v->items[i];
        if (item->kind == HPT_NODE_SCALAR && item->style == HPT_SCALAR_PLAIN &&
            !hpt_schema_is_null (item))
            strv[i] = strdup (item->text);
        else if (!s_nonempty_string (r, item, &strv[i]))
            ok = false;
        for (size_t j = 0; ok && strv[i] && j < i; j++)
            if (strv[j] && strcmp (strv[j], strv[i]) == 0) {
                hpt_schema_error (r, item, "duplicate category '%s'", strv[i]);
                ok = false;
            }
        hpt_schema_pop (r);
        count++;
    }
    if (!ok) {
        for (size_t i = 0; i < count; i++)
            free (strv[i]);
        free (strv);
        return false;
    }
    p->spec->categorical_values = strv;
    p->spec->categorical_count = count;
    return true;
}

static bool
s_p_scale (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_param_t *p = t;
    int scale = s_enum (r, v, &hpt_scale_enum, 0);
    if (scale < 0) return false;
    p->spec->scale = (hpt_scale_t)scale;
    p->has_scale = true;
    return true;
}

static const s_field_t s_param_fields[] = {
    {"parameterName", s_p_name},
    {"type", s_p_type},
    {"minValue", s_p_min},
    {"maxValue", s_p_max},
    {"discreteValues", s_p_discrete},
    {"categoricalValues", s_p_categorical},
    {"scaleType", s_p_scale},
};

//  Cross-field rules of one parameter. Returns false when the spec is not
//  usable (the caller then drops the whole job anyway).
static void
s_param_rules (s_reader_t *r, hpt_node_t *node, s_param_t *p)
{
    hpt_param_spec_t *s = p->spec;
    if (!hpt_schema_has (node, "parameterName"))
        hpt_schema_error_child (r, node, "parameterName", "required field is missing");
    if (!hpt_schema_has (node, "type")) {
        hpt_schema_error_child (r, node, "type",
                                "required field is missing (DOUBLE, INTEGER, "
                                "CATEGORICAL or DISCRETE)");
        return;
    }
    if (!p->has_type) return;
    bool numeric = s->type == HPT_PARAM_DOUBLE || s->type == HPT_PARAM_INTEGER;
    const char *type = hpt_param_type_name (s->type);
    static const char *only[][2] = {{"minValue", "DOUBLE and INTEGER"},
                                    {"maxValue", "DOUBLE and INTEGER"},
                                    {"discreteValues", "DISCRETE"},
                                    {"categoricalValues", "CATEGORICAL"}};
    for (size_t i = 0; i < 4; i++) {
        bool allowed =
            i < 2 ? numeric
                  : (i == 2 ? s->type == HPT_PARAM_DISCRETE : s->type == HPT_PARAM_CATEGORICAL);
        if (!allowed && hpt_schema_has (node, only[i][0]))
            hpt_schema_error_child (r, hpt_node_get (node, only[i][0]), only[i][0],
                                    "applies only to %s parameters, not %s", only[i][1], type);
    }
    if (numeric) {
        if (!hpt_schema_has (node, "minValue"))
            hpt_schema_error_child (r, node, "minValue", "required for %s parameters", type);
        if (!hpt_schema_has (node, "maxValue"))
            hpt_schema_error_child (r, node, "maxValue", "required for %s parameters", type);
        if (s->type == HPT_PARAM_INTEGER) {
            if (p->has_min &&
                (s->min_value != floor (s->min_value) || fabs (s->min_value) > 9e15)) {
                hpt_schema_error_child (r, hpt_node_get (node, "minValue"), "minValue",
                                        "must be an integer for INTEGER parameters");
                p->has_min = false;
            }
            if (p->has_max &&
                (s->max_value != floor (s->max_value) || fabs (s->max_value) > 9e15)) {
                hpt_schema_error_child (r, hpt_node_get (node, "maxValue"), "maxValue",
                                        "must be an integer for INTEGER parameters");
                p->has_max = false;
            }
        }
        if (p->has_min && p->has_max && !(s->min_value < s->max_value))
            hpt_schema_error_child (r, hpt_node_get (node, "maxValue"), "maxValue",
                                    "must be greater than minValue (%g)", s->min_value);
    }
    if (s->type == HPT_PARAM_DISCRETE && !hpt_schema_has (node, "discreteValues"))
        hpt_schema_error_child (r, node, "discreteValues", "required for DISCRETE parameters");
    if (s->type == HPT_PARAM_CATEGORICAL && !hpt_schema_has (node, "categoricalValues"))
        hpt_schema_error_child (r, node, "categoricalValues",
                                "required for CATEGORICAL parameters");
    if (s->type == HPT_PARAM_CATEGORICAL && p->has_scale && s->scale != HPT_SCALE_NONE)
        hpt_schema_error_child (r, hpt_node_get (node, "scaleType"), "scaleType",
                                "does not apply to CATEGORICAL parameters");
    bool log = s->scale == HPT_SCALE_LOG || s->scale == HPT_SCALE_REVERSE_LOG;
    if (log && numeric && p->has_min && !(s->min_value > 0))
        hpt_schema_error_child (r, hpt_node_get (node, "minValue"), "minValue",
                                "must be greater than 0 with %s", hpt_scale_name (s->scale));
    if (log && s->type == HPT_PARAM_DISCRETE && s->discrete_count && !(s->discrete_values[0] > 0))
        hpt_schema_error_child (r, hpt_node_get (node, "discreteValues"), "discreteValues",
                                "values must be greater than 0 with %s", hpt_scale_name (s->scale));
}

//  ---------------------------------------------------------------------
//  HyperparameterSpec

typedef struct {
    hpt_hyperparameters_t *hp; //  being filled
    bool has_goal;             //  goal given
    bool has_max_trials;       //  maxTrials read
    bool has_max_failed;       //  maxFailedTrials read
    hpt_node_t *params_node;   //  params, for rules that name it
} s_hyper_t;

static bool
s_h_goal (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_hyper_t *h = t;
    int goal = s_enum (r, v, &hpt_goal_enum, 1u << HPT_GOAL_UNSPECIFIED);
    if (goal < 0) return false;
    h->hp->goal = (hpt_goal_t)goal;
    h->has_goal = true;
    return true;
}

static bool
s_h_params (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_hyper_t *h = t;
    h->params_node = v;
    if (!s_expect (r, v, HPT_NODE_SEQ)) return false;
    if (v->count > S_MAX_PARAMS) {
        hpt_schema_error (r, v, "at most %d parameters are allowed, got %zu", S_MAX_PARAMS,
                          v->count);
        return false;
    }
    h->hp->params = calloc (v->count ? v->count : 1, sizeof (hpt_param_spec_t));
    h->hp->param_count = v->count;
    for (size_t i = 0; i < v->count; i++) {
        hpt_schema_push_index (r, i);
        s_param_t p = {&h->hp->params[i], false, false, false, false};
        if (s_object (r, v->items[i], S_FIELDS (s_param_fields), &p)) {
            s_param_rules (r, v->items[i], &p);
            for (size_t j = 0; j < i && p.spec->name; j++)
                if (h->hp->params[j].name && strcmp (h->hp->params[j].name, p.spec->name) == 0) {
                    hpt_schema_error_child (
                        r, hpt_node_get (v->items[i], "parameterName"), "parameterName",
                        "duplicate parameter name '%s' (also params[%zu])", p.spec->name, j);
                    break;
                }
        }
        hpt_schema_pop (r);
    }
    return true;
}

static bool
s_h_max_trials (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_hyper_t *h = t;
    h->has_max_trials = s_int64 (r, v, 1, S_MAX_INT32, &h->hp->max_trials);
    return h->has_max_trials;
}

static bool
s_h_max_parallel (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_int64 (r, v, 1, S_MAX_INT32, &((s_hyper_t *)t)->hp->max_parallel_trials);
}

static bool
s_h_max_failed (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_hyper_t *h = t;
    h->has_max_failed = s_int64 (r, v, 0, S_MAX_INT32, &h->hp->max_failed_trials);
    return h->has_max_failed;
}

static bool
s_h_tag (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_hyper_t *h = t;
    if (!s_nonempty_string (r, v, &h->hp->metric_tag)) return false;
    if (strlen (h->hp->metric_tag) > 256) {
        hpt_schema_error (r, v, "longer than 256 bytes");
        return false;
    }
    return true;
}

static bool
s_h_resume (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_hyper_t *h = t;
    if (!s_nonempty_string (r, v, &h->hp->resume_previous_job_id)) return false;
    if (!hpt_job_id_valid (h->hp->resume_previous_job_id)) {
        hpt_schema_error (r, v, "'%s' is not a job id (a letter, then letters, digits or '_')",
                          h->hp->resume_previous_job_id);
        return false;
    }
    return true;
}

static bool
s_h_early (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_bool (r, v, &((s_hyper_t *)t)->hp->enable_trial_early_stopping);
}

static bool
s_h_algorithm (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_hyper_t *h = t;
    int algorithm = s_enum (r, v, &hpt_algorithm_enum, 0);
    if (algorithm < 0) return false;
    h->hp->algorithm = (hpt_algorithm_t)algorithm;
    h->hp->has_algorithm = true;
    return true;
}

static bool
s_e_rule (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_early_stopping_t *es = t;
    int rule = s_enum (r, v, &hpt_early_stop_rule_enum, 1u << HPT_EARLY_STOP_DECAY_CURVE);
    if (rule < 0) return false;
    es->rule = (hpt_early_stop_rule_t)rule;
    return true;
}

static bool
s_e_min_completed (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_int64 (r, v, 0, 100000, &((hpt_early_stopping_t *)t)->min_completed_trials);
}

static bool
s_e_warmup (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_int64 (r, v, 0, INT64_MAX / 4, &((hpt_early_stopping_t *)t)->warmup_steps);
}

static bool
s_e_reduction (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_early_stopping_t *es = t;
    double value = 0;
    if (!s_double (r, v, &value)) return false;
    if (!(value > 1) || value > 100) {
        hpt_schema_error (r, v, "must be greater than 1 and at most 100, got %g", value);
        return false;
    }
    es->reduction_factor = value;
    return true;
}

static bool
s_e_min_resource (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_int64 (r, v, 1, INT64_MAX / 4, &((hpt_early_stopping_t *)t)->min_resource);
}

static bool
s_e_max_resource (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_int64 (r, v, 1, INT64_MAX / 4, &((hpt_early_stopping_t *)t)->max_resource);
}

static const s_field_t s_early_fields[] = {
    {"rule", s_e_rule},
    {"minCompletedTrials", s_e_min_completed},
    {"warmupSteps", s_e_warmup},
    {"reductionFactor", s_e_reduction},
    {"minResource", s_e_min_resource},
    {"maxResource", s_e_max_resource},
};

static bool
s_h_early_stopping (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_early_stopping_t *es = &((s_hyper_t *)t)->hp->early_stopping;
    es->present = true;
    if (!s_object (r, v, S_FIELDS (s_early_fields), es)) return false;
    if (es->rule != HPT_EARLY_STOP_ASHA) {
        static const char *asha_only[] = {"reductionFactor", "minResource", "maxResource"};
        for (size_t i = 0; i < 3; i++)
            if (hpt_schema_has (v, asha_only[i]))
                hpt_schema_error_child (r, hpt_node_get (v, asha_only[i]), asha_only[i],
                                        "applies only to rule asha");
    }
    //  The first rung is minResource (1 when left out).
    if (es->max_resource > 0 && es->max_resource <= (es->min_resource > 0 ? es->min_resource : 1))
        hpt_schema_error_child (r, hpt_node_get (v, "maxResource"), "maxResource",
                                "must be greater than minResource");
    return true;
}

static const s_field_t s_hyper_fields[] = {
    {"earlyStopping", s_h_early_stopping},
    {"goal", s_h_goal},
    {"params", s_h_params},
    {"maxTrials", s_h_max_trials},
    {"maxParallelTrials", s_h_max_parallel},
    {"maxFailedTrials", s_h_max_failed},
    {"hyperparameterMetricTag", s_h_tag},
    {"resumePreviousJobId", s_h_resume},
    {"enableTrialEarlyStopping", s_h_early},
    {"algorithm", s_h_algorithm},
};

static void
s_hyper_rules (s_reader_t *r, hpt_node_t *node, s_hyper_t *h)
{
    hpt_hyperparameters_t *hp = h->hp;
    bool resuming = hp->resume_previous_job_id != NULL;
    if (!hpt_schema_has (node, "params") && !resuming)
        hpt_schema_error_child (r, node, "params",
                                "required field is missing (it may be omitted only with "
                                "resumePreviousJobId)");
    else if (h->params_node && h->params_node->kind == HPT_NODE_SEQ && h->params_node->count == 0 &&
             !resuming)
        hpt_schema_error_child (r, h->params_node, "params", "must list at least one parameter");
    if (hp->early_stopping.present && !hp->enable_trial_early_stopping)
        hpt_schema_error_child (
            r, hpt_node_get (node, "earlyStopping"), "earlyStopping",
            "configures early stopping, which needs enableTrialEarlyStopping: true");
    if (h->has_max_failed && h->has_max_trials && hp->max_failed_trials > hp->max_trials)
        hpt_schema_error_child (r, hpt_node_get (node, "maxFailedTrials"), "maxFailedTrials",
                                "must not exceed maxTrials (%" PRId64 ")", hp->max_trials);
    if (hp->has_algorithm && hp->algorithm == HPT_ALGORITHM_GRID_SEARCH && h->params_node &&
        h->params_node->kind == HPT_NODE_SEQ)
        for (size_t i = 0; i < hp->param_count; i++)
            if (hp->params[i].type == HPT_PARAM_DOUBLE) {
                hpt_schema_push_key (r, "params");
                hpt_schema_push_index (r, i);
                hpt_schema_error_child (
                    r, hpt_node_get (h->params_node->items[i], "type"), "type",
                    "GRID_SEARCH accepts only INTEGER, DISCRETE and CATEGORICAL "
                    "parameters");
                hpt_schema_pop (r);
                hpt_schema_pop (r);
            }
    //  Defaults. A resumed job inherits goal, tag and algorithm when the
    //  config leaves them out, so those stay unset.
    if (!resuming) {
        if (!h->has_goal) hp->goal = HPT_GOAL_MAXIMIZE;
        if (!hp->metric_tag) hp->metric_tag = strdup (HPT_DEFAULT_METRIC_TAG);
        hp->has_algorithm = true;
    }
}

//  ---------------------------------------------------------------------
//  ReplicaConfig and AcceleratorConfig

static bool
s_a_count (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_int64 (r, v, 1, 64, &((hpt_accel_config_t *)t)->count);
}

static bool
s_a_type (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_accel_config_t *a = t;
    if (!s_nonempty_string (r, v, &a->type)) return false;
    if (!hpt_accel_lookup (a->type)) {
        size_t count;
        const hpt_accel_info_t *table = hpt_accel_table (&count);
        const char *names[64];
        for (size_t i = 0; i < count && i < 64; i++)
            names[i] = table[i].name;
        const char *hint = hpt_did_you_mean (a->type, names, count < 64 ? count : 64);
        if (hint)
            hpt_schema_error (r, v, "unknown accelerator type '%s' (did you mean %s?)", a->type,
                              hint);
        else
            hpt_schema_error (r, v, "unknown accelerator type '%s' (see README, Accelerator types)",
                              a->type);
        return false;
    }
    return true;
}

static const s_field_t s_accel_fields[] = {{"count", s_a_count}, {"type", s_a_type}};

static bool
s_r_accel (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_replica_config_t *c = t;
    c->accelerator.present = true;
    if (!s_object (r, v, S_FIELDS (s_accel_fields), &c->accelerator)) return false;
    if (!hpt_schema_has (v, "type"))
        hpt_schema_error_child (r, v, "type", "required field is missing");
    if (!hpt_schema_has (v, "count")) c->accelerator.count = 1;
    return true;
}

static bool
s_r_image (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_string (r, v, &((hpt_replica_config_t *)t)->image_uri);
}

static bool
s_r_tpu (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_string (r, v, &((hpt_replica_config_t *)t)->tpu_tf_version);
}

static const s_field_t s_replica_fields[] = {
    {"acceleratorConfig", s_r_accel}, {"imageUri", s_r_image}, {"tpuTfVersion", s_r_tpu}};

static bool
s_replica (s_reader_t *r, hpt_node_t *v, hpt_replica_config_t *c)
{
    c->present = true;
    return s_object (r, v, S_FIELDS (s_replica_fields), c);
}

//  ---------------------------------------------------------------------
//  Scheduling and metricCollector

static bool
s_s_running (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_duration (r, v, &((hpt_scheduling_t *)t)->max_running_time);
}

static bool
s_s_wait (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_duration (r, v, &((hpt_scheduling_t *)t)->max_wait_time);
}

static bool
s_s_priority (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_int64 (r, v, 0, 1000, &((hpt_scheduling_t *)t)->priority);
}

static const s_field_t s_scheduling_fields[] = {
    {"maxRunningTime", s_s_running}, {"maxWaitTime", s_s_wait}, {"priority", s_s_priority}};

static bool
s_m_regex (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_training_input_t *in = t;
    if (!s_nonempty_string (r, v, &in->stdout_regex)) return false;
    //  The agent's own compiler (named groups tag/value/step), so what
    //  validates here is what runs there.
    char why[256];
    hpt_line_metrics_t *compiled = hpt_line_metrics_new (in->stdout_regex, why, sizeof (why));
    if (!compiled) {
        hpt_schema_error (r, v, "%s", why);
        return false;
    }
    hpt_line_metrics_destroy (&compiled);
    in->stdout_metrics = true;
    return true;
}

static bool
s_m_stdout (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_training_input_t *in = t;
    bool on = false;
    if (!s_bool (r, v, &on)) return false;
    in->stdout_metrics |= on;
    return true;
}

static bool
s_m_replica (s_reader_t *r, hpt_node_t *v, void *t)
{
    int replica = s_enum (r, v, &hpt_metrics_replica_enum, 0);
    if (replica < 0) return false;
    ((hpt_training_input_t *)t)->metrics_from_evaluator = replica == HPT_METRICS_FROM_EVALUATOR;
    return true;
}

static const s_field_t s_collector_fields[] = {
    {"stdout", s_m_stdout}, {"stdoutRegex", s_m_regex}, {"replica", s_m_replica}};

//  ---------------------------------------------------------------------
//  TrainingInput

typedef struct {
    hpt_training_input_t *in; //  being filled
    bool has_tier;            //  scaleTier read
} s_input_t;

static bool
s_i_tier (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_input_t *i = t;
    int tier = s_enum (r, v, &hpt_scale_tier_enum, 0);
    if (tier < 0) return false;
    i->in->scale_tier = (hpt_scale_tier_t)tier;
    i->has_tier = true;
    return true;
}

#define S_STRING_FIELD(fn, member)                                                                 \
    static bool fn (s_reader_t *r, hpt_node_t *v, void *t)                                         \
    {                                                                                              \
        return s_nonempty_string (r, v, &((s_input_t *)t)->in->member);                            \
    }
S_STRING_FIELD (s_i_master_type, master_type)
S_STRING_FIELD (s_i_worker_type, worker_type)
S_STRING_FIELD (s_i_ps_type, parameter_server_type)
S_STRING_FIELD (s_i_eval_type, evaluator_type)
S_STRING_FIELD (s_i_job_dir, job_dir)
S_STRING_FIELD (s_i_region, region)
S_STRING_FIELD (s_i_runtime, runtime_version)
S_STRING_FIELD (s_i_python_version, python_version)
S_STRING_FIELD (s_i_working_dir, working_dir)

#define S_COUNT_FIELD(fn, member)                                                                  \
    static bool fn (s_reader_t *r, hpt_node_t *v, void *t)                                         \
    {                                                                                              \
        return s_int64 (r, v, 0, S_MAX_COUNT, &((s_input_t *)t)->in->member);                      \
    }
S_COUNT_FIELD (s_i_worker_count, worker_count)
S_COUNT_FIELD (s_i_ps_count, parameter_server_count)
S_COUNT_FIELD (s_i_eval_count, evaluator_count)

#define S_REPLICA_FIELD(fn, member)                                                                \
    static bool fn (s_reader_t *r, hpt_node_t *v, void *t)                                         \
    {                                                                                              \
        return s_replica (r, v, &((s_input_t *)t)->in->member);                                    \
    }
S_REPLICA_FIELD (s_i_master_config, master_config)
S_REPLICA_FIELD (s_i_worker_config, worker_config)
S_REPLICA_FIELD (s_i_ps_config, parameter_server_config)
S_REPLICA_FIELD (s_i_eval_config, evaluator_config)

static bool
s_i_hyper (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_input_t *i = t;
    hpt_hyperparameters_t *hp = calloc (1, sizeof (hpt_hyperparameters_t));
    hp->max_trials = 1;
    hp->max_parallel_trials = 1;
    hp->early_stopping.min_completed_trials = -1;
    hp->early_stopping.warmup_steps = -1;
    hp->early_stopping.min_resource = -1;
    hp->early_stopping.max_resource = -1;
    i->in->hyperparameters = hp;
    s_hyper_t h = {hp, false, false, false, NULL};
    if (!s_object (r, v, S_FIELDS (s_hyper_fields), &h)) return false;
    s_hyper_rules (r, v, &h);
    return true;
}

static bool
s_i_args (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_input_t *i = t;
    return s_strings (r, v, false, &i->in->args, &i->in->arg_count);
}

static bool
s_i_packages (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_input_t *i = t;
    if (!s_strings (r, v, true, &i->in->package_uris, &i->in->package_uri_count)) return false;
    for (size_t k = 0; k < i->in->package_uri_count; k++) {
        const char *uri = i->in->package_uris[k];
        if (strncmp (uri, "http://", 7) && strncmp (uri, "https://", 8) &&
            strncmp (uri, "file://", 7)) {
            hpt_schema_push_index (r, k);
            hpt_schema_error (r, v->items[k],
                              "'%s': only http://, https:// and file:// URLs are supported", uri);
            hpt_schema_pop (r);
        }
    }
    return true;
}

static bool
s_i_module (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_input_t *i = t;
    if (!s_nonempty_string (r, v, &i->in->python_module)) return false;
    const char *m = i->in->python_module;
    bool ok = true, start = true;
    for (const char *c = m; *c && ok; c++) {
        if (*c == '.')
            ok = !start, start = true;
        else
            ok = start ? (isalpha ((unsigned char)*c) || *c == '_')
                       : (isalnum ((unsigned char)*c) || *c == '_'),
            start = false;
    }
    if (!ok || start) {
        hpt_schema_error (r, v, "'%s' is not a Python module name like trainer.task", m);
        return false;
    }
    return true;
}

static bool
s_i_scheduling (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_input_t *i = t;
    i->in->scheduling.present = true;
    return s_object (r, v, S_FIELDS (s_scheduling_fields), &i->in->scheduling);
}

static bool
s_i_chief (s_reader_t *r, hpt_node_t *v, void *t)
{
    return s_bool (r, v, &((s_input_t *)t)->in->use_chief_in_tf_config);
}

static bool
s_i_command (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_input_t *i = t;
    if (!s_strings (r, v, true, &i->in->command, &i->in->command_count)) return false;
    if (i->in->command_count == 0) hpt_schema_error (r, v, "must name the program to run");
    return true;
}

//  Variables hpt sets for every task; a job may not override them.
static bool
s_env_reserved (const char *name)
{
    return strcmp (name, "TF_CONFIG") == 0 || strcmp (name, "CLUSTER_SPEC") == 0 ||
           strncmp (name, "CLOUD_ML_", 9) == 0 || strncmp (name, "HPT_", 4) == 0 ||
           strcmp (name, "CUDA_VISIBLE_DEVICES") == 0 || strcmp (name, "CUDA_DEVICE_ORDER") == 0 ||
           strncmp (name, "TPU_", 4) == 0;
}

static bool
s_env_key_ok (s_reader_t *r, hpt_node_t *key)
{
    const char *name = key->text;
    bool ok = (isalpha ((unsigned char)name[0]) || name[0] == '_') && strlen (name) <= 256;
    for (const char *c = name; ok && *c; c++)
        ok = isalnum ((unsigned char)*c) || *c == '_';
    if (!ok) {
        hpt_schema_error (r, key, "'%s' is not an environment variable name", name);
        return false;
    }
    if (s_env_reserved (name)) {
        hpt_schema_error (r, key, "%s is set by hpt for every task and cannot be overridden", name);
        return false;
    }
    return true;
}

static bool
s_i_env (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_input_t *i = t;
    return s_string_map (r, v, s_env_key_ok, &i->in->env, &i->in->env_count);
}

static bool
s_i_collector (s_reader_t *r, hpt_node_t *v, void *t)
{
    s_input_t *i = t;
    return s_object (r, v, S_FIELDS (s_collector_fields), i->in);
}

static const s_field_t s_input_fields[] = {
    {"scaleTier", s_i_tier},
    {"masterType", s_i_master_type},
    {"masterConfig", s_i_master_config},
    {"workerType", s_i_worker_type},
    {"workerConfig", s_i_worker_config},
    {"workerCount", s_i_worker_count},
    {"parameterServerType", s_i_ps_type},
    {"parameterServerConfig", s_i_ps_config},
    {"parameterServerCount", s_i_ps_count},
    {"evaluatorType", s_i_eval_type},
    {"evaluatorConfig", s_i_eval_config},
    {"evaluatorCount", s_i_eval_count},
    {"hyperparameters", s_i_hyper},
    {"args", s_i_args},
    {"jobDir", s_i_job_dir},
    {"packageUris", s_i_packages},
    {"pythonModule", s_i_module},
    {"region", s_i_region},
    {"runtimeVersion", s_i_runtime},
    {"pythonVersion", s_i_python_version},
    {"scheduling", s_i_scheduling},
    {"useChiefInTfConfig", s_i_chief},
    {"command", s_i_command},
    {"workingDir", s_i_working_dir},
    {"env", s_i_env},
    {"metricCollector", s_i_collector},
};

static void
s_input_rules (s_reader_t *r, hpt_node_t *node, s_input_t *i)
{
    hpt_training_input_t *in = i->in;
    bool custom = in->scale_tier == HPT_SCALE_TIER_CUSTOM;
    static const char *kinds[][2] = {{"workerType", "workerCount"},
                                     {"parameterServerType", "parameterServerCount"},
                                     {"evaluatorType", "evaluatorCount"}};
    int64_t counts[] = {in->worker_count, in->parameter_server_count, in->evaluator_count};
    if (!custom) {
        const char *custom_only[] = {"masterType",    "workerType",  "parameterServerType",
                                     "evaluatorType", "workerCount", "parameterServerCount",
                                     "evaluatorCount"};
        for (size_t k = 0; k < 7; k++)
            if (hpt_schema_has (node, custom_only[k]))
                hpt_schema_error_child (r, hpt_node_get (node, custom_only[k]), custom_only[k],
                                        "only allowed with scaleTier CUSTOM (scaleTier is %s)",
                                        hpt_scale_tier_name (in->scale_tier));
    } else {
        if (!hpt_schema_has (node, "masterType"))
            hpt_schema_error_child (r, node, "masterType", "required with scaleTier CUSTOM");
        for (size_t k = 0; k < 3; k++)
            if (counts[k] > 0 && !hpt_schema_has (node, kinds[k][0]))
                hpt_schema_error_child (r, hpt_node_get (node, kinds[k][1]), kinds[k][1],
                                        "%s > 0 needs %s", kinds[k][1], kinds[k][0]);
    }
    if (in->metrics_from_evaluator && in->evaluator_count < 1) {
        hpt_node_t *mc = hpt_node_get (node, "metricCollector");
        hpt_schema_push_key (r, "metricCollector");
        hpt_schema_error_child (
            r, hpt_node_get (mc, "replica"), "replica",
            "evaluator needs an evaluator (scaleTier CUSTOM, evaluatorCount >= 1)");
        hpt_schema_pop (r);
    }
    if (in->command_count && in->python_module)
        hpt_schema_error_child (r, hpt_node_get (node, "command"), "command",
                                "give either command (hpt extension) or pythonModule, not both");
    if (in->package_uri_count && !in->python_module)
        hpt_schema_error_child (r, hpt_node_get (node, "packageUris"), "packageUris",
                                "packageUris needs pythonModule");
}

//  ---------------------------------------------------------------------
//  Job

static bool
s_j_id (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_job_t *job = t;
    if (!s_nonempty_string (r, v, &job->job_id)) return false;
    if (!hpt_job_id_valid (job->job_id)) {
        hpt_schema_error (
            r, v,
            "'%s' is not a valid job id: start with a letter, then use letters, digits "
            "and '_' (at most 128)",
            job->job_id);
        return false;
    }
    return true;
}

static bool
s_label_key_ok (s_reader_t *r, hpt_node_t *key)
{
    const char *k = key->text;
    bool ok = islower ((unsigned char)k[0]) && strlen (k) <= 63;
    for (const char *c = k; ok && *c; c++)
        ok = islower ((unsigned char)*c) || isdigit ((unsigned char)*c) || *c == '_' || *c == '-';
    if (!ok)
        hpt_schema_error (
            r, key,
            "label keys start with a lowercase letter, then lowercase letters, digits, "
            "'_' or '-' (at most 63)");
    return ok;
}

static bool
s_j_labels (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_job_t *job = t;
    if (!s_string_map (r, v, s_label_key_ok, &job->labels, &job->label_count)) return false;
    for (size_t i = 0; i < job->label_count; i++) {
        const char *value = job->labels[i].value;
        bool ok = strlen (value) <= 63;
        for (const char *c = value; ok && *c; c++)
            ok = islower ((unsigned char)*c) || isdigit ((unsigned char)*c) || *c == '_' ||
                 *c == '-';
        if (!ok) {
            hpt_schema_push_key (r, job->labels[i].name);
            hpt_schema_error (
                r, hpt_node_get (v, job->labels[i].name),
                "label values use lowercase letters, digits, '_' or '-' (at most 63)");
            hpt_schema_pop (r);
        }
    }
    return true;
}

static bool
s_j_input (s_reader_t *r, hpt_node_t *v, void *t)
{
    hpt_job_t *job = t;
    s_input_t i = {&job->input, false};
    if (!s_object (r, v, S_FIELDS (s_input_fields), &i)) return false;
    s_input_rules (r, v, &i);
    return true;
}

static const s_field_t s_job_fields[] = {
    {"jobId", s_j_id}, {"labels", s_j_labels}, {"trainingInput", s_j_input}};

bool
hpt_job_id_valid (const char *id)
{
    if (!id || !isalpha ((unsigned char)id[0]) || strlen (id) > 128) return false;
    for (const char *c = id; *c; c++)
        if (!isalnum ((unsigned char)*c) && *c != '_') return false;
    return true;
}

hpt_config_format_t
hpt_config_format_guess (const char *path, const char *text, size_t size)
{
    size_t len = path ? strlen (path) : 0;
    if (len >= 5 && strcmp (path + len - 5, ".json") == 0) return HPT_CONFIG_JSON;
    if ((len >= 5 && strcmp (path + len - 5, ".yaml") == 0) ||
        (len >= 4 && strcmp (path + len - 4, ".yml") == 0))
        return HPT_CONFIG_YAML;
    for (size_t i = 0; text && i < size; i++) {
        if (isspace ((unsigned char)text[i])) continue;
        return text[i] == '{' ? HPT_CONFIG_JSON : HPT_CONFIG_YAML;
    }
    return HPT_CONFIG_YAML;
}

hpt_job_t *
hpt_job_read_text (const char *text, size_t size, hpt_config_format_t format, hpt_diag_t *diag)
{
    if (format == HPT_CONFIG_AUTO) format = hpt_config_format_guess (NULL, text, size);
    hpt_tree_error_t error;
    hpt_node_t *root = format == HPT_CONFIG_JSON ? hpt_tree_from_json (text, size, &error)
                                                 : hpt_tree_from_yaml (text, size, &error);
    if (!root) {
        hpt_diag_add (diag, error.line, error.column, NULL, NULL, error.message);
        return NULL;
    }
    s_reader_t r;
    hpt_schema_init (&r, diag);
    hpt_job_t *job = hpt_job_new ();
    if (s_object (&r, root, S_FIELDS (s_job_fields), job) &&
        !hpt_schema_has (root, "trainingInput"))
        hpt_schema_error_child (&r, root, "trainingInput", "required field is missing");
    hpt_node_destroy (&root);
    if (r.failed) {
        hpt_job_destroy (&job);
        hpt_diag_sort (diag);
    }
    return job;
}

hpt_job_t *
hpt_job_read_file (const char *path, hpt_config_format_t format, hpt_diag_t *diag)
{
    char error[256];
    size_t size = 0;
    char *text = hpt_read_file (path, HPT_TREE_MAX_BYTES, &size, error, sizeof (error));
    if (!text) {
        hpt_diag_add (diag, 0, 0, NULL, NULL, error);
        return NULL;
    }
    if (format == HPT_CONFIG_AUTO) format = hpt_config_format_guess (path, text, size);
    hpt_job_t *job = hpt_job_read_text (text, size, format, diag);
    free (text);
    return job;
}
