/*  hpt_filter -- gcloud's resource filter language (see hpt_filter.h)

    Recursive descent over the text, one token of look-ahead, into a small
    tree of AND / OR / NOT nodes whose leaves are restrictions (key, op,
    alternatives). The lexer has two modes because values are not keys: a
    key ends at an operator, a value only at a blank or a parenthesis, so
    `createTime>2026-12-01T10:00:00Z` needs no quotes.

    Matching walks the key's path through the resource: a list on the way
    matches when any element does, a missing member matches nothing (so
    `!=`, which is NOT `=`, matches it).
*/
#include "hpt_filter.h"
#include "hpt_alloc.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum { S_AND, S_OR, S_NOT, S_TERM } s_kind_t;
typedef enum { S_HAS, S_EQ, S_NE, S_LT, S_LE, S_GT, S_GE } s_op_t;

typedef struct s_node_t {
    s_kind_t kind;              //  what the node is
    struct s_node_t **children; //  AND / OR: the operands, owned
    size_t count;               //  AND / OR: how many; NOT: 1 (children[0])
    char *key;                  //  TERM: the dotted path, owned
    s_op_t op;                  //  TERM: the comparison
    char **values;              //  TERM: alternatives, any of which may match, owned
    size_t value_count;         //  TERM: how many
} s_node_t;

struct _hpt_filter_t {
    s_node_t *root; //  NULL: the empty filter, which matches everything
};

//  The parser's state: the text, where it is, and the first error.
typedef struct {
    const char *text;                 //  the whole filter
    const char *at;                   //  next character to read
    const hpt_filter_field_t *fields; //  top-level members allowed
    size_t field_count;               //  how many
    hpt_error_t *error;               //  where the first problem goes
    bool failed;                      //  a problem was reported
} s_parser_t;

static void
s_node_destroy (s_node_t *node)
{
    if (!node) return;
    for (size_t i = 0; i < node->count; i++)
        s_node_destroy (node->children[i]);
    free (node->children);
    for (size_t i = 0; i < node->value_count; i++)
        free (node->values[i]);
    free (node->values);
    free (node->key);
    free (node);
}

static void
s_append (s_node_t *group, s_node_t *operand)
{
    group->children = hpt_realloc (group->children, (group->count + 1) * sizeof (s_node_t *));
    group->children[group->count++] = operand;
}

static void
s_fail (s_parser_t *p, const char *what)
{
    if (p->failed) return;
    p->failed = true;
    hpt_error_set (p->error, HPT_E_INVALID, "filter: %s at column %zu of '%s'", what,
                   (size_t)(p->at - p->text) + 1, p->text);
}

static void
s_skip_blanks (s_parser_t *p)
{
    while (*p->at && isspace ((unsigned char)*p->at))
        p->at++;
}

//  Whether a bare keyword (AND, OR, NOT) is next, as a whole word.
static bool
s_keyword (s_parser_t *p, const char *word)
{
    s_skip_blanks (p);
    size_t len = strlen (word);
    if (strncmp (p->at, word, len) != 0) return false;
    char after = p->at[len];
    return after == '\0' || isspace ((unsigned char)after) || after == '(';
}

//  A quoted string at p->at (its quote included); NULL after s_fail.
static char *
s_quoted (s_parser_t *p)
{
    char quote = *p->at++;
    size_t size = strlen (p->at) + 1;
    char *out = hpt_malloc (size);
    size_t n = 0;
    while (*p->at && *p->at != quote) {
        if (*p->at == '\\' && p->at[1]) p->at++;
        out[n++] = *p->at++;
    }
    if (*p->at != quote) {
        free (out);
        s_fail (p, "unterminated quoted string");
        return NULL;
    }
    p->at++;
    out[n] = '\0';
    return out;
}

//  A value: quoted, or bare up to a blank or a parenthesis.
static char *
s_value (s_parser_t *p)
{
    s_skip_blanks (p);
    if (*p->at == '"' || *p->at == '\'') return s_quoted (p);
    const char *start = p->at;
    while (*p->at && !isspace ((unsigned char)*p->at) && *p->at != '(' && *p->at != ')')
        p->at++;
    if (p->at == start) {
        s_fail (p, "a value is missing");
        return NULL;
    }
    return hpt_strndup (start, (size_t)(p->at - start));
}

static bool
s_read_op (s_parser_t *p, s_op_t *op)
{
    s_skip_blanks (p);
    const char *c = p->at;
    size_t len = 1;
    if (c[0] == ':')
        *op = S_HAS;
    else if (c[0] == '=')
        *op = S_EQ;
    else if (c[0] == '!' && c[1] == '=')
        *op = S_NE, len = 2;
    else if (c[0] == '<')
        *op = c[1] == '=' ? (len = 2, S_LE) : S_LT;
    else if (c[0] == '>')
        *op = c[1] == '=' ? (len = 2, S_GE) : S_GT;
    else {
        s_fail (p, "expected an operator (: = != < <= > >=) after the key");
        return false;
    }
    p->at += len;
    return true;
}

//  The key's first name must be a listed field; a field with spellings
//  accepts only those for exact and has-terms without a glob.
static void
s_check_term (s_parser_t *p, s_node_t *term)
{
    size_t len = strcspn (term->key, ".");
    const hpt_filter_field_t *field = NULL;
    for (size_t i = 0; i < p->field_count && !field; i++)
        if (strlen (p->fields[i].name) == len && strncmp (p->fields[i].name, term->key, len) == 0)
            field = &p->fields[i];
    if (!field) {
        char *what = hpt_asprintf ("unknown field '%.*s'", (int)len, term->key);
        s_fail (p, what);
        free (what);
        return;
    }
    if (!field->values || term->key[len] || term->op == S_LT || term->op == S_LE ||
        term->op == S_GT || term->op == S_GE)
        return;
    for (size_t v = 0; v < term->value_count; v++) {
        if (strchr (term->values[v], '*')) continue;
        bool known = false;
        for (size_t k = 0; field->values[k] && !known; k++)
            known = term->op == S_HAS ? strcasecmp (field->values[k], term->values[v]) == 0
                                      : strcmp (field->values[k], term->values[v]) == 0;
        if (!known) {
            char *what = hpt_asprintf ("'%s' is not a value of %s", term->values[v], field->name);
            s_fail (p, what);
            free (what);
        }
    }
}

static void
s_add_value (s_node_t *term, char *value)
{
    term->values = hpt_realloc (term->values, (term->value_count + 1) * sizeof (char *));
    term->values[term->value_count++] = value;
}

//  key op value, or key op ( value [OR] value ... ).
static s_node_t *
s_restriction (s_parser_t *p)
{
    const char *start = p->at;
    while (isalnum ((unsigned char)*p->at) || *p->at == '_' || *p->at == '.' || *p->at == '-')
        p->at++;
    if (p->at == start) {
        s_fail (p, "expected a key, NOT or '('");
        return NULL;
    }
    s_node_t *term = hpt_calloc (1, sizeof (s_node_t));
    term->kind = S_TERM;
    term->key = hpt_strndup (start, (size_t)(p->at - start));
    if (!s_read_op (p, &term->op)) {
        s_node_destroy (term);
        return NULL;
    }
    s_skip_blanks (p);
    if (*p->at == '(') {
        p->at++;
        while (!p->failed) {
            if (s_keyword (p, "OR")) p->at += 2;
            s_skip_blanks (p);
            if (*p->at == ')') break;
            char *value = s_value (p);
            if (value) s_add_value (term, value);
        }
        if (!p->failed && term->value_count == 0) s_fail (p, "an empty list of values");
        if (!p->failed) p->at++;
    } else {
        char *value = s_value (p);
        if (value) s_add_value (term, value);
    }
    if (!p->failed) s_check_term (p, term);
    if (p->failed) {
        s_node_destroy (term);
        return NULL;
    }
    return term;
}

static s_node_t *s_expression (s_parser_t *p, int depth);

static s_node_t *
s_negation (s_node_t *child)
{
    if (!child) return NULL;
    s_node_t *node = hpt_calloc (1, sizeof (s_node_t));
    node->kind = S_NOT;
    s_append (node, child);
    return node;
}

static s_node_t *
s_term (s_parser_t *p, int depth)
{
    s_skip_blanks (p);
    if (depth > HPT_FILTER_MAX_DEPTH) {
        s_fail (p, "too deeply nested");
        return NULL;
    }
    if (s_keyword (p, "NOT")) {
        p->at += 3;
        return s_negation (s_term (p, depth + 1));
    }
    if (*p->at == '-' && p->at[1] && !isspace ((unsigned char)p->at[1])) {
        p->at++;
        return s_negation (s_term (p, depth + 1));
    }
    if (*p->at != '(') return s_restriction (p);
    p->at++;
    s_node_t *inner = s_expression (p, depth + 1);
    s_skip_blanks (p);
    if (inner && *p->at != ')') {
        s_fail (p, "expected ')'");
        s_node_destroy (inner);
        return NULL;
    }
    if (inner) p->at++;
    return inner;
}

static s_node_t *
s_expression (s_parser_t *p, int depth)
{
    s_node_t *group = s_term (p, depth);
    int connective = -1;
    while (group && !p->failed) {
        s_skip_blanks (p);
        if (*p->at == '\0' || *p->at == ')') break;
        s_kind_t kind = S_AND;
        if (s_keyword (p, "AND"))
            p->at += 3;
        else if (s_keyword (p, "OR"))
            p->at += 2, kind = S_OR;
        if (connective >= 0 && (s_kind_t)connective != kind) {
            s_fail (p, "parentheses are required when AND and OR are combined");
            break;
        }
        s_node_t *operand = s_term (p, depth);
        if (!operand) break;
        //  The first connective makes the group; later ones add to it.
        if (connective < 0) {
            s_node_t *node = hpt_calloc (1, sizeof (s_node_t));
            node->kind = kind;
            s_append (node, group);
            group = node;
        }
        s_append (group, operand);
        connective = (int)kind;
    }
    if (p->failed) {
        s_node_destroy (group);
        return NULL;
    }
    return group;
}

hpt_filter_t *
hpt_filter_new (const char *text, const hpt_filter_field_t *fields, size_t count,
                hpt_error_t *error)
{
    if (!text) text = "";
    if (strlen (text) > HPT_FILTER_MAX_TEXT) {
        hpt_error_set (error, HPT_E_INVALID, "filter: longer than %d bytes", HPT_FILTER_MAX_TEXT);
        return NULL;
    }
    s_parser_t p = {text, text, fields, count, error, false};
    s_skip_blanks (&p);
    s_node_t *root = NULL;
    if (*p.at) {
        root = s_expression (&p, 0);
        if (root && *p.at) s_fail (&p, "unexpected ')'");
        if (p.failed) {
            s_node_destroy (root);
            return NULL;
        }
    }
    hpt_filter_t *self = hpt_calloc (1, sizeof (hpt_filter_t));
    self->root = root;
    return self;
}

void
hpt_filter_destroy (hpt_filter_t **self_p)
{
    if (!self_p || !*self_p) return;
    s_node_destroy ((*self_p)->root);
    free (*self_p);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Matching

//  Whether text matches pattern, where '*' is any run of characters.
//  Greedy with one back-track point: linear in practice, never worse
//  than the product of the lengths.
static bool
s_glob (const char *pattern, const char *text, bool fold)
{
    const char *star = NULL, *resume = NULL;
    while (*text) {
        if (*pattern == '*') {
            star = pattern++;
            resume = text;
        } else if (*pattern &&
                   (fold ? tolower ((unsigned char)*pattern) == tolower ((unsigned char)*text)
                         : *pattern == *text)) {
            pattern++;
            text++;
        } else if (star) {
            pattern = star + 1;
            text = ++resume;
        } else
            return false;
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

//  `has`: the whole value or one of its words (runs of letters and
//  digits), ignoring case.
static bool
s_has (const char *pattern, const char *text)
{
    if (strchr (pattern, '*')) return s_glob (pattern, text, true);
    if (strcasecmp (pattern, text) == 0) return true;
    size_t len = strlen (pattern);
    for (const char *c = text; *c;) {
        while (*c && !isalnum ((unsigned char)*c))
            c++;
        const char *start = c;
        while (isalnum ((unsigned char)*c))
            c++;
        if ((size_t)(c - start) == len && len && strncasecmp (start, pattern, len) == 0)
            return true;
    }
    return false;
}

static bool
s_number (const char *text, double *value)
{
    char *end = NULL;
    *value = strtod (text, &end);
    return end != text && *end == '\0' && isfinite (*value);
}

//  An RFC 3339 time (or a bare date) as seconds since the epoch.
static bool
s_time (const char *text, double *value)
{
    struct tm tm = {0};
    int used = 0;
    if (sscanf (text, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &used) != 3 ||
        used != 10)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *rest = text + 10;
    double fraction = 0, offset = 0;
    if (*rest == 'T' || *rest == 't' || *rest == ' ') {
        if (sscanf (rest + 1, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 3 ||
            used != 8)
            return false;
        rest += 9;
        if (*rest == '.') {
            char *end;
            fraction = strtod (rest, &end);
            rest = end;
        }
        int hours, minutes;
        if (*rest == 'Z' || *rest == 'z')
            rest++;
        else if ((*rest == '+' || *rest == '-') &&
                 sscanf (rest + 1, "%2d:%2d%n", &hours, &minutes, &used) == 2 && used == 5) {
            offset = (*rest == '-' ? -1 : 1) * (hours * 3600.0 + minutes * 60.0);
            rest += 6;
        }
    }
    if (*rest) return false;
    *value = (double)timegm (&tm) + fraction - offset;
    return true;
}

//  -1, 0 or 1: numbers as numbers, times as times, else as text.
static int
s_compare (const char *a, const char *b)
{
    double x, y;
    if ((s_number (a, &x) && s_number (b, &y)) || (s_time (a, &x) && s_time (b, &y)))
        return (x > y) - (x < y);
    int c = strcmp (a, b);
    return (c > 0) - (c < 0);
}

static bool
s_scalar_matches (const s_node_t *term, const char *text, const char *pattern)
{
    switch (term->op) {
        case S_HAS:
            return s_has (pattern, text);
        case S_EQ:
        case S_NE:
            return strchr (pattern, '*') ? s_glob (pattern, text, false)
                                         : s_compare (text, pattern) == 0;
        case S_LT:
            return s_compare (text, pattern) < 0;
        case S_LE:
            return s_compare (text, pattern) <= 0;
        case S_GT:
            return s_compare (text, pattern) > 0;
        case S_GE:
        default:
            return s_compare (text, pattern) >= 0;
    }
}

//  Whether a value at the end of the key's path matches any alternative.
static bool
s_value_matches (const s_node_t *term, json_t *value)
{
    if (json_is_array (value)) {
        size_t i;
        json_t *item;
        json_array_foreach (value, i, item) {
            if (s_value_matches (term, item)) return true;
        }
        return false;
    }
    if (json_is_null (value)) return false;
    char buffer[64];
    const char *text = buffer;
    if (json_is_string (value))
        text = json_string_value (value);
    else if (json_is_integer (value))
        snprintf (buffer, sizeof (buffer), "%" JSON_INTEGER_FORMAT, json_integer_value (value));
    else if (json_is_real (value))
        snprintf (buffer, sizeof (buffer), "%.17g", json_real_value (value));
    else if (json_is_boolean (value))
        text = json_is_true (value) ? "true" : "false";
    else
        //  An object: only `key:*` (present) can match it.
        return term->op == S_HAS && term->value_count == 1 && strcmp (term->values[0], "*") == 0;
    for (size_t i = 0; i < term->value_count; i++) {
        if (term->op == S_HAS && strcmp (term->values[i], "*") == 0) return true;
        if (s_scalar_matches (term, text, term->values[i])) return true;
    }
    return false;
}

//  Follows path (dotted) from value; lists on the way match when any
//  element does.
static bool
s_path_matches (const s_node_t *term, json_t *value, const char *path)
{
    if (!value) return false;
    if (!*path) return s_value_matches (term, value);
    if (json_is_array (value)) {
        size_t i;
        json_t *item;
        json_array_foreach (value, i, item) {
            if (s_path_matches (term, item, path)) return true;
        }
        return false;
    }
    if (!json_is_object (value)) return false;
    size_t len = strcspn (path, ".");
    char name[256];
    if (len >= sizeof (name)) return false;
    memcpy (name, path, len);
    name[len] = '\0';
    return s_path_matches (term, json_object_get (value, name), path + len + (path[len] == '.'));
}

static bool
s_matches (const s_node_t *node, json_t *resource)
{
    switch (node->kind) {
        case S_AND:
            for (size_t i = 0; i < node->count; i++)
                if (!s_matches (node->children[i], resource)) return false;
            return true;
        case S_OR:
            for (size_t i = 0; i < node->count; i++)
                if (s_matches (node->children[i], resource)) return true;
            return false;
        case S_NOT:
            return !s_matches (node->children[0], resource);
        case S_TERM:
        default: {
            bool match = s_path_matches (node, resource, node->key);
            return node->op == S_NE ? !match : match;
        }
    }
}

bool
hpt_filter_match (hpt_filter_t *self, json_t *resource)
{
    return !self->root || s_matches (self->root, resource);
}
