/*  hpt_schema -- the one way a config reader walks its document

    Messages are the readers' shared vocabulary: "expected X, got Y" for a
    value of the wrong kind, "must be ..." for one out of its range,
    "unknown field" and "unknown value" with a hint, "required field is
    missing". A YAML plain scalar is typed by the field that receives it
    (`maxTrials: 30` is a number, `jobDir: 123` a string); JSON numbers and
    booleans are never strings.
*/
#include "hpt_schema.h"
#include "hpt_alloc.h"
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A table this short lists its keys when an unknown one has no close
//  match: the whole schema of the object fits in the message.
#define S_LIST_KEYS_MAX 8
//  Names considered for a hint (field tables, enums, accelerator types).
#define S_MAX_CANDIDATES 128
//  protobuf's Duration limit, 10000 years: longer is not a duration.
#define S_MAX_SECONDS 315576000000.0

void
hpt_schema_init (hpt_schema_t *self, hpt_diag_t *diag)
{
    memset (self, 0, sizeof (*self));
    self->diag = diag;
}

static void
s_push (hpt_schema_t *self, const char *key, bool map_key, size_t index)
{
    if (self->depth < HPT_SCHEMA_MAX_DEPTH) {
        self->seg_key[self->depth] = key;
        self->seg_map_key[self->depth] = map_key;
        self->seg_index[self->depth] = index;
    }
    self->depth++;
}

void
hpt_schema_push_key (hpt_schema_t *self, const char *key)
{
    s_push (self, key, false, 0);
}

void
hpt_schema_push_map_key (hpt_schema_t *self, const char *key)
{
    s_push (self, key, true, 0);
}

void
hpt_schema_push_index (hpt_schema_t *self, size_t index)
{
    s_push (self, NULL, false, index);
}

void
hpt_schema_pop (hpt_schema_t *self)
{
    self->depth--;
}

//  A bounded text being written: the pieces of a path go on the end, and
//  what does not fit is cut (paths are diagnostics, never parsed back).
typedef struct {
    char *text;  //  the buffer, NUL-terminated
    size_t size; //  its size
    size_t used; //  characters written or, past the end, that would have been
} s_out_t;

static void s_put (s_out_t *out, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_put (s_out_t *out, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    int n = vsnprintf (out->text + (out->used < out->size ? out->used : out->size - 1),
                       out->used < out->size ? out->size - out->used : 1, format, args);
    va_end (args);
    if (n > 0) out->used += (size_t)n;
}

static bool
s_is_identifier (const char *key)
{
    if (!*key || isdigit ((unsigned char)*key)) return false;
    for (const char *c = key; *c; c++)
        if (!isalnum ((unsigned char)*c) && *c != '_') return false;
    return true;
}

//  One key of Google's field path. A field name is written as its proto
//  name (lowerCamelCase -> snake_case: "maxValue" -> "max_value"); a map
//  key as it is. Either, when not an identifier, goes in backticks with
//  backticks doubled, as field masks write such keys (AIP-161).
static void
s_put_google_key (s_out_t *out, const char *key, bool map_key)
{
    if (!s_is_identifier (key)) {
        s_put (out, "`");
        for (const char *c = key; *c; c++)
            s_put (out, "%s", *c == '`' ? "``" : (char[2]){*c, 0});
        s_put (out, "`");
        return;
    }
    for (const char *c = key; *c; c++) {
        if (!map_key && isupper ((unsigned char)*c))
            s_put (out, "_%c", tolower ((unsigned char)*c));
        else
            s_put (out, "%c", *c);
    }
}

//  Writes the current path three ways: dotted ("a.b[2].cD"), as a JSON
//  pointer (RFC 6901: '~' is written "~0" and '/' is written "~1"), and as
//  Google's field path ("a.b[2].c_d").
static void
s_paths (hpt_schema_t *self, s_out_t *dotted, s_out_t *pointer, s_out_t *google)
{
    size_t depth = self->depth < HPT_SCHEMA_MAX_DEPTH ? self->depth : HPT_SCHEMA_MAX_DEPTH;
    for (size_t i = 0; i < depth; i++) {
        const char *key = self->seg_key[i];
        if (!key) {
            s_put (dotted, "[%zu]", self->seg_index[i]);
            s_put (pointer, "/%zu", self->seg_index[i]);
            s_put (google, "[%zu]", self->seg_index[i]);
            continue;
        }
        s_put (dotted, "%s%s", i ? "." : "", key);
        s_put (google, "%s", i ? "." : "");
        s_put_google_key (google, key, self->seg_map_key[i]);
        s_put (pointer, "/");
        for (const char *c = key; *c; c++)
            s_put (pointer, "%s", *c == '~' ? "~0" : *c == '/' ? "~1" : (char[2]){*c, 0});
    }
}

static void
s_verror (hpt_schema_t *self, hpt_node_t *node, const char *format, va_list args)
{
    char message[512], dotted[512], pointer[512], google[512];
    vsnprintf (message, sizeof (message), format, args);
    s_out_t d = {dotted, sizeof (dotted), 0}, p = {pointer, sizeof (pointer), 0},
            g = {google, sizeof (google), 0};
    dotted[0] = pointer[0] = google[0] = '\0';
    s_paths (self, &d, &p, &g);
    hpt_diag_add (self->diag, node ? node->line : 0, node ? node->column : 0, dotted, pointer,
                  google, message);
    self->problems++;
}

void
hpt_schema_error (hpt_schema_t *self, hpt_node_t *node, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_verror (self, node, format, args);
    va_end (args);
}

void
hpt_schema_error_child (hpt_schema_t *self, hpt_node_t *node, const char *key, const char *format,
                        ...)
{
    hpt_schema_push_key (self, key);
    va_list args;
    va_start (args, format);
    s_verror (self, node, format, args);
    va_end (args);
    hpt_schema_pop (self);
}

bool
hpt_schema_is_null (hpt_node_t *node)
{
    if (node->kind != HPT_NODE_SCALAR) return false;
    if (node->style == HPT_SCALAR_NULL) return true;
    return node->style == HPT_SCALAR_PLAIN &&
           (!*node->text || strcmp (node->text, "~") == 0 || strcmp (node->text, "null") == 0 ||
            strcmp (node->text, "Null") == 0 || strcmp (node->text, "NULL") == 0);
}

bool
hpt_schema_has (hpt_node_t *map, const char *key)
{
    hpt_node_t *value = hpt_node_get (map, key);
    return value && !hpt_schema_is_null (value);
}

//  Levenshtein distance, ignoring case; SIZE_MAX for words too long to be
//  field or value names.
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
hpt_schema_did_you_mean (const char *word, const char *const *candidates, size_t count)
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
    //  A third of the word, at least 2: "maxTrails" finds "maxTrials",
    //  "zzzz" finds nothing.
    size_t len = strlen (word);
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    return best && best_distance <= limit ? best : NULL;
}

//  Joins names with sep into buf (truncated to size).
static void
s_join (char *buf, size_t size, const char *const *names, size_t count, const char *sep)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count; i++)
        used +=
            snprintf (buf + used, used < size ? size - used : 0, "%s%s", i ? sep : "", names[i]);
}

//  ---------------------------------------------------------------------
//  Loading

//  A problem of the whole document: no field path.
static void
s_document_error (hpt_schema_t *self, size_t line, size_t column, const char *message)
{
    hpt_diag_add (self->diag, line, column, NULL, NULL, NULL, message);
    self->problems++;
}

hpt_node_t *
hpt_schema_parse (hpt_schema_t *self, const char *text, size_t size, bool json)
{
    hpt_tree_error_t error;
    hpt_node_t *root =
        json ? hpt_tree_from_json (text, size, &error) : hpt_tree_from_yaml (text, size, &error);
    if (!root) s_document_error (self, error.line, error.column, error.message);
    //  Repeated keys are problems of their own; reading goes on (the first
    //  of each kept), so every other problem is reported with them.
    for (size_t i = 0; root && i < error.duplicate_count && i < HPT_TREE_MAX_DUPLICATES; i++) {
        char message[128];
        snprintf (message, sizeof (message), "duplicate key '%s' (the first one is read)",
                  error.duplicates[i].key);
        s_document_error (self, error.duplicates[i].line, error.duplicates[i].column, message);
    }
    if (root && error.duplicate_count > HPT_TREE_MAX_DUPLICATES)
        s_document_error (self, 0, 0, "more duplicate keys not shown");
    return root;
}

char *
hpt_schema_read_file (hpt_schema_t *self, const char *path, size_t *size)
{
    hpt_error_t error;
    char *text = hpt_read_file (path, HPT_TREE_MAX_BYTES, size, &error);
    if (!text) s_document_error (self, 0, 0, error.message);
    return text;
}

//  ---------------------------------------------------------------------
//  Scalars

//  A scalar's text; reports "expected WHAT, got ..." for anything else, a
//  null, or a scalar of a style in refused (a bit per hpt_scalar_style_t).
static const char *
s_scalar (hpt_schema_t *self, hpt_node_t *node, const char *what, unsigned refused)
{
    if (node->kind != HPT_NODE_SCALAR || hpt_schema_is_null (node) ||
        (refused & (1u << node->style))) {
        hpt_schema_error (self, node, "expected %s, got %s", what, hpt_node_kind_name (node));
        return NULL;
    }
    return node->text;
}

#define S_NO_BOOL (1u << HPT_SCALAR_BOOL)
#define S_NO_NUMBER (1u << HPT_SCALAR_NUMBER)

const char *
hpt_schema_text (hpt_schema_t *self, hpt_node_t *node, bool nonempty)
{
    const char *text = s_scalar (self, node, "a string", S_NO_BOOL | S_NO_NUMBER);
    if (!text) return NULL;
    if (strlen (text) > HPT_SCHEMA_MAX_STRING) {
        hpt_schema_error (self, node, "longer than %d bytes", HPT_SCHEMA_MAX_STRING);
        return NULL;
    }
    if (nonempty && !*text) {
        hpt_schema_error (self, node, "must not be empty");
        return NULL;
    }
    return text;
}

bool
hpt_schema_string (hpt_schema_t *self, hpt_node_t *node, bool nonempty, char **out)
{
    const char *text = hpt_schema_text (self, node, nonempty);
    if (!text) return false;
    free (*out);
    *out = hpt_strdup (text);
    return true;
}

bool
hpt_schema_bool (hpt_schema_t *self, hpt_node_t *node, bool *out)
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
        hpt_schema_error (self, node, "expected a boolean (true or false), got '%s'", node->text);
    else
        hpt_schema_error (self, node, "expected a boolean, got %s", hpt_node_kind_name (node));
    return false;
}

bool
hpt_schema_int64 (hpt_schema_t *self, hpt_node_t *node, int64_t min, int64_t max, int64_t *out)
{
    const char *text = s_scalar (self, node, "an integer", S_NO_BOOL);
    if (!text) return false;
    const char *c = text + (*text == '-' || *text == '+');
    bool digits = *c != '\0';
    for (; *c; c++)
        digits &= isdigit ((unsigned char)*c) != 0;
    errno = 0;
    long long value = digits ? strtoll (text, NULL, 10) : 0;
    if (!digits || errno == ERANGE) {
        hpt_schema_error (self, node, "expected an integer, got '%s'", text);
        return false;
    }
    if (value < min || value > max) {
        if (max == INT64_MAX)
            hpt_schema_error (self, node, "must be at least %" PRId64 ", got %lld", min, value);
        else
            hpt_schema_error (self, node, "must be between %" PRId64 " and %" PRId64 ", got %lld",
                              min, max, value);
        return false;
    }
    *out = value;
    return true;
}

//  Reports a double outside range in the words its bounds call for.
static void
s_out_of_range (hpt_schema_t *self, hpt_node_t *node, hpt_schema_range_t range)
{
    char upper[64] = "";
    bool has_max = range.max < HUGE_VAL;
    if (has_max) snprintf (upper, sizeof (upper), " and at most %g", range.max);
    if (range.above_min && range.min == 0)
        hpt_schema_error (self, node, "must be positive%s, got %s", upper, node->text);
    else if (range.above_min)
        hpt_schema_error (self, node, "must be greater than %g%s, got %s", range.min, upper,
                          node->text);
    else if (has_max && range.min > -HUGE_VAL)
        hpt_schema_error (self, node, "must be between %g and %g, got %s", range.min, range.max,
                          node->text);
    else if (has_max)
        hpt_schema_error (self, node, "must be at most %g, got %s", range.max, node->text);
    else
        hpt_schema_error (self, node, "must be at least %g, got %s", range.min, node->text);
}

bool
hpt_schema_double (hpt_schema_t *self, hpt_node_t *node, hpt_schema_range_t range, double *out)
{
    const char *text = s_scalar (self, node, "a number", S_NO_BOOL);
    if (!text) return false;
    errno = 0;
    char *end = NULL;
    double value = strtod (text, &end);
    //  strtod also takes "inf", "nan" and hex floats: refuse what is not a
    //  plain finite decimal number.
    bool plain = end != text && *end == '\0' && !strpbrk (text, "xXnNiI");
    if (!plain || !isfinite (value) || errno == ERANGE) {
        hpt_schema_error (self, node, "expected a number, got '%s'", text);
        return false;
    }
    bool low = range.above_min ? !(value > range.min) : value < range.min;
    if (low || value > range.max) {
        s_out_of_range (self, node, range);
        return false;
    }
    *out = value;
    return true;
}

//  The length of the unit a duration's text ends with: 2 for "ms" (when
//  millis), 1 for "s", 0 for none.
static size_t
s_duration_unit (const char *text, size_t len, bool millis)
{
    if (millis && len >= 2 && strcmp (text + len - 2, "ms") == 0) return 2;
    return len >= 1 && text[len - 1] == 's' ? 1 : 0;
}

//  A duration: a decimal number of seconds with an "s", or (when millis is
//  set) of milliseconds with "ms", at most max_seconds; into seconds.
static bool
s_duration (hpt_schema_t *self, hpt_node_t *node, bool millis, double max_seconds, double *seconds)
{
    const char *like = millis ? "a duration like \"10s\", \"1.5s\" or \"500ms\""
                              : "a duration in seconds like \"7200s\"";
    const char *text = s_scalar (self, node, like, 0);
    if (!text) return false;
    size_t len = strlen (text);
    size_t unit_len = s_duration_unit (text, len, millis);
    //  Digits with at most one '.' inside them, as protobuf's Duration.
    size_t digits = 0, dots = 0;
    bool ok = unit_len && len > unit_len && len <= 32;
    for (size_t i = 0; ok && i < len - unit_len; i++) {
        if (text[i] == '.')
            ok = ++dots == 1 && i > 0 && i + 1 < len - unit_len;
        else if (isdigit ((unsigned char)text[i]))
            digits++;
        else
            ok = false;
    }
    if (!ok || !digits) {
        hpt_schema_error (self, node, "expected %s, got '%s'", like, text);
        return false;
    }
    double value = strtod (text, NULL);
    double in_seconds = unit_len == 2 ? value / 1000.0 : value;
    if (in_seconds > max_seconds) {
        double days = max_seconds / 86400.0;
        if (days == floor (days))
            hpt_schema_error (self, node, "must be at most %.0f days (%.0fs), got '%s'", days,
                              max_seconds, text);
        else
            hpt_schema_error (self, node, "must be at most %gs, got '%s'", max_seconds, text);
        return false;
    }
    *seconds = in_seconds;
    return true;
}

void
hpt_schema_millis_text (int64_t ms, char *buf, size_t size)
{
    if (ms % 1000 == 0)
        snprintf (buf, size, "%llds", (long long)(ms / 1000));
    else
        snprintf (buf, size, "%lldms", (long long)ms);
}

int
hpt_schema_enum (hpt_schema_t *self, hpt_node_t *node, const hpt_enum_t *type, unsigned refused)
{
    const char *text = hpt_schema_text (self, node, false);
    if (!text) return -1;
    const char *names[S_MAX_CANDIDATES] = {NULL};
    size_t count = 0;
    for (size_t i = 0; i < type->count && count < S_MAX_CANDIDATES; i++) {
        if (refused & (1u << i)) continue;
        if (strcmp (type->names[i], text) == 0) return (int)i;
        names[count++] = type->names[i];
    }
    const char *hint = hpt_schema_did_you_mean (text, names, count);
    char list[512];
    //  "A or B", "one of A, B, C".
    if (count == 2)
        s_join (list, sizeof (list), names, count, " or ");
    else {
        snprintf (list, sizeof (list), "one of ");
        s_join (list + 7, sizeof (list) - 7, names, count, ", ");
    }
    if (hint)
        hpt_schema_error (self, node, "unknown value '%s' (did you mean %s?)", text, hint);
    else
        hpt_schema_error (self, node, "unknown value '%s' (expected %s)", text, list);
    return -1;
}

const hpt_accel_info_t *
hpt_schema_accel (hpt_schema_t *self, hpt_node_t *node)
{
    const char *text = hpt_schema_text (self, node, true);
    if (!text) return NULL;
    const hpt_accel_info_t *info = hpt_accel_lookup (text);
    if (info) return info;
    size_t count;
    const hpt_accel_info_t *table = hpt_accel_table (&count);
    const char *names[S_MAX_CANDIDATES] = {NULL};
    if (count > S_MAX_CANDIDATES) count = S_MAX_CANDIDATES;
    for (size_t i = 0; i < count; i++)
        names[i] = table[i].name;
    const char *hint = hpt_schema_did_you_mean (text, names, count);
    if (hint)
        hpt_schema_error (self, node, "unknown accelerator type '%s' (did you mean %s?)", text,
                          hint);
    else
        hpt_schema_error (self, node,
                          "unknown accelerator type '%s' (see README, Accelerator types)", text);
    return NULL;
}

//  ---------------------------------------------------------------------
//  Lists and maps

static bool
s_walk (hpt_schema_t *self, hpt_node_t *node, hpt_node_kind_t kind, size_t max, const char *noun,
        hpt_schema_item_t item, void *target)
{
    if (node->kind != kind) {
        hpt_schema_error (self, node, "expected %s, got %s",
                          kind == HPT_NODE_MAP ? "a mapping" : "a list", hpt_node_kind_name (node));
        return false;
    }
    if (node->count > max) {
        hpt_schema_error (self, node, "at most %zu %s are allowed, got %zu", max, noun,
                          node->count);
        return false;
    }
    for (size_t i = 0; i < node->count; i++) {
        if (kind == HPT_NODE_MAP)
            hpt_schema_push_map_key (self, node->keys[i]);
        else
            hpt_schema_push_index (self, i);
        item (self, node, i, target);
        hpt_schema_pop (self);
    }
    return true;
}

bool
hpt_schema_list (hpt_schema_t *self, hpt_node_t *node, size_t max, const char *noun,
                 hpt_schema_item_t item, void *target)
{
    return s_walk (self, node, HPT_NODE_SEQ, max, noun, item, target);
}

bool
hpt_schema_map (hpt_schema_t *self, hpt_node_t *node, size_t max, const char *noun,
                hpt_schema_item_t item, void *target)
{
    return s_walk (self, node, HPT_NODE_MAP, max, noun, item, target);
}

typedef struct {
    char **strv;   //  one entry per item
    bool nonempty; //  items must not be empty
} s_strings_t;

static bool
s_string_item (hpt_schema_t *self, hpt_node_t *parent, size_t index, void *target)
{
    s_strings_t *strings = target;
    return hpt_schema_string (self, parent->items[index], strings->nonempty, &strings->strv[index]);
}

bool
hpt_schema_strings (hpt_schema_t *self, hpt_node_t *node, size_t max, bool nonempty, char ***out,
                    size_t *count)
{
    size_t before = self->problems;
    s_strings_t strings = {NULL, nonempty};
    if (node->kind == HPT_NODE_SEQ && node->count <= max)
        strings.strv = hpt_calloc (node->count ? node->count : 1, sizeof (char *));
    if (!hpt_schema_list (self, node, max, "entries", s_string_item, &strings)) return false;
    if (self->problems != before) {
        for (size_t i = 0; i < node->count; i++)
            free (strings.strv[i]);
        free (strings.strv);
        return false;
    }
    *out = strings.strv;
    *count = node->count;
    return true;
}

//  ---------------------------------------------------------------------
//  Objects

//  Reports an unknown key: the closest known one, or every known one when
//  there are few.
static void
s_unknown_key (hpt_schema_t *self, hpt_node_t *key, const hpt_schema_field_t *fields, size_t count)
{
    const char *names[S_MAX_CANDIDATES] = {NULL};
    size_t name_count = count < S_MAX_CANDIDATES ? count : S_MAX_CANDIDATES;
    for (size_t f = 0; f < name_count; f++)
        names[f] = fields[f].key;
    const char *hint = hpt_schema_did_you_mean (key->text, names, name_count);
    char list[256];
    s_join (list, sizeof (list), names, name_count, ", ");
    if (hint)
        hpt_schema_error (self, key, "unknown field (did you mean '%s'?)", hint);
    else if (count <= S_LIST_KEYS_MAX)
        hpt_schema_error (self, key, "unknown field (expected %s)", list);
    else
        hpt_schema_error (self, key, "unknown field");
}

bool
hpt_schema_object (hpt_schema_t *self, hpt_node_t *node, const hpt_schema_field_t *fields,
                   size_t count, void *target)
{
    if (node->kind != HPT_NODE_MAP) {
        hpt_schema_error (self, node, "expected a mapping, got %s", hpt_node_kind_name (node));
        return false;
    }
    for (size_t i = 0; i < node->count; i++) {
        const hpt_schema_field_t *field = NULL;
        for (size_t f = 0; f < count && !field; f++)
            if (strcmp (fields[f].key, node->keys[i]) == 0) field = &fields[f];
        hpt_schema_push_key (self, node->keys[i]);
        if (!field)
            s_unknown_key (self, node->key_nodes[i], fields, count);
        else if (!hpt_schema_is_null (node->items[i]))
            field->handler (self, node->items[i], target, field);
        hpt_schema_pop (self);
    }
    for (size_t f = 0; f < count; f++)
        if (fields[f].required && !hpt_schema_has (node, fields[f].key))
            hpt_schema_error_child (self, node, fields[f].key, "required field is missing%s%s%s",
                                    *fields[f].required ? " (" : "", fields[f].required,
                                    *fields[f].required ? ")" : "");
    return true;
}

//  The member of target a field table entry names.
static void *
s_member (void *target, const hpt_schema_field_t *field)
{
    return (char *)target + field->offset;
}

bool
hpt_schema_string_field (hpt_schema_t *self, hpt_node_t *value, void *target,
                         const hpt_schema_field_t *field)
{
    return hpt_schema_string (self, value, false, s_member (target, field));
}

bool
hpt_schema_nonempty_field (hpt_schema_t *self, hpt_node_t *value, void *target,
                           const hpt_schema_field_t *field)
{
    return hpt_schema_string (self, value, true, s_member (target, field));
}

bool
hpt_schema_int64_field (hpt_schema_t *self, hpt_node_t *value, void *target,
                        const hpt_schema_field_t *field)
{
    return hpt_schema_int64 (self, value, field->min, field->max, s_member (target, field));
}

bool
hpt_schema_double_field (hpt_schema_t *self, hpt_node_t *value, void *target,
                         const hpt_schema_field_t *field)
{
    return hpt_schema_double (self, value, field->range, s_member (target, field));
}

bool
hpt_schema_bool_field (hpt_schema_t *self, hpt_node_t *value, void *target,
                       const hpt_schema_field_t *field)
{
    return hpt_schema_bool (self, value, s_member (target, field));
}

bool
hpt_schema_seconds_field (hpt_schema_t *self, hpt_node_t *value, void *target,
                          const hpt_schema_field_t *field)
{
    double seconds;
    if (!s_duration (self, value, false, S_MAX_SECONDS, &seconds)) return false;
    //  A zero Duration would mean "no limit" to some and "now" to others.
    if (!(seconds > 0)) {
        hpt_schema_error (self, value, "duration must be positive, got '%s'", value->text);
        return false;
    }
    *(double *)s_member (target, field) = seconds;
    return true;
}

bool
hpt_schema_millis_field (hpt_schema_t *self, hpt_node_t *value, void *target,
                         const hpt_schema_field_t *field)
{
    double seconds;
    if (!s_duration (self, value, true, (double)field->max / 1000.0, &seconds)) return false;
    int64_t ms = (int64_t)llround (seconds * 1000.0);
    //  Kept in whole milliseconds: "0.0001s" is not 0s, and says so.
    if (ms < field->min || (seconds > 0 && ms == 0)) {
        char least[32];
        hpt_schema_millis_text (field->min ? field->min : 1, least, sizeof (least));
        hpt_schema_error (self, value, "must be at least %s%s, got '%s'", least,
                          field->min ? "" : " (or 0s)", value->text);
        return false;
    }
    *(int64_t *)s_member (target, field) = ms;
    return true;
}

bool
hpt_schema_enum_field (hpt_schema_t *self, hpt_node_t *value, void *target,
                       const hpt_schema_field_t *field)
{
    int read = hpt_schema_enum (self, value, field->values, field->refused);
    if (read < 0) return false;
    //  hpt_enum types are plain C enums, which have the size of an int.
    *(int *)s_member (target, field) = read;
    return true;
}
