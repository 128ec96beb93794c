/*  libFuzzer target: the JSON job reader (see fuzz_job_common.h). */
#include <stddef.h>
#include <stdint.h>
#include "fuzz_job_common.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_fuzz_job (data, size, HPT_CONFIG_JSON);
    return 0;
}
