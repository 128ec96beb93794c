/*  hpt_enum -- one definition per enum: values, spellings and parser

    Every enum whose values have names outside the program (REST strings,
    store columns, config keywords, wire values) is written once, as an
    X-macro list in the header of the class that owns it:

        #define HPT_JOB_STATE_LIST(X)                  \
            X (HPT_JOB_QUEUED, "QUEUED")               \
            X (HPT_JOB_PREPARING, "PREPARING")         \
            ...
        HPT_ENUM_DECLARE (hpt_job_state, HPT_JOB_STATE_LIST)

    and defined once in that class's .c file:

        HPT_ENUM_DEFINE (hpt_job_state, HPT_JOB_STATE_LIST)

    The declaration gives the type `hpt_job_state_t` (values in list
    order, the first is 0) and the prototypes of the three functions the
    definition gives:

        const char *hpt_job_state_name (hpt_job_state_t value);
            //  the spelling; "" for a value outside the list
        int hpt_job_state_parse (const char *text, hpt_job_state_t *value);
            //  0 and *value set when text is a spelling, else -1
        size_t hpt_job_state_count (void);
            //  how many values the list has

    so the name table and the parser can never disagree with the values.
*/
#ifndef HPT_ENUM_H_INCLUDED
#define HPT_ENUM_H_INCLUDED

#include <stddef.h>
#include <string.h>

#define HPT_ENUM_VALUE_(id, text) id,
#define HPT_ENUM_TEXT_(id, text) text,

#define HPT_ENUM_DECLARE(prefix, LIST)                                                             \
    typedef enum { LIST (HPT_ENUM_VALUE_) } prefix##_t;                                            \
    const char *prefix##_name (prefix##_t value);                                                  \
    int prefix##_parse (const char *text, prefix##_t *value);                                      \
    size_t prefix##_count (void);

#define HPT_ENUM_DEFINE(prefix, LIST)                                                              \
    static const char *const prefix##_texts_[] = {LIST (HPT_ENUM_TEXT_)};                          \
    size_t prefix##_count (void)                                                                   \
    {                                                                                              \
        return sizeof (prefix##_texts_) / sizeof (prefix##_texts_[0]);                             \
    }                                                                                              \
    const char *prefix##_name (prefix##_t value)                                                   \
    {                                                                                              \
        return (size_t)value < prefix##_count () ? prefix##_texts_[value] : "";                    \
    }                                                                                              \
    int prefix##_parse (const char *text, prefix##_t *value)                                       \
    {                                                                                              \
        for (size_t i = 0; text && i < prefix##_count (); i++)                                     \
            if (strcmp (prefix##_texts_[i], text) == 0) {                                          \
                *value = (prefix##_t)i;                                                            \
                return 0;                                                                          \
            }                                                                                      \
        return -1;                                                                                 \
    }

#endif
