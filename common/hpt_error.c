/*  hpt_error -- typed errors for recoverable failures (see hpt_error.h)
 */
#include "hpt_error.h"
#include <stdarg.h>
#include <stdio.h>

HPT_ENUM_DEFINE (hpt_error_code, HPT_ERROR_CODE_LIST)

int
hpt_error_set (hpt_error_t *error, hpt_error_code_t code, const char *format, ...)
{
    if (error) {
        error->code = code;
        va_list args;
        va_start (args, format);
        vsnprintf (error->message, sizeof (error->message), format, args);
        va_end (args);
    }
    return -1;
}

void
hpt_error_clear (hpt_error_t *error)
{
    if (error) {
        error->code = HPT_E_OK;
        error->message[0] = '\0';
    }
}

int
hpt_error_http_status (hpt_error_code_t code)
{
    //  google.rpc.Code's documented HTTP mapping.
    switch (code) {
        case HPT_E_OK:
            return 200;
        case HPT_E_INVALID:
        case HPT_E_FAILED_PRECONDITION:
            return 400;
        case HPT_E_NOT_FOUND:
            return 404;
        case HPT_E_EXISTS:
        case HPT_E_ABORTED:
            return 409;
        case HPT_E_UNAVAILABLE:
            return 503;
        case HPT_E_UNAUTHENTICATED:
            return 401;
        case HPT_E_PERMISSION_DENIED:
            return 403;
        case HPT_E_RESOURCE_EXHAUSTED:
            return 429;
        case HPT_E_UNIMPLEMENTED:
            return 501;
        case HPT_E_INTERNAL:
            return 500;
    }
    return 500;
}
