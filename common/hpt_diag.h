/*  hpt_diag -- the list of problems found in one config document

    Validation never stops at the first problem: every violation is added
    here with where it is, and the whole list is printed at once. A YAML
    problem prints as

        FILE:LINE:COL: trainingInput.hyperparameters.params[2].minValue: message

    and a JSON one, whose values carry no position, as

        FILE: /trainingInput/hyperparameters/params/2/minValue: message

    (a JSON pointer, RFC 6901). Problems of the document as a whole (a
    syntax error) have no field path.

    Each problem also carries Google's field path, the form AI Platform's
    `google.rpc.BadRequest` field violations use: the proto field names
    (snake_case), list items as `[i]` and map keys as in field masks
    (`labels.team`, or in backticks when not an identifier), e.g.
    `training_input.hyperparameters.params[2].min_value`. The API answers
    with it in `field` and keeps the JSON pointer in the hpt extension
    member `hptPointer`.
*/
#ifndef HPT_DIAG_H_INCLUDED
#define HPT_DIAG_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct _hpt_diag_t hpt_diag_t;

typedef struct {
    size_t line;   //  1-based, 0 when unknown
    size_t column; //  1-based, 0 when unknown
    char *path;    //  dotted field path, "" for the whole document
    char *pointer; //  JSON pointer of the same field
    char *field;   //  Google's field path of the same field
    char *message; //  what is wrong and, where it helps, how to fix it
} hpt_diag_entry_t;

//  Creates an empty list for a document named source (copied: a file
//  name, or "request" for an API body). json_pointers selects the printed
//  form of paths.
hpt_diag_t *hpt_diag_new (const char *source, bool json_pointers);

//  Destroys the list and nulls the pointer.
void hpt_diag_destroy (hpt_diag_t **self_p);

//  Adds a problem at one field, named three ways (dotted path, JSON
//  pointer, Google's field path: see above); all three NULL for the whole
//  document. Every string is copied.
void hpt_diag_add (hpt_diag_t *self, size_t line, size_t column, const char *path,
                   const char *pointer, const char *field, const char *message);

//  Number of problems.
size_t hpt_diag_count (hpt_diag_t *self);

//  Problem i, borrowed; problems are in document order once sorted.
const hpt_diag_entry_t *hpt_diag_entry (hpt_diag_t *self, size_t i);

//  Orders problems by position (stable for equal or unknown positions).
void hpt_diag_sort (hpt_diag_t *self);

//  Prints every problem, one per line, in the form described above.
void hpt_diag_print (hpt_diag_t *self, FILE *out);

//  One problem as printed (without newline); the caller frees it.
char *hpt_diag_format (hpt_diag_t *self, size_t i);

//  Google's BadRequest detail: {"@type": "type.googleapis.com/google.rpc.BadRequest",
//  "fieldViolations": [{"field", "description", "hptPointer"}]}: field is
//  Google's field path, hptPointer (hpt extension; absent for the whole
//  document) the JSON pointer. The caller owns the result.
json_t *hpt_diag_to_json (hpt_diag_t *self);

#endif
