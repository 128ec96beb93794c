/*  hpt_json -- canonical JSON text for hpt's documents

    jansson prints reals with "%.17g", so 0.1 comes out as
    0.10000000000000001. hpt's canonical JSON (job specs, API answers)
    prints every real in its shortest form that reads back to the same
    double, keeps keys in insertion order, and indents by two spaces, so
    that output is stable, readable and byte-comparable.
*/
#ifndef HPT_JSON_H_INCLUDED
#define HPT_JSON_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>

//  Serializes value (borrowed). pretty: two-space indentation and a final
//  newline; otherwise compact. The caller frees the returned string.
char *hpt_json_dumps (json_t *value, bool pretty);

//  Serializes value (borrowed) exactly as the pretty hpt_json_dumps prints
//  it when it sits depth levels deep in a document (no final newline), so
//  pieces rendered apart join into the text of the whole. The caller frees
//  the returned string.
char *hpt_json_dumps_nested (json_t *value, int depth);

//  Renders value (borrowed) as a YAML document (block style). Strings that
//  a YAML 1.1 loader would read as something else ("true", "1", "null")
//  are quoted. The caller frees the returned string; NULL on failure.
char *hpt_json_dumps_yaml (json_t *value);

#endif
