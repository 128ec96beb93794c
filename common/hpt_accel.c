/*  hpt_accel -- accelerator types hpt knows by name
 */
#include "hpt_accel.h"
#include <string.h>

static const hpt_accel_info_t s_table[] = {
    //  AI Platform Training's AcceleratorType enum
    {"NVIDIA_TESLA_K80", HPT_ACCEL_KIND_GPU, false},
    {"NVIDIA_TESLA_P100", HPT_ACCEL_KIND_GPU, false},
    {"NVIDIA_TESLA_V100", HPT_ACCEL_KIND_GPU, false},
    {"NVIDIA_TESLA_P4", HPT_ACCEL_KIND_GPU, false},
    {"NVIDIA_TESLA_T4", HPT_ACCEL_KIND_GPU, false},
    {"NVIDIA_TESLA_A100", HPT_ACCEL_KIND_GPU, false},
    {"TPU_V2", HPT_ACCEL_KIND_TPU, false},
    {"TPU_V3", HPT_ACCEL_KIND_TPU, false},
    {"TPU_V2_POD", HPT_ACCEL_KIND_TPU, true},
    {"TPU_V3_POD", HPT_ACCEL_KIND_TPU, true},
    //  Current parts (Vertex AI spellings)
    {"NVIDIA_A100_80GB", HPT_ACCEL_KIND_GPU, false},
    {"NVIDIA_L4", HPT_ACCEL_KIND_GPU, false},
    {"NVIDIA_H100_80GB", HPT_ACCEL_KIND_GPU, false},
    {"NVIDIA_H100_MEGA_80GB", HPT_ACCEL_KIND_GPU, false},
    {"NVIDIA_H200_141GB", HPT_ACCEL_KIND_GPU, false},
    {"NVIDIA_B200", HPT_ACCEL_KIND_GPU, false},
    {"NVIDIA_GENERIC_GPU", HPT_ACCEL_KIND_GPU, false},
    {"TPU_V4", HPT_ACCEL_KIND_TPU, false},
    {"TPU_V4_POD", HPT_ACCEL_KIND_TPU, true},
    {"TPU_V5E", HPT_ACCEL_KIND_TPU, false},
    {"TPU_V5P", HPT_ACCEL_KIND_TPU, false},
    {"TPU_V6E", HPT_ACCEL_KIND_TPU, false},
};

const hpt_accel_info_t *
hpt_accel_lookup (const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof (s_table) / sizeof (s_table[0]); i++)
        if (strcmp (s_table[i].name, name) == 0) return &s_table[i];
    return NULL;
}

const hpt_accel_info_t *
hpt_accel_table (size_t *count)
{
    *count = sizeof (s_table) / sizeof (s_table[0]);
    return s_table;
}
