/*  libFuzzer target: the YAML job reader (see fuzz_job_common.h). */
#include <stddef.h>
#include <stdint.h>
#include "fuzz_job_common.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_fuzz_job (data, size, HPT_CONFIG_YAML);
    return 0;
}
