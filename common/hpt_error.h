/*  hpt_error -- the one convention for recoverable errors

    A function that can fail for a reason its caller may act on returns
    its usual value (0 / a pointer) on success and -1 / NULL on failure,
    and fills an hpt_error_t the caller passes (NULL when the caller does
    not care). The error has a typed code, which callers branch on, and a
    message for people, which nobody parses. The codes are google.rpc.Code,
    so the REST API maps them onto HTTP statuses and Google's error shape
    in one place (hpt_error_http_status).

    Problems of a config document are not errors of this kind: a reader
    reports every problem at once into an hpt_diag (hpt_diag.h).

    Allocation failure is not recoverable: see hpt_alloc.h.

    Example:
        hpt_error_t error;
        if (hpt_store_commit (store, &error) != 0 && error.code == HPT_E_UNAVAILABLE)
            ...
*/
#ifndef HPT_ERROR_H_INCLUDED
#define HPT_ERROR_H_INCLUDED

#include "hpt_enum.h"

//  google.rpc.Code names; the REST API's status names.
#define HPT_ERROR_CODE_LIST(X)                                                                     \
    X (HPT_E_OK, "OK")                                                                             \
    X (HPT_E_INVALID, "INVALID_ARGUMENT")                                                          \
    X (HPT_E_NOT_FOUND, "NOT_FOUND")                                                               \
    X (HPT_E_EXISTS, "ALREADY_EXISTS")                                                             \
    X (HPT_E_FAILED_PRECONDITION, "FAILED_PRECONDITION")                                           \
    X (HPT_E_ABORTED, "ABORTED")                                                                   \
    X (HPT_E_UNAVAILABLE, "UNAVAILABLE")                                                           \
    X (HPT_E_UNAUTHENTICATED, "UNAUTHENTICATED")                                                   \
    X (HPT_E_PERMISSION_DENIED, "PERMISSION_DENIED")                                               \
    X (HPT_E_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED")                                             \
    X (HPT_E_UNIMPLEMENTED, "UNIMPLEMENTED")                                                       \
    X (HPT_E_INTERNAL, "INTERNAL")
HPT_ENUM_DECLARE (hpt_error_code, HPT_ERROR_CODE_LIST)

typedef struct {
    hpt_error_code_t code; //  what kind of failure, for the caller's decisions
    char message[1024];    //  what went wrong, for people
} hpt_error_t;

//  Sets *error (when error is not NULL) and returns -1, so a failing
//  function can `return hpt_error_set (error, HPT_E_NOT_FOUND, "...")`.
int hpt_error_set (hpt_error_t *error, hpt_error_code_t code, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Clears *error to HPT_E_OK with an empty message (error may be NULL).
void hpt_error_clear (hpt_error_t *error);

//  The HTTP status Google's APIs answer for code (200 for OK).
int hpt_error_http_status (hpt_error_code_t code);

#endif
