/*  hpt_accel -- accelerator types hpt knows by name

    The MIG profiles are NVIDIA's GPU-instance profiles per GPU (the MIG
    user guide's "Supported MIG Profiles"): 1, 2, 3, 4 and 7 slices of
    compute with their memory, and the 1-slice profiles with the media
    engines (+me). A100 40GB and 80GB, H100 80GB (and the 94/96 GB
    parts, which hpt types as NVIDIA_H100_80GB), H200 and B200.
    Compute-instance sub-profiles (1c.2g.20gb) are not in the table: a GPU
    partitioned that way offers instances nobody can request yet.
*/
#include "hpt_accel.h"
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define S_GPU(name)                                                                                \
    {                                                                                              \
        name, HPT_ACCEL_KIND_GPU, false, NULL, NULL                                                \
    }
#define S_TPU(name, pod)                                                                           \
    {                                                                                              \
        name, HPT_ACCEL_KIND_TPU, pod, NULL, NULL                                                  \
    }
#define S_MIG(parent, suffix, profile)                                                             \
    {                                                                                              \
        parent "_" suffix, HPT_ACCEL_KIND_GPU, false, parent, profile                              \
    }

static const hpt_accel_info_t s_table[] = {
    //  AI Platform Training's AcceleratorType enum
    S_GPU ("NVIDIA_TESLA_K80"),
    S_GPU ("NVIDIA_TESLA_P100"),
    S_GPU ("NVIDIA_TESLA_V100"),
    S_GPU ("NVIDIA_TESLA_P4"),
    S_GPU ("NVIDIA_TESLA_T4"),
    S_GPU ("NVIDIA_TESLA_A100"),
    S_TPU ("TPU_V2", false),
    S_TPU ("TPU_V3", false),
    S_TPU ("TPU_V2_POD", true),
    S_TPU ("TPU_V3_POD", true),
    //  Current parts (Vertex AI spellings)
    S_GPU ("NVIDIA_A100_80GB"),
    S_GPU ("NVIDIA_L4"),
    S_GPU ("NVIDIA_H100_80GB"),
    S_GPU ("NVIDIA_H100_MEGA_80GB"),
    S_GPU ("NVIDIA_H200_141GB"),
    S_GPU ("NVIDIA_B200"),
    S_GPU ("NVIDIA_GENERIC_GPU"),
    S_TPU ("TPU_V4", false),
    S_TPU ("TPU_V4_POD", true),
    S_TPU ("TPU_V5E", false),
    S_TPU ("TPU_V5P", false),
    S_TPU ("TPU_V6E", false),
    //  MIG instances: A100 40GB
    S_MIG ("NVIDIA_TESLA_A100", "1G_5GB", "1g.5gb"),
    S_MIG ("NVIDIA_TESLA_A100", "1G_5GB_ME", "1g.5gb+me"),
    S_MIG ("NVIDIA_TESLA_A100", "1G_10GB", "1g.10gb"),
    S_MIG ("NVIDIA_TESLA_A100", "2G_10GB", "2g.10gb"),
    S_MIG ("NVIDIA_TESLA_A100", "3G_20GB", "3g.20gb"),
    S_MIG ("NVIDIA_TESLA_A100", "4G_20GB", "4g.20gb"),
    S_MIG ("NVIDIA_TESLA_A100", "7G_40GB", "7g.40gb"),
    //  A100 80GB
    S_MIG ("NVIDIA_A100_80GB", "1G_10GB", "1g.10gb"),
    S_MIG ("NVIDIA_A100_80GB", "1G_10GB_ME", "1g.10gb+me"),
    S_MIG ("NVIDIA_A100_80GB", "1G_20GB", "1g.20gb"),
    S_MIG ("NVIDIA_A100_80GB", "2G_20GB", "2g.20gb"),
    S_MIG ("NVIDIA_A100_80GB", "3G_40GB", "3g.40gb"),
    S_MIG ("NVIDIA_A100_80GB", "4G_40GB", "4g.40gb"),
    S_MIG ("NVIDIA_A100_80GB", "7G_80GB", "7g.80gb"),
    //  H100 80GB, and the 94 GB (NVL) and 96 GB (GH200) parts
    S_MIG ("NVIDIA_H100_80GB", "1G_10GB", "1g.10gb"),
    S_MIG ("NVIDIA_H100_80GB", "1G_10GB_ME", "1g.10gb+me"),
    S_MIG ("NVIDIA_H100_80GB", "1G_20GB", "1g.20gb"),
    S_MIG ("NVIDIA_H100_80GB", "2G_20GB", "2g.20gb"),
    S_MIG ("NVIDIA_H100_80GB", "3G_40GB", "3g.40gb"),
    S_MIG ("NVIDIA_H100_80GB", "4G_40GB", "4g.40gb"),
    S_MIG ("NVIDIA_H100_80GB", "7G_80GB", "7g.80gb"),
    S_MIG ("NVIDIA_H100_80GB", "1G_12GB", "1g.12gb"),
    S_MIG ("NVIDIA_H100_80GB", "1G_12GB_ME", "1g.12gb+me"),
    S_MIG ("NVIDIA_H100_80GB", "1G_24GB", "1g.24gb"),
    S_MIG ("NVIDIA_H100_80GB", "2G_24GB", "2g.24gb"),
    S_MIG ("NVIDIA_H100_80GB", "3G_47GB", "3g.47gb"),
    S_MIG ("NVIDIA_H100_80GB", "4G_47GB", "4g.47gb"),
    S_MIG ("NVIDIA_H100_80GB", "7G_94GB", "7g.94gb"),
    S_MIG ("NVIDIA_H100_80GB", "3G_48GB", "3g.48gb"),
    S_MIG ("NVIDIA_H100_80GB", "4G_48GB", "4g.48gb"),
    S_MIG ("NVIDIA_H100_80GB", "7G_96GB", "7g.96gb"),
    //  H200 141GB
    S_MIG ("NVIDIA_H200_141GB", "1G_18GB", "1g.18gb"),
    S_MIG ("NVIDIA_H200_141GB", "1G_18GB_ME", "1g.18gb+me"),
    S_MIG ("NVIDIA_H200_141GB", "1G_35GB", "1g.35gb"),
    S_MIG ("NVIDIA_H200_141GB", "2G_35GB", "2g.35gb"),
    S_MIG ("NVIDIA_H200_141GB", "3G_71GB", "3g.71gb"),
    S_MIG ("NVIDIA_H200_141GB", "4G_71GB", "4g.71gb"),
    S_MIG ("NVIDIA_H200_141GB", "7G_141GB", "7g.141gb"),
    //  B200
    S_MIG ("NVIDIA_B200", "1G_23GB", "1g.23gb"),
    S_MIG ("NVIDIA_B200", "1G_23GB_ME", "1g.23gb+me"),
    S_MIG ("NVIDIA_B200", "1G_45GB", "1g.45gb"),
    S_MIG ("NVIDIA_B200", "2G_45GB", "2g.45gb"),
    S_MIG ("NVIDIA_B200", "3G_90GB", "3g.90gb"),
    S_MIG ("NVIDIA_B200", "4G_90GB", "4g.90gb"),
    S_MIG ("NVIDIA_B200", "7G_180GB", "7g.180gb"),
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

bool
hpt_accel_mig_name (const char *parent, const char *profile, char *out, size_t size)
{
    if (size) out[0] = '\0';
    size_t length = profile ? strlen (profile) : 0;
    if (!parent || !*parent || length == 0 || length > 24) return false;
    for (size_t i = 0; i < length; i++) {
        char c = profile[i];
        if (!(isdigit ((unsigned char)c) || (c >= 'a' && c <= 'z') || c == '.' || c == '+' ||
              c == '-'))
            return false;
    }
    int n = snprintf (out, size, "%s_%s", parent, profile);
    if (n < 0 || (size_t)n >= size) {
        if (size) out[0] = '\0';
        return false;
    }
    for (char *c = out + strlen (parent) + 1; *c; c++)
        *c = *c == '.' || *c == '+' || *c == '-' ? '_' : (char)toupper ((unsigned char)*c);
    return true;
}
