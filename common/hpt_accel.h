/*  hpt_accel -- accelerator types hpt knows by name

    AI Platform's AcceleratorType enum (NVIDIA_TESLA_K80 ... TPU_V3_POD)
    plus current parts (A100 80GB, L4, H100, H200, TPU v4/v5e/v5p). Jobs
    name them in acceleratorConfig.type; agents map what they discover onto
    them; the scheduler matches the two by name.

    MIG instances are types of their own (docs/scheduling.md, "MIG"): the
    type of their GPU, then the GPU-instance profile NVIDIA names them by
    ("1g.10gb", "1g.10gb+me") in capitals with '_' for '.' and '+':
    NVIDIA_A100_80GB_1G_10GB, NVIDIA_H100_80GB_1G_10GB_ME. The table holds
    the profiles of the GPUs that have MIG; hpt_accel_mig_name derives the
    name for any profile, and only a name in the table can be requested.
*/
#ifndef HPT_ACCEL_H_INCLUDED
#define HPT_ACCEL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    HPT_ACCEL_KIND_GPU, //  an NVIDIA GPU (or a MIG instance of one): a task gets whole devices
    HPT_ACCEL_KIND_TPU, //  a TPU: a task gets the whole TPU host
} hpt_accel_kind_t;

typedef struct {
    const char *name;        //  enum string, e.g. "NVIDIA_TESLA_V100"
    hpt_accel_kind_t kind;   //  GPU or TPU
    bool pod;                //  a *_POD slice (accepted, not schedulable yet)
    const char *mig_parent;  //  a MIG instance type: its GPU's type; NULL for a whole device
    const char *mig_profile; //  a MIG instance type: NVIDIA's profile name, e.g. "1g.10gb"
} hpt_accel_info_t;

//  The table entry for name, or NULL when hpt does not know the type.
const hpt_accel_info_t *hpt_accel_lookup (const char *name);

//  All known types (borrowed static table), whole devices first, then the
//  MIG instance types; *count receives its length.
const hpt_accel_info_t *hpt_accel_table (size_t *count);

//  Writes the MIG instance type name of profile ("1g.10gb", "1c.2g.20gb",
//  "1g.10gb+me", as NVML names it) on a GPU of type parent into out:
//  "<parent>_<PROFILE>", the profile in capitals with '.' and '+' (and
//  '-') as '_'. Returns false (out "") when the profile is not
//  [0-9a-z.+-]{1,24} or the name does not fit. The name may be one the
//  table does not hold (a profile hpt does not know): check with
//  hpt_accel_lookup.
bool hpt_accel_mig_name (const char *parent, const char *profile, char *out, size_t size);

#endif
