/*  hpt_accel -- accelerator types hpt knows by name

    AI Platform's AcceleratorType enum (NVIDIA_TESLA_K80 ... TPU_V3_POD)
    plus current parts (A100 80GB, L4, H100, H200, TPU v4/v5e/v5p). Jobs
    name them in acceleratorConfig.type; agents map what they discover onto
    them; the scheduler matches the two by name.
*/
#ifndef HPT_ACCEL_H_INCLUDED
#define HPT_ACCEL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    HPT_ACCEL_KIND_GPU, //  an NVIDIA GPU: a task gets whole devices
    HPT_ACCEL_KIND_TPU, //  a TPU: a task gets the whole TPU host
} hpt_accel_kind_t;

typedef struct {
    const char *name;      //  enum string, e.g. "NVIDIA_TESLA_V100"
    hpt_accel_kind_t kind; //  GPU or TPU
    bool pod;              //  a *_POD slice (accepted, not schedulable yet)
} hpt_accel_info_t;

//  The table entry for name, or NULL when hpt does not know the type.
const hpt_accel_info_t *hpt_accel_lookup (const char *name);

//  All known types (borrowed static table); *count receives its length.
const hpt_accel_info_t *hpt_accel_table (size_t *count);

#endif
