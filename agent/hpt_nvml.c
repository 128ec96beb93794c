/*  hpt_nvml -- what NVIDIA's management library says about this host's GPUs

    NVML is loaded with dlopen, never linked: a CPU-only host and CI have
    no NVIDIA driver, and the same binary must run there. We declare the
    handful of NVML types we use ourselves, with NVML's published layout
    (nvml.h, API version 11+), and resolve each entry point by name. The
    MIG calls are optional: a driver too old to have them, or a GPU without
    MIG, simply reports no instances.

    The snapshot is taken once (nvmlInit_v2, walk the devices, nvmlShutdown,
    dlclose): discovery runs at agent start, and holding the library open
    would keep the driver's state for nothing.

    Model names map to hpt types by whole-token match ("V100" matches
    "Tesla V100-SXM2-16GB" and "GV100GL [Tesla V100 SXM2 32GB]", but not
    "Quadro GV100"; "L4" does not match "L40S"), so NVML's marketing names
    and the PCI database's names go through the same table.
*/
#include "hpt_nvml.h"
#include "hpt_alloc.h"

#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  NVML's types, as published in nvml.h. Only what we call.
typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_DEVICE_MIG_ENABLE 1
typedef struct nvmlDevice_st *nvmlDevice_t;

typedef struct {
    unsigned long long total; //  bytes
    unsigned long long free;  //  bytes
    unsigned long long used;  //  bytes
} nvmlMemory_t;

typedef struct {
    char busIdLegacy[16];        //  "0000:3B:00.0" (legacy form)
    unsigned int domain;         //  PCI domain
    unsigned int bus;            //  PCI bus
    unsigned int device;         //  PCI device
    unsigned int pciDeviceId;    //  device id << 16 | vendor id
    unsigned int pciSubSystemId; //  subsystem id
    char busId[32];              //  "00000000:3B:00.0"
} nvmlPciInfo_t;

//  Bounds on what we read: more than any host has, so a confused driver
//  cannot make us allocate without limit.
#define S_MAX_GPUS 256
#define S_MAX_MIGS 64

//  The entry points, resolved with dlsym.
typedef struct {
    nvmlReturn_t (*init) (void);
    nvmlReturn_t (*shutdown) (void);
    const char *(*error_string) (nvmlReturn_t);
    nvmlReturn_t (*get_count) (unsigned int *);
    nvmlReturn_t (*get_handle) (unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*get_name) (nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*get_uuid) (nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*get_memory) (nvmlDevice_t, nvmlMemory_t *);
    nvmlReturn_t (*get_pci) (nvmlDevice_t, nvmlPciInfo_t *);
    nvmlReturn_t (*get_mig_mode) (nvmlDevice_t, unsigned int *, unsigned int *);
    nvmlReturn_t (*get_max_migs) (nvmlDevice_t, unsigned int *);
    nvmlReturn_t (*get_mig_handle) (nvmlDevice_t, unsigned int, nvmlDevice_t *);
} s_api_t;

struct _hpt_nvml_t {
    size_t count;         //  GPUs read
    hpt_nvml_gpu_t *gpus; //  count entries, owned
};

//  NVML that cannot be used is a host without it, for now.
static void
s_set_error (hpt_error_t *error, const char *what, const char *detail)
{
    hpt_error_set (error, HPT_E_UNAVAILABLE, "%s: %s", what, detail);
}

static const char *
s_nvml_error (s_api_t *api, nvmlReturn_t rc)
{
    const char *text = api->error_string ? api->error_string (rc) : NULL;
    return text ? text : "NVML call failed";
}

//  Resolves every entry point; returns the name of the first required one
//  missing, or NULL when all required ones are there.
static const char *
s_resolve (void *lib, s_api_t *api)
{
    memset (api, 0, sizeof (*api));
    api->init = (nvmlReturn_t (*) (void))dlsym (lib, "nvmlInit_v2");
    api->shutdown = (nvmlReturn_t (*) (void))dlsym (lib, "nvmlShutdown");
    api->error_string = (const char *(*)(nvmlReturn_t))dlsym (lib, "nvmlErrorString");
    api->get_count = (nvmlReturn_t (*) (unsigned int *))dlsym (lib, "nvmlDeviceGetCount_v2");
    api->get_handle = (nvmlReturn_t (*) (unsigned int, nvmlDevice_t *))dlsym (
        lib, "nvmlDeviceGetHandleByIndex_v2");
    api->get_name =
        (nvmlReturn_t (*) (nvmlDevice_t, char *, unsigned int))dlsym (lib, "nvmlDeviceGetName");
    api->get_uuid =
        (nvmlReturn_t (*) (nvmlDevice_t, char *, unsigned int))dlsym (lib, "nvmlDeviceGetUUID");
    api->get_memory =
        (nvmlReturn_t (*) (nvmlDevice_t, nvmlMemory_t *))dlsym (lib, "nvmlDeviceGetMemoryInfo");
    api->get_pci =
        (nvmlReturn_t (*) (nvmlDevice_t, nvmlPciInfo_t *))dlsym (lib, "nvmlDeviceGetPciInfo_v3");
    api->get_mig_mode = (nvmlReturn_t (*) (nvmlDevice_t, unsigned int *, unsigned int *))dlsym (
        lib, "nvmlDeviceGetMigMode");
    api->get_max_migs = (nvmlReturn_t (*) (nvmlDevice_t, unsigned int *))dlsym (
        lib, "nvmlDeviceGetMaxMigDeviceCount");
    api->get_mig_handle = (nvmlReturn_t (*) (nvmlDevice_t, unsigned int, nvmlDevice_t *))dlsym (
        lib, "nvmlDeviceGetMigDeviceHandleByIndex");

    if (!api->init) return "nvmlInit_v2";
    if (!api->shutdown) return "nvmlShutdown";
    if (!api->get_count) return "nvmlDeviceGetCount_v2";
    if (!api->get_handle) return "nvmlDeviceGetHandleByIndex_v2";
    if (!api->get_name) return "nvmlDeviceGetName";
    if (!api->get_uuid) return "nvmlDeviceGetUUID";
    if (!api->get_memory) return "nvmlDeviceGetMemoryInfo";
    if (!api->get_pci) return "nvmlDeviceGetPciInfo_v3";
    return NULL;
}

//  Reads the MIG instances of a GPU whose MIG mode is on. Slots without an
//  instance answer NOT_FOUND and are skipped.
static void
s_read_migs (s_api_t *api, nvmlDevice_t device, hpt_nvml_gpu_t *gpu)
{
    if (!api->get_mig_mode || !api->get_max_migs || !api->get_mig_handle) return;
    unsigned int current = 0, pending = 0;
    if (api->get_mig_mode (device, &current, &pending) != NVML_SUCCESS) return;
    gpu->mig_enabled = current == NVML_DEVICE_MIG_ENABLE;
    unsigned int slots = 0;
    if (!gpu->mig_enabled || api->get_max_migs (device, &slots) != NVML_SUCCESS) return;
    if (slots > S_MAX_MIGS) slots = S_MAX_MIGS;
    if (slots == 0) return;
    gpu->migs = hpt_calloc (slots, sizeof (hpt_nvml_mig_t));
    for (unsigned int i = 0; i < slots; i++) {
        nvmlDevice_t mig = NULL;
        if (api->get_mig_handle (device, i, &mig) != NVML_SUCCESS || !mig) continue;
        hpt_nvml_mig_t *entry = &gpu->migs[gpu->mig_count];
        nvmlMemory_t memory = {0};
        if (api->get_uuid (mig, entry->uuid, sizeof (entry->uuid)) != NVML_SUCCESS) continue;
        entry->uuid[sizeof (entry->uuid) - 1] = '\0';
        if (api->get_name (mig, entry->name, sizeof (entry->name)) != NVML_SUCCESS)
            entry->name[0] = '\0';
        entry->name[sizeof (entry->name) - 1] = '\0';
        if (api->get_memory (mig, &memory) == NVML_SUCCESS) entry->memory_bytes = memory.total;
        gpu->mig_count++;
    }
}

//  Reads GPU index into gpu. Returns false when the device cannot be
//  identified (no handle or no PCI bus id): it cannot be merged anyway.
static bool
s_read_gpu (s_api_t *api, unsigned int index, hpt_nvml_gpu_t *gpu)
{
    nvmlDevice_t device = NULL;
    nvmlPciInfo_t pci;
    memset (&pci, 0, sizeof (pci));
    if (api->get_handle (index, &device) != NVML_SUCCESS || !device) return false;
    if (api->get_pci (device, &pci) != NVML_SUCCESS) return false;
    pci.busId[sizeof (pci.busId) - 1] = '\0';
    if (!hpt_nvml_normalize_bus_id (pci.busId, gpu->pci_bus_id, sizeof (gpu->pci_bus_id)))
        return false;
    gpu->pci_device_id = pci.pciDeviceId >> 16;
    if (api->get_name (device, gpu->name, sizeof (gpu->name)) != NVML_SUCCESS) gpu->name[0] = '\0';
    gpu->name[sizeof (gpu->name) - 1] = '\0';
    if (api->get_uuid (device, gpu->uuid, sizeof (gpu->uuid)) != NVML_SUCCESS) gpu->uuid[0] = '\0';
    gpu->uuid[sizeof (gpu->uuid) - 1] = '\0';
    nvmlMemory_t memory = {0};
    if (api->get_memory (device, &memory) == NVML_SUCCESS) gpu->memory_bytes = memory.total;
    s_read_migs (api, device, gpu);
    return true;
}

//  Walks the devices of an initialized NVML into self.
static bool
s_read_all (s_api_t *api, hpt_nvml_t *self, hpt_error_t *error)
{
    unsigned int count = 0;
    nvmlReturn_t rc = api->get_count (&count);
    if (rc != NVML_SUCCESS) {
        s_set_error (error, "nvmlDeviceGetCount_v2", s_nvml_error (api, rc));
        return false;
    }
    if (count > S_MAX_GPUS) count = S_MAX_GPUS;
    self->gpus = hpt_calloc (count ? count : 1, sizeof (hpt_nvml_gpu_t));
    for (unsigned int i = 0; i < count; i++)
        if (s_read_gpu (api, i, &self->gpus[self->count])) self->count++;
    return true;
}

hpt_nvml_t *
hpt_nvml_new (hpt_error_t *error)
{
    const char *path = getenv ("HPT_NVML_LIBRARY");
    if (!path || !*path) path = "libnvidia-ml.so.1";
    void *lib = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror ();
        s_set_error (error, path, why ? why : "cannot be loaded");
        return NULL;
    }
    s_api_t api;
    const char *missing = s_resolve (lib, &api);
    if (missing) {
        s_set_error (error, path, "lacks NVML entry points (no nvmlInit_v2 family)");
        (void)missing;
        dlclose (lib);
        return NULL;
    }
    nvmlReturn_t rc = api.init ();
    if (rc != NVML_SUCCESS) {
        s_set_error (error, "nvmlInit_v2", s_nvml_error (&api, rc));
        dlclose (lib);
        return NULL;
    }
    hpt_nvml_t *self = hpt_calloc (1, sizeof (hpt_nvml_t));
    bool ok = s_read_all (&api, self, error);
    api.shutdown ();
    dlclose (lib);
    if (!ok) hpt_nvml_destroy (&self);
    return self;
}

void
hpt_nvml_destroy (hpt_nvml_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_nvml_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free (self->gpus[i].migs);
    free (self->gpus);
    free (self);
    *self_p = NULL;
}

size_t
hpt_nvml_count (hpt_nvml_t *self)
{
    return self ? self->count : 0;
}

const hpt_nvml_gpu_t *
hpt_nvml_gpu (hpt_nvml_t *self, size_t i)
{
    return self && i < self->count ? &self->gpus[i] : NULL;
}

//  Parses up to max_digits hex digits at *p into *value; advances *p.
static bool
s_parse_hex (const char **p, size_t max_digits, unsigned long *value)
{
    size_t digits = 0;
    unsigned long v = 0;
    while (isxdigit ((unsigned char)**p) && digits < max_digits) {
        char c = (char)tolower ((unsigned char)**p);
        v = v * 16 + (unsigned long)(isdigit ((unsigned char)c) ? c - '0' : c - 'a' + 10);
        (*p)++;
        digits++;
    }
    *value = v;
    return digits > 0 && !isxdigit ((unsigned char)**p);
}

bool
hpt_nvml_normalize_bus_id (const char *bus_id, char *out, size_t out_size)
{
    if (!bus_id || !out) return false;
    unsigned long field[4] = {0};
    size_t fields = 0;
    const char *p = bus_id;
    //  DOMAIN:BUS:DEV.FN or BUS:DEV.FN; separators ':' ':' '.'
    while (fields < 4) {
        if (!s_parse_hex (&p, 8, &field[fields])) return false;
        fields++;
        if (*p == ':') {
            p++;
            continue;
        }
        if (*p == '.') {
            p++;
            if (!s_parse_hex (&p, 1, &field[fields])) return false;
            fields++;
        }
        break;
    }
    if (*p != '\0' || (fields != 3 && fields != 4)) return false;
    unsigned long domain = fields == 4 ? field[0] : 0;
    unsigned long bus = field[fields - 3], dev = field[fields - 2], fn = field[fields - 1];
    if (bus > 0xff || dev > 0x1f || fn > 7) return false;
    int n = snprintf (out, out_size, "%04lx:%02lx:%02lx.%lx", domain, bus, dev, fn);
    return n > 0 && (size_t)n < out_size;
}

//  True when token occurs in name as a whole model token: not preceded by
//  a letter or digit, not followed by a digit. Case-insensitive.
static bool
s_has_token (const char *name, const char *token)
{
    size_t len = strlen (token);
    for (const char *p = name; (p = strcasestr (p, token)) != NULL; p++) {
        bool start_ok = p == name || !isalnum ((unsigned char)p[-1]);
        bool end_ok = !isdigit ((unsigned char)p[len]);
        if (start_ok && end_ok) return true;
    }
    return false;
}

const char *
hpt_nvml_type_for_name (const char *name)
{
    if (!name || !*name) return NULL;
    //  Newer parts first: "GH100 [H200 SXM 141GB]" names an H200.
    if (s_has_token (name, "H200")) return "NVIDIA_H200_141GB";
    if (s_has_token (name, "H100")) return "NVIDIA_H100_80GB";
    if (s_has_token (name, "B200")) return "NVIDIA_B200";
    if (s_has_token (name, "A100"))
        return strcasestr (name, "80GB") ? "NVIDIA_A100_80GB" : "NVIDIA_TESLA_A100";
    if (s_has_token (name, "V100")) return "NVIDIA_TESLA_V100";
    if (s_has_token (name, "P100")) return "NVIDIA_TESLA_P100";
    if (s_has_token (name, "L4")) return "NVIDIA_L4";
    if (s_has_token (name, "T4")) return "NVIDIA_TESLA_T4";
    if (s_has_token (name, "P4")) return "NVIDIA_TESLA_P4";
    if (s_has_token (name, "K80")) return "NVIDIA_TESLA_K80";
    return NULL;
}

const char *
hpt_nvml_type_for_device_id (unsigned device_id)
{
    static const struct {
        unsigned id;      //  PCI device id (vendor 0x10de)
        const char *type; //  hpt type name
    } table[] = {
        {0x102d, "NVIDIA_TESLA_K80"},  {0x15f7, "NVIDIA_TESLA_P100"}, {0x15f8, "NVIDIA_TESLA_P100"},
        {0x15f9, "NVIDIA_TESLA_P100"}, {0x1bb3, "NVIDIA_TESLA_P4"},   {0x1db1, "NVIDIA_TESLA_V100"},
        {0x1db4, "NVIDIA_TESLA_V100"}, {0x1db5, "NVIDIA_TESLA_V100"}, {0x1db6, "NVIDIA_TESLA_V100"},
        {0x1db8, "NVIDIA_TESLA_V100"}, {0x1df6, "NVIDIA_TESLA_V100"}, {0x1eb8, "NVIDIA_TESLA_T4"},
        {0x20b0, "NVIDIA_TESLA_A100"}, {0x20f1, "NVIDIA_TESLA_A100"}, {0x20b2, "NVIDIA_A100_80GB"},
        {0x20b5, "NVIDIA_A100_80GB"},  {0x27b8, "NVIDIA_L4"},         {0x2330, "NVIDIA_H100_80GB"},
        {0x2331, "NVIDIA_H100_80GB"},  {0x2335, "NVIDIA_H200_141GB"}, {0x2901, "NVIDIA_B200"},
    };
    for (size_t i = 0; i < sizeof (table) / sizeof (table[0]); i++)
        if (table[i].id == device_id) return table[i].type;
    return NULL;
}
