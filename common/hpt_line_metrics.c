/*  hpt_line_metrics -- metrics read from a trainer's output lines

    The default pattern is matched by hand (s_default_match), not by
    regexec: glibc's POSIX matcher, which must find the leftmost-longest
    match and then each group's extent, cost more CPU than all the rest of
    the agent's path for a trainer that prints metrics on every line. The
    hand matcher finds the same match as the regex would (unit tests check
    that on random lines against the compiled pattern):
      - the tag is a maximal run of [A-Za-z0-9_./-] from its first
        [A-Za-z_] (the separator cannot be one of those characters, so a
        shorter tag could never be followed by it);
      - then [ \t]*, one of = or :, [ \t]*;
      - the value is the longest prefix of the form
        [-+]?(digits[.]?digits*|[.]digits)([eE][-+]?digits)?.
    The leftmost run that has all three is the match; custom patterns use
    regexec.
 */
#include "hpt_line_metrics.h"
#include "hpt_alloc.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_GROUPS 32

struct _hpt_line_metrics_t {
    regex_t regex;   //  compiled, names removed
    int tag_group;   //  group number of (?<tag>), 0 when none
    int value_group; //  group number of (?<value>)
    int step_group;  //  group number of (?<step>), 0 when none
    bool is_default; //  the default pattern: step pairs set the step
    bool by_hand;    //  match with s_default_match instead of regexec
};

//  Rewrites named groups to plain ones, noting the numbers of tag, value
//  and step. Returns the rewritten pattern (caller frees) or NULL with
//  error set.
static char *
s_translate (const char *regex, int *tag, int *value, int *step, hpt_error_t *error)
{
    size_t len = strlen (regex);
    if (len > HPT_LINE_METRICS_REGEX_MAX) {
        hpt_error_set (error, HPT_E_INVALID, "longer than %d bytes", HPT_LINE_METRICS_REGEX_MAX);
        return NULL;
    }
    char *out = hpt_malloc (len + 1);
    size_t o = 0;
    int group = 0;
    bool in_bracket = false;
    *tag = *value = *step = 0;
    for (size_t i = 0; i < len; i++) {
        char c = regex[i];
        if (c == '\\' && i + 1 < len) {
            out[o++] = c;
            out[o++] = regex[++i];
            continue;
        }
        if (in_bracket) {
            //  "[]...]" and "[^]...]" keep a literal ']' first.
            if (c == ']') in_bracket = false;
            out[o++] = c;
            continue;
        }
        if (c == '[') {
            in_bracket = true;
            out[o++] = c;
            if (i + 1 < len && regex[i + 1] == '^') out[o++] = regex[++i];
            if (i + 1 < len && regex[i + 1] == ']') out[o++] = regex[++i];
            continue;
        }
        if (c == '(') {
            group++;
            out[o++] = c;
            if (i + 1 < len && regex[i + 1] == '?') {
                size_t start = i + 2;
                if (start < len && regex[start] == 'P') start++;
                if (start >= len || regex[start] != '<') {
                    hpt_error_set (error, HPT_E_INVALID,
                                   "'(?' at offset %zu: only named groups (?<name>...) "
                                   "are supported",
                                   i);
                    free (out);
                    return NULL;
                }
                const char *name = regex + start + 1;
                const char *end = strchr (name, '>');
                if (!end) {
                    hpt_error_set (error, HPT_E_INVALID, "unterminated group name at offset %zu",
                                   i);
                    free (out);
                    return NULL;
                }
                size_t n = (size_t)(end - name);
                int *slot = n == 3 && strncmp (name, "tag", 3) == 0     ? tag
                            : n == 5 && strncmp (name, "value", 5) == 0 ? value
                            : n == 4 && strncmp (name, "step", 4) == 0  ? step
                                                                        : NULL;
                if (!slot) {
                    hpt_error_set (error, HPT_E_INVALID,
                                   "unknown group name '%.*s' (use tag, value or step)",
                                   (int)(n > 64 ? 64 : n), name);
                    free (out);
                    return NULL;
                }
                *slot = group;
                i = (size_t)(end - regex);
            }
            continue;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    if (group >= S_MAX_GROUPS) {
        hpt_error_set (error, HPT_E_INVALID, "more than %d groups", S_MAX_GROUPS - 1);
        free (out);
        return NULL;
    }
    return out;
}

//  ---------------------------------------------------------------------
//  Constructs refused for their matching time

//  Index of the ']' closing the bracket expression opened at re[i], or len
//  when it is not closed (regcomp reports that). Knows "[]...]", "[^]...]"
//  and the classes [:alpha:], [=a=] and [.-.] inside.
static size_t
s_bracket_end (const char *re, size_t i, size_t len)
{
    size_t j = i + 1;
    if (j < len && re[j] == '^') j++;
    if (j < len && re[j] == ']') j++;
    while (j < len && re[j] != ']') {
        if (re[j] == '[' && j + 1 < len && strchr (":=.", re[j + 1])) {
            const char end[3] = {re[j + 1], ']', '\0'};
            const char *close = strstr (re + j + 2, end);
            j = close ? (size_t)(close - re) + 2 : len;
        } else
            j++;
    }
    return j;
}

//  Length of the quantifier at re[i] (*, +, ?, {n}, {n,}, {n,m}), 0 when
//  there is none; *repeats says whether it allows more than one.
static size_t
s_quantifier (const char *re, size_t i, size_t len, bool *repeats)
{
    if (i >= len) return 0;
    if (re[i] == '*' || re[i] == '+' || re[i] == '?') {
        *repeats = re[i] != '?';
        return 1;
    }
    if (re[i] != '{') return 0;
    char *end = NULL;
    long low = strtol (re + i + 1, &end, 10), high = low;
    if (end == re + i + 1) return 0;
    if (*end == ',') {
        const char *at = end + 1;
        high = *at == '}' ? -1 : strtol (at, &end, 10);
        if (high != -1 && end == at) return 0;
        if (high == -1) end = (char *)at;
    }
    if (*end != '}') return 0;
    *repeats = high == -1 || high > 1;
    return (size_t)(end - (re + i)) + 1;
}

//  Appends "WHAT 'TEXT' at offset AT" to the problems in *error.
static void
s_slow (hpt_error_t *error, const char *what, const char *re, size_t at, size_t end)
{
    size_t used = strlen (error->message);
    int n = (int)(end - at > 40 ? 40 : end - at);
    snprintf (error->message + used, sizeof (error->message) - used, "%s%s '%.*s%s' at offset %zu",
              used ? "; " : "", what, n, re + at, end - at > 40 ? "..." : "", at);
}

//  Refuses what glibc's matcher (and POSIX matchers generally) can take
//  exponential time on: back-references (\1..\9) and nested quantifiers, a
//  repetition of something that itself contains a quantifier ((a+)+,
//  (x*)*, (a?)*, a+*). A group under ? or {0,1}, and alternation under a
//  repetition ((a|b)+), stay allowed: their cost is polynomial, which the
//  line cap and the agent's time budget bound. Runs on the user's pattern
//  once s_translate accepted it (named groups well formed, at most
//  S_MAX_GROUPS groups), so offsets are the user's. 0, or -1 with every
//  problem in *error.
static int
s_refuse_slow (const char *re, hpt_error_t *error)
{
    hpt_error_clear (error);
    size_t len = strlen (re);
    //  Per open group: where it starts, and whether it holds a quantifier;
    //  frame 0 is the whole pattern.
    size_t start[S_MAX_GROUPS + 1] = {0};
    bool quantified[S_MAX_GROUPS + 1] = {false};
    size_t depth = 0;
    for (size_t i = 0; i < len;) {
        size_t atom = i;
        bool group = false;
        if (re[i] == '(') {
            if (depth < S_MAX_GROUPS) {
                depth++;
                start[depth] = i;
                quantified[depth] = false;
            }
            i++;
            if (i < len && re[i] == '?') {
                const char *close = strchr (re + i, '>');
                i = close ? (size_t)(close - re) + 1 : len;
            }
            continue;
        }
        if (re[i] == ')' && depth > 0) {
            atom = start[depth];
            group = quantified[depth];
            depth--;
            i++;
        } else if (re[i] == '[')
            i = s_bracket_end (re, i, len) + 1;
        else if (re[i] == '\\' && i + 1 < len) {
            if (re[i + 1] >= '1' && re[i + 1] <= '9')
                s_slow (error, "back-reference", re, i, i + 2);
            i += 2;
        } else if (re[i] == '|' || re[i] == '^' || re[i] == '$') {
            i++;
            continue;
        } else
            i++;
        //  The atom's quantifiers: a repeating one over a quantified group,
        //  or over an earlier quantifier of the same atom, nests.
        bool repeats = false, any = false;
        size_t q;
        while ((q = s_quantifier (re, i, len, &repeats)) > 0) {
            if (repeats && (group || any)) {
                s_slow (error, "nested quantifier", re, atom, i + q);
                group = false; //  one problem per construct
            }
            any = true;
            i += q;
        }
        quantified[depth] |= any || group;
    }
    if (!error->message[0]) return 0;
    size_t used = strlen (error->message);
    snprintf (error->message + used, sizeof (error->message) - used,
              ": not supported (back-references, and repeating what itself repeats as in "
              "(a+)+ or (x*)*, can take exponential time to match)");
    error->code = HPT_E_INVALID;
    return -1;
}

hpt_line_metrics_t *
hpt_line_metrics_new (const char *regex, hpt_error_t *error)
{
    bool is_default = regex == NULL || strcmp (regex, HPT_LINE_METRICS_DEFAULT) == 0;
    if (!regex) regex = HPT_LINE_METRICS_DEFAULT;
    hpt_line_metrics_t *self = hpt_calloc (1, sizeof (hpt_line_metrics_t));
    char *plain =
        s_translate (regex, &self->tag_group, &self->value_group, &self->step_group, error);
    if (!plain) {
        free (self);
        return NULL;
    }
    hpt_error_t slow;
    if (s_refuse_slow (regex, &slow) != 0) {
        hpt_error_set (error, HPT_E_INVALID, "%s", slow.message);
        free (plain);
        free (self);
        return NULL;
    }
    if (!self->value_group) {
        hpt_error_set (error, HPT_E_INVALID, "needs a (?<value>...) group");
        free (plain);
        free (self);
        return NULL;
    }
    int rc = regcomp (&self->regex, plain, REG_EXTENDED);
    free (plain);
    if (rc != 0) {
        char why[128];
        regerror (rc, &self->regex, why, sizeof (why));
        hpt_error_set (error, HPT_E_INVALID, "not a valid POSIX extended regular expression: %s",
                       why);
        free (self);
        return NULL;
    }
    self->is_default = is_default;
    self->by_hand = is_default;
    return self;
}

static bool
s_tag_start (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool
s_tag_char (char c)
{
    return s_tag_start (c) || (c >= '0' && c <= '9') || c == '.' || c == '/' || c == '-';
}

static bool
s_digit (char c)
{
    return c >= '0' && c <= '9';
}

//  Length of the longest value at s, 0 when there is none.
static size_t
s_value_length (const char *s)
{
    size_t i = 0;
    if (s[i] == '-' || s[i] == '+') i++;
    if (s_digit (s[i])) {
        while (s_digit (s[i]))
            i++;
        if (s[i] == '.') i++;
        while (s_digit (s[i]))
            i++;
    } else if (s[i] == '.' && s_digit (s[i + 1])) {
        i++;
        while (s_digit (s[i]))
            i++;
    } else
        return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t e = i + 1;
        if (s[e] == '-' || s[e] == '+') e++;
        if (s_digit (s[e])) {
            while (s_digit (s[e]))
                e++;
            i = e;
        }
    }
    return i;
}

//  The default pattern's match in line, as regexec would report it in m
//  (group 1 the tag, the value group as numbered in the pattern).
static bool
s_default_match (hpt_line_metrics_t *self, const char *line, regmatch_t *m)
{
    const char *run = line;
    while (*run) {
        if (!s_tag_char (*run)) {
            run++;
            continue;
        }
        const char *end = run;
        while (s_tag_char (*end))
            end++;
        const char *tag = run;
        while (tag < end && !s_tag_start (*tag))
            tag++;
        const char *at = end;
        while (*at == ' ' || *at == '\t')
            at++;
        if (tag < end && (*at == '=' || *at == ':')) {
            at++;
            while (*at == ' ' || *at == '\t')
                at++;
            size_t length = s_value_length (at);
            if (length > 0) {
                for (int g = 0; g < S_MAX_GROUPS; g++)
                    m[g].rm_so = m[g].rm_eo = -1;
                m[0].rm_so = tag - line;
                m[0].rm_eo = at + length - line;
                m[self->tag_group].rm_so = tag - line;
                m[self->tag_group].rm_eo = end - line;
                m[self->value_group].rm_so = at - line;
                m[self->value_group].rm_eo = at + length - line;
                return true;
            }
        }
        run = end;
    }
    return false;
}

bool
hpt_line_metrics_custom (hpt_line_metrics_t *self)
{
    return !self->by_hand;
}

void
hpt_line_metrics_destroy (hpt_line_metrics_t **self_p)
{
    if (!self_p || !*self_p) return;
    regfree (&(*self_p)->regex);
    free (*self_p);
    *self_p = NULL;
}

//  Copies match group g of line into buf; false when it did not match.
static bool
s_group (const char *line, regmatch_t *m, int g, char *buf, size_t size)
{
    if (g <= 0 || m[g].rm_so < 0) return false;
    size_t n = (size_t)(m[g].rm_eo - m[g].rm_so);
    if (n >= size) n = size - 1;
    memcpy (buf, line + m[g].rm_so, n);
    buf[n] = '\0';
    return true;
}

int
hpt_line_metrics_scan (hpt_line_metrics_t *self, const char *line, const char *default_tag,
                       hpt_line_point_t *out, int max)
{
    //  Only the first HPT_LINE_METRICS_LINE_MAX bytes: matching a custom
    //  pattern along a line can cost the square of its length.
    char head[HPT_LINE_METRICS_LINE_MAX + 1];
    size_t length = strnlen (line, HPT_LINE_METRICS_LINE_MAX + 1);
    if (length > HPT_LINE_METRICS_LINE_MAX) {
        memcpy (head, line, HPT_LINE_METRICS_LINE_MAX);
        head[HPT_LINE_METRICS_LINE_MAX] = '\0';
        line = head;
    }
    int count = 0;
    int64_t line_step = -1;
    regmatch_t m[S_MAX_GROUPS];
    const char *at = line;
    while (count < max && *at) {
        int flags = at == line ? 0 : REG_NOTBOL;
        if (self->by_hand ? !s_default_match (self, at, m)
                          : regexec (&self->regex, at, S_MAX_GROUPS, m, flags) != 0)
            break;
        char value_text[64], tag[HPT_LINE_METRICS_TAG_MAX], step_text[32];
        bool ok = s_group (at, m, self->value_group, value_text, sizeof (value_text));
        char *end = NULL;
        errno = 0;
        double value = ok ? strtod (value_text, &end) : 0;
        ok = ok && end != value_text && *end == '\0' && errno == 0 && isfinite (value);
        if (!s_group (at, m, self->tag_group, tag, sizeof (tag)))
            snprintf (tag, sizeof (tag), "%s", default_tag ? default_tag : "");
        int64_t step = -1;
        if (s_group (at, m, self->step_group, step_text, sizeof (step_text)))
            step = strtoll (step_text, NULL, 10);
        if (ok && self->is_default &&
            (strcmp (tag, "step") == 0 || strcmp (tag, "global_step") == 0)) {
            if (value >= 0 && value == floor (value)) line_step = (int64_t)value;
        } else if (ok && *tag) {
            snprintf (out[count].tag, sizeof (out[count].tag), "%s", tag);
            out[count].value = value;
            out[count].step = step;
            count++;
        }
        //  Go on after this match (at least one character on).
        at += m[0].rm_eo > 0 ? m[0].rm_eo : 1;
    }
    for (int i = 0; i < count; i++)
        if (out[i].step < 0) out[i].step = line_step;
    return count;
}
