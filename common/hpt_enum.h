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
    order, the first is 0), its spelling table `hpt_job_state_enum` (an
    hpt_enum_t, for code that works on any enum: the config readers'
    enum converter lists and suggests spellings from it) and three
    functions:

        const char *hpt_job_state_name (hpt_job_state_t value);
            //  the spelling; "" for a value outside the list
        int hpt_job_state_parse (const char *text, hpt_job_state_t *value);
            //  0 and *value set when text is a spelling, else -1
        size_t hpt_job_state_count (void);
            //  how many values the list has

    so the name table and the parser can never disagree with the values.
    The functions are static inline over the one table, so an enum whose
    spellings are only ever written (or only read) exports no function
    that nothing calls.
*/
#ifndef HPT_ENUM_H_INCLUDED
#define HPT_ENUM_H_INCLUDED

#include <stddef.h>
#include <string.h>

//  The spellings of one enum, in value order (what HPT_ENUM_DEFINE makes).
typedef struct {
    const char *const *names; //  names[value] is the spelling of value
    size_t count;             //  values in the list
} hpt_enum_t;

//  The spelling of value, or "" for a value outside the list.
static inline const char *
hpt_enum_name (const hpt_enum_t *type, size_t value)
{
    return value < type->count ? type->names[value] : "";
}

//  The value spelled text (case-sensitive), or -1.
static inline int
hpt_enum_index (const hpt_enum_t *type, const char *text)
{
    for (size_t i = 0; text && i < type->count; i++)
        if (strcmp (type->names[i], text) == 0) return (int)i;
    return -1;
}

#define HPT_ENUM_VALUE_(id, text) id,
#define HPT_ENUM_TEXT_(id, text) text,

#define HPT_ENUM_DECLARE(prefix, LIST)                                                             \
    typedef enum { LIST (HPT_ENUM_VALUE_) } prefix##_t;                                            \
    extern const hpt_enum_t prefix##_enum;                                                         \
    static inline const char *prefix##_name (prefix##_t value)                                     \
    {                                                                                              \
        return hpt_enum_name (&prefix##_enum, (size_t)value);                                      \
    }                                                                                              \
    static inline int prefix##_parse (const char *text, prefix##_t *value)                         \
    {                                                                                              \
        int index = hpt_enum_index (&prefix##_enum, text);                                         \
        if (index < 0) return -1;                                                                  \
        *value = (prefix##_t)index;                                                                \
        return 0;                                                                                  \
    }                                                                                              \
    static inline size_t prefix##_count (void)                                                     \
    {                                                                                              \
        return prefix##_enum.count;                                                                \
    }

#define HPT_ENUM_DEFINE(prefix, LIST)                                                              \
    static const char *const prefix##_texts_[] = {LIST (HPT_ENUM_TEXT_)};                          \
    const hpt_enum_t prefix##_enum = {prefix##_texts_,                                             \
                                      sizeof (prefix##_texts_) / sizeof (prefix##_texts_[0])};

#endif
