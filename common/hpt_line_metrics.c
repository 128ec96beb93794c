/*  hpt_line_metrics -- metrics read from a trainer's output lines
 */
#include "hpt_line_metrics.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_GROUPS 32
#define S_MAX_REGEX 4096

struct _hpt_line_metrics_t {
    regex_t regex;   //  compiled, names removed
    int tag_group;   //  group number of (?<tag>), 0 when none
    int value_group; //  group number of (?<value>)
    int step_group;  //  group number of (?<step>), 0 when none
    bool is_default; //  the default pattern: step pairs set the step
};

//  Rewrites named groups to plain ones, noting the numbers of tag, value
//  and step. Returns the rewritten pattern (caller frees) or NULL with a
//  message.
static char *
s_translate (const char *regex, int *tag, int *value, int *step, char *error, size_t size)
{
    size_t len = strlen (regex);
    if (len > S_MAX_REGEX) {
        snprintf (error, size, "longer than %d bytes", S_MAX_REGEX);
        return NULL;
    }
    char *out = malloc (len + 1);
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
                    snprintf (error, size,
                              "'(?' at offset %zu: only named groups (?<name>...) "
                              "are supported",
                              i);
                    free (out);
                    return NULL;
                }
                const char *name = regex + start + 1;
                const char *end = strchr (name, '>');
                if (!end) {
                    snprintf (error, size, "unterminated group name at offset %zu", i);
                    free (out);
                    return NULL;
                }
                size_t n = (size_t)(end - name);
                int *slot = n == 3 && strncmp (name, "tag", 3) == 0     ? tag
                            : n == 5 && strncmp (name, "value", 5) == 0 ? value
                            : n == 4 && strncmp (name, "step", 4) == 0  ? step
                                                                        : NULL;
                if (!slot) {
                    snprintf (error, size, "unknown group name '%.*s' (use tag, value or step)",
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
        snprintf (error, size, "more than %d groups", S_MAX_GROUPS - 1);
        free (out);
        return NULL;
    }
    return out;
}

hpt_line_metrics_t *
hpt_line_metrics_new (const char *regex, char *error, size_t error_size)
{
    bool is_default = regex == NULL || strcmp (regex, HPT_LINE_METRICS_DEFAULT) == 0;
    if (!regex) regex = HPT_LINE_METRICS_DEFAULT;
    hpt_line_metrics_t *self = calloc (1, sizeof (hpt_line_metrics_t));
    char *plain = s_translate (regex, &self->tag_group, &self->value_group, &self->step_group,
                               error, error_size);
    if (!plain) {
        free (self);
        return NULL;
    }
    if (!self->value_group) {
        snprintf (error, error_size, "needs a (?<value>...) group");
        free (plain);
        free (self);
        return NULL;
    }
    int rc = regcomp (&self->regex, plain, REG_EXTENDED);
    free (plain);
    if (rc != 0) {
        char why[128];
        regerror (rc, &self->regex, why, sizeof (why));
        snprintf (error, error_size, "not a valid POSIX extended regular expression: %s", why);
        free (self);
        return NULL;
    }
    self->is_default = is_default;
    return self;
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
    int count = 0;
    int64_t line_step = -1;
    regmatch_t m[S_MAX_GROUPS];
    const char *at = line;
    while (count < max && *at) {
        int flags = at == line ? 0 : REG_NOTBOL;
        if (regexec (&self->regex, at, S_MAX_GROUPS, m, flags) != 0) break;
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
