/*  hpt_filter -- gcloud's resource filter language, over JSON resources

    What `gcloud ai-platform jobs list --filter` and the `filter` parameter
    of projects.jobs.list accept (docs/interfaces.md, "Filters"):

        expression := term { [AND | OR] term }
        term       := NOT term | -term | ( expression ) | key op value
        op         := :  (has)   =  !=  <  <=  >  >=
        value      := word | "quoted" | 'quoted' | ( value { [OR] value } )

    A key is a dotted path into the resource (labels.team,
    trainingInput.scaleTier); a list member matches when any element does.
    `key:pattern` is case-insensitive and matches the whole value or any
    word of it; a pattern with `*` is a glob over the whole value;
    `key:*` is true when the key is present. `=` and `!=` compare exactly
    (`*` globs). `<`...`>=` compare numbers as numbers, RFC 3339 times as
    times, and anything else as text. Juxtaposed terms are ANDed. As in
    gcloud, AND and OR may not be mixed without parentheses (there is no
    precedence to guess wrong).

    Every key's first name must be one the caller lists, and a field
    listed with values accepts only those (exact and `:` terms), so a
    typo is an error rather than an empty answer. Bounded: at most
    HPT_FILTER_MAX_TEXT bytes and HPT_FILTER_MAX_DEPTH nested groups.

    A parsed filter is immutable; matching does not allocate.
*/
#ifndef HPT_FILTER_H_INCLUDED
#define HPT_FILTER_H_INCLUDED

#include "hpt_error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define HPT_FILTER_MAX_TEXT 4096
#define HPT_FILTER_MAX_DEPTH 32

//  A top-level member a filter may name.
typedef struct {
    const char *name;          //  the member
    const char *const *values; //  NULL-terminated spellings it may take, or NULL: any
} hpt_filter_field_t;

typedef struct _hpt_filter_t hpt_filter_t;

//  Parses text against fields (count of them). NULL with *error
//  (HPT_E_INVALID, naming the place) when it is not a valid filter. An
//  empty or blank text is a filter that matches everything.
hpt_filter_t *hpt_filter_new (const char *text, const hpt_filter_field_t *fields, size_t count,
                              hpt_error_t *error);

//  Destroys the filter and nulls the pointer.
void hpt_filter_destroy (hpt_filter_t **self_p);

//  Whether resource (a JSON object, borrowed) passes the filter.
bool hpt_filter_match (hpt_filter_t *self, json_t *resource);

#endif
