/*  Keeps a library non-empty while its directory has no other source.
    ISO C forbids an empty translation unit, hence the typedef. */
typedef int hpt_keep_t;
