/*  hpt_nvml -- what NVIDIA's management library says about this host's GPUs

    NVML is loaded with dlopen, never linked: a CPU-only host and CI have
    no NVIDIA driver, and the same binary must run there. We declare the
    handful of NVML types we use ourselves, with NVML's published layout
    (nvml.h, API version 11+), and resolve each entry point by name. Only
    the calls that name and count GPUs are required; the rest (MIG,
    NVLink, topology, events, health and utilization) are optional: a
    driver too old to have one, or a GPU that does not support it, simply
    reports nothing there.

    Snapshot. Taken once (nvmlInit_v2, walk the devices, nvmlShutdown,
    dlclose): discovery runs at agent start, and holding the library open
    would keep the driver's state for nothing. NVLinks: each active link's
    far end is another GPU (counted per peer), or an NVSwitch (counted as
    switch links: GPUs on one NVSwitch fabric are all-pairs connected,
    which is what nvidia-smi's NV18 between two HGX GPUs means); a driver
    without nvmlDeviceGetNvLinkRemoteDeviceType tells a switch by a far
    end that is no GPU of the host. The PCIe path of every pair comes from
    nvmlDeviceGetTopologyCommonAncestor. A MIG instance's profile is the
    part of its name after " MIG " ("NVIDIA A100-SXM4-80GB MIG 1g.10gb").

    Live session. The library stays loaded for one thread. Devices are
    found by PCI bus id (the agent's numbering is by bus id, NVML's own
    order may differ). Events: critical XIDs and double-bit ECC errors,
    registered where the driver supports them (nvmlEventSetWait_v2, else
    the older nvmlEventSetWait with the same layout up to eventData).
    Health: NVML_ERROR_GPU_IS_LOST from any call means the GPU fell off the
    bus; retired pages pending (pre-Ampere) and remapped rows pending or
    failed (Ampere on) mean it needs a reset; uncorrected volatile ECC
    errors counted since the session began mean corrupted memory.

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
#include <time.h>

//  NVML's types, as published in nvml.h. Only what we call.
typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_TIMEOUT 10
#define NVML_ERROR_GPU_IS_LOST 15
#define NVML_DEVICE_MIG_ENABLE 1
#define NVML_FEATURE_ENABLED 1
#define NVML_NVLINK_DEVICE_TYPE_SWITCH 2
#define NVML_EVENT_DOUBLE_BIT_ECC 0x2ULL
#define NVML_EVENT_XID_CRITICAL 0x8ULL
#define NVML_MEMORY_ERROR_UNCORRECTED 1
#define NVML_VOLATILE_ECC 0
#define NVML_TEMPERATURE_GPU 0
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlEventSet_st *nvmlEventSet_t;

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

typedef struct {
    nvmlDevice_t device;            //  where
    unsigned long long eventType;   //  NVML_EVENT_*
    unsigned long long eventData;   //  the XID for XID events
    unsigned int gpuInstanceId;     //  MIG: the GPU instance (v2 only)
    unsigned int computeInstanceId; //  MIG: the compute instance (v2 only)
} nvmlEventData_t;

typedef struct {
    unsigned int gpu;    //  percent of time a kernel ran
    unsigned int memory; //  percent of time memory was read or written
} nvmlUtilization_t;

//  Bounds on what we read: more than any host has, so a confused driver
//  cannot make us allocate without limit.
#define S_MAX_GPUS 256
#define S_MAX_MIGS 64

typedef nvmlReturn_t (*s_dev_uint_fn) (nvmlDevice_t, unsigned int *);

//  The entry points, resolved with dlsym. The first group is required.
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
    //  optional from here
    nvmlReturn_t (*get_mig_mode) (nvmlDevice_t, unsigned int *, unsigned int *);
    s_dev_uint_fn get_max_migs;
    nvmlReturn_t (*get_mig_handle) (nvmlDevice_t, unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*nvlink_state) (nvmlDevice_t, unsigned int, unsigned int *);
    nvmlReturn_t (*nvlink_remote_pci) (nvmlDevice_t, unsigned int, nvmlPciInfo_t *);
    nvmlReturn_t (*nvlink_remote_type) (nvmlDevice_t, unsigned int, unsigned int *);
    nvmlReturn_t (*common_ancestor) (nvmlDevice_t, nvmlDevice_t, int *);
    nvmlReturn_t (*handle_by_bus) (const char *, nvmlDevice_t *);
    nvmlReturn_t (*event_create) (nvmlEventSet_t *);
    nvmlReturn_t (*event_types) (nvmlDevice_t, unsigned long long *);
    nvmlReturn_t (*event_register) (nvmlDevice_t, unsigned long long, nvmlEventSet_t);
    nvmlReturn_t (*event_wait) (nvmlEventSet_t, nvmlEventData_t *, unsigned int);
    nvmlReturn_t (*event_free) (nvmlEventSet_t);
    nvmlReturn_t (*utilization) (nvmlDevice_t, nvmlUtilization_t *);
    s_dev_uint_fn power;
    nvmlReturn_t (*temperature) (nvmlDevice_t, int, unsigned int *);
    nvmlReturn_t (*ecc_total) (nvmlDevice_t, int, int, unsigned long long *);
    s_dev_uint_fn retired_pending;
    nvmlReturn_t (*remapped_rows) (nvmlDevice_t, unsigned int *, unsigned int *, unsigned int *,
                                   unsigned int *);
} s_api_t;

struct _hpt_nvml_t {
    size_t count;         //  GPUs read
    hpt_nvml_gpu_t *gpus; //  count entries, owned
    int *paths;           //  count x count hpt_nvml_path_t, row-major, owned
};

struct _hpt_nvml_live_t {
    void *lib;                    //  the loaded library (dlclose at the end)
    s_api_t api;                  //  its entry points
    size_t count;                 //  GPUs of the session
    nvmlDevice_t *devices;        //  count handles, NULL where NVML did not find the GPU
    unsigned long long *ecc_base; //  uncorrected ECC count when the session began
    bool *ecc_known;              //  ecc_base was read
    nvmlEventSet_t events;        //  XID and ECC events, NULL when the driver has none
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

//  dlsym into a function pointer without a cast per call site.
#define S_SYM(field, name) *(void **)&api->field = dlsym (lib, name)

//  Resolves every entry point; returns the name of the first required one
//  missing, or NULL when all required ones are there.
static const char *
s_resolve (void *lib, s_api_t *api)
{
    memset (api, 0, sizeof (*api));
    S_SYM (init, "nvmlInit_v2");
    S_SYM (shutdown, "nvmlShutdown");
    S_SYM (error_string, "nvmlErrorString");
    S_SYM (get_count, "nvmlDeviceGetCount_v2");
    S_SYM (get_handle, "nvmlDeviceGetHandleByIndex_v2");
    S_SYM (get_name, "nvmlDeviceGetName");
    S_SYM (get_uuid, "nvmlDeviceGetUUID");
    S_SYM (get_memory, "nvmlDeviceGetMemoryInfo");
    S_SYM (get_pci, "nvmlDeviceGetPciInfo_v3");
    S_SYM (get_mig_mode, "nvmlDeviceGetMigMode");
    S_SYM (get_max_migs, "nvmlDeviceGetMaxMigDeviceCount");
    S_SYM (get_mig_handle, "nvmlDeviceGetMigDeviceHandleByIndex");
    S_SYM (nvlink_state, "nvmlDeviceGetNvLinkState");
    S_SYM (nvlink_remote_pci, "nvmlDeviceGetNvLinkRemotePciInfo_v2");
    S_SYM (nvlink_remote_type, "nvmlDeviceGetNvLinkRemoteDeviceType");
    S_SYM (common_ancestor, "nvmlDeviceGetTopologyCommonAncestor");
    S_SYM (handle_by_bus, "nvmlDeviceGetHandleByPciBusId_v2");
    S_SYM (event_create, "nvmlEventSetCreate");
    S_SYM (event_types, "nvmlDeviceGetSupportedEventTypes");
    S_SYM (event_register, "nvmlDeviceRegisterEvents");
    S_SYM (event_wait, "nvmlEventSetWait_v2");
    if (!api->event_wait) S_SYM (event_wait, "nvmlEventSetWait");
    S_SYM (event_free, "nvmlEventSetFree");
    S_SYM (utilization, "nvmlDeviceGetUtilizationRates");
    S_SYM (power, "nvmlDeviceGetPowerUsage");
    S_SYM (temperature, "nvmlDeviceGetTemperature");
    S_SYM (ecc_total, "nvmlDeviceGetTotalEccErrors");
    S_SYM (retired_pending, "nvmlDeviceGetRetiredPagesPendingStatus");
    S_SYM (remapped_rows, "nvmlDeviceGetRemappedRows");

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

//  Loads and starts NVML into *lib and api. 0, or -1 with *error (nothing
//  left loaded).
static int
s_open (void **lib, s_api_t *api, hpt_error_t *error)
{
    const char *path = getenv ("HPT_NVML_LIBRARY");
    if (!path || !*path) path = "libnvidia-ml.so.1";
    *lib = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    if (!*lib) {
        const char *why = dlerror ();
        s_set_error (error, path, why ? why : "cannot be loaded");
        return -1;
    }
    const char *missing = s_resolve (*lib, api);
    if (missing) {
        char *why = hpt_asprintf ("lacks NVML entry points (no %s)", missing);
        s_set_error (error, path, why);
        free (why);
        dlclose (*lib);
        return -1;
    }
    nvmlReturn_t rc = api->init ();
    if (rc != NVML_SUCCESS) {
        s_set_error (error, "nvmlInit_v2", s_nvml_error (api, rc));
        dlclose (*lib);
        return -1;
    }
    return 0;
}

//  -------------------------------------------------------------------------
//  Snapshot

//  The profile in a MIG device's name ("... MIG 1g.10gb" -> "1g.10gb"),
//  or "" when the name has none.
static void
s_mig_profile (const char *name, char *out, size_t size)
{
    const char *at = strstr (name, " MIG ");
    snprintf (out, size, "%s", at ? at + 5 : "");
    size_t length = strcspn (out, " \t");
    out[length] = '\0';
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
        s_mig_profile (entry->name, entry->profile, sizeof (entry->profile));
        entry->slot = i;
        if (api->get_memory (mig, &memory) == NVML_SUCCESS) entry->memory_bytes = memory.total;
        gpu->mig_count++;
    }
}

//  Counts the active NVLinks of a GPU by what is at their far end.
static void
s_read_nvlinks (s_api_t *api, nvmlDevice_t device, hpt_nvml_gpu_t *gpu)
{
    if (!api->nvlink_state || !api->nvlink_remote_pci) return;
    for (unsigned int link = 0; link < HPT_NVML_NVLINKS_MAX; link++) {
        unsigned int active = 0, type = 0;
        if (api->nvlink_state (device, link, &active) != NVML_SUCCESS || !active) continue;
        if (api->nvlink_remote_type &&
            api->nvlink_remote_type (device, link, &type) == NVML_SUCCESS &&
            type == NVML_NVLINK_DEVICE_TYPE_SWITCH) {
            gpu->switch_links++;
            continue;
        }
        nvmlPciInfo_t pci;
        memset (&pci, 0, sizeof (pci));
        char bus[HPT_NVML_BUSID_MAX];
        if (api->nvlink_remote_pci (device, link, &pci) != NVML_SUCCESS) continue;
        pci.busId[sizeof (pci.busId) - 1] = '\0';
        if (!hpt_nvml_normalize_bus_id (pci.busId, bus, sizeof (bus))) continue;
        size_t p = 0;
        while (p < gpu->peer_count && strcmp (gpu->peers[p].bus_id, bus) != 0)
            p++;
        if (p == gpu->peer_count) {
            snprintf (gpu->peers[p].bus_id, sizeof (gpu->peers[p].bus_id), "%s", bus);
            gpu->peer_count++;
        }
        gpu->peers[p].links++;
    }
}

//  Reads GPU index into gpu and *device. Returns false when the device
//  cannot be identified (no handle or no PCI bus id): it cannot be merged
//  anyway.
static bool
s_read_gpu (s_api_t *api, unsigned int index, hpt_nvml_gpu_t *gpu, nvmlDevice_t *device)
{
    nvmlPciInfo_t pci;
    memset (&pci, 0, sizeof (pci));
    if (api->get_handle (index, device) != NVML_SUCCESS || !*device) return false;
    if (api->get_pci (*device, &pci) != NVML_SUCCESS) return false;
    pci.busId[sizeof (pci.busId) - 1] = '\0';
    if (!hpt_nvml_normalize_bus_id (pci.busId, gpu->pci_bus_id, sizeof (gpu->pci_bus_id)))
        return false;
    gpu->pci_device_id = pci.pciDeviceId >> 16;
    if (api->get_name (*device, gpu->name, sizeof (gpu->name)) != NVML_SUCCESS) gpu->name[0] = '\0';
    gpu->name[sizeof (gpu->name) - 1] = '\0';
    if (api->get_uuid (*device, gpu->uuid, sizeof (gpu->uuid)) != NVML_SUCCESS) gpu->uuid[0] = '\0';
    gpu->uuid[sizeof (gpu->uuid) - 1] = '\0';
    nvmlMemory_t memory = {0};
    if (api->get_memory (*device, &memory) == NVML_SUCCESS) gpu->memory_bytes = memory.total;
    s_read_migs (api, *device, gpu);
    s_read_nvlinks (api, *device, gpu);
    return true;
}

//  Links to a far end that is no GPU of the host went to an NVSwitch (a
//  driver without nvmlDeviceGetNvLinkRemoteDeviceType cannot say so).
static void
s_settle_peers (hpt_nvml_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        hpt_nvml_gpu_t *gpu = &self->gpus[i];
        size_t kept = 0;
        for (size_t p = 0; p < gpu->peer_count; p++) {
            bool is_gpu = false;
            for (size_t j = 0; j < self->count && !is_gpu; j++)
                is_gpu = j != i && strcmp (self->gpus[j].pci_bus_id, gpu->peers[p].bus_id) == 0;
            if (is_gpu)
                gpu->peers[kept++] = gpu->peers[p];
            else
                gpu->switch_links += gpu->peers[p].links;
        }
        gpu->peer_count = kept;
    }
}

//  The PCIe path of every pair of GPUs read.
static void
s_read_paths (s_api_t *api, hpt_nvml_t *self, nvmlDevice_t *devices)
{
    size_t n = self->count;
    self->paths = hpt_malloc ((n ? n * n : 1) * sizeof (int));
    for (size_t i = 0; i < n * n; i++)
        self->paths[i] = HPT_NVML_PATH_UNKNOWN;
    for (size_t i = 0; api->common_ancestor && i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            int level = HPT_NVML_PATH_UNKNOWN;
            if (api->common_ancestor (devices[i], devices[j], &level) != NVML_SUCCESS ||
                level < HPT_NVML_PATH_INTERNAL || level > HPT_NVML_PATH_SYSTEM || level % 10)
                level = HPT_NVML_PATH_UNKNOWN;
            self->paths[i * n + j] = self->paths[j * n + i] = level;
        }
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
    nvmlDevice_t *devices = hpt_calloc (count ? count : 1, sizeof (nvmlDevice_t));
    for (unsigned int i = 0; i < count; i++)
        if (s_read_gpu (api, i, &self->gpus[self->count], &devices[self->count])) self->count++;
    s_settle_peers (self);
    s_read_paths (api, self, devices);
    free (devices);
    return true;
}

hpt_nvml_t *
hpt_nvml_new (hpt_error_t *error)
{
    void *lib = NULL;
    s_api_t api;
    if (s_open (&lib, &api, error) != 0) return NULL;
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
    free (self->paths);
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

hpt_nvml_path_t
hpt_nvml_path (hpt_nvml_t *self, size_t i, size_t j)
{
    if (!self || !self->paths || i >= self->count || j >= self->count || i == j)
        return HPT_NVML_PATH_UNKNOWN;
    return (hpt_nvml_path_t)self->paths[i * self->count + j];
}

//  -------------------------------------------------------------------------
//  Live session

//  Registers the session's GPUs for the events that make a GPU unhealthy.
static void
s_register_events (hpt_nvml_live_t *self)
{
    s_api_t *api = &self->api;
    if (!api->event_create || !api->event_register || !api->event_wait || !api->event_free) return;
    if (api->event_create (&self->events) != NVML_SUCCESS) {
        self->events = NULL;
        return;
    }
    bool any = false;
    for (size_t i = 0; i < self->count; i++) {
        unsigned long long supported = NVML_EVENT_XID_CRITICAL | NVML_EVENT_DOUBLE_BIT_ECC;
        if (!self->devices[i]) continue;
        if (api->event_types && api->event_types (self->devices[i], &supported) != NVML_SUCCESS)
            continue;
        supported &= NVML_EVENT_XID_CRITICAL | NVML_EVENT_DOUBLE_BIT_ECC;
        if (supported &&
            api->event_register (self->devices[i], supported, self->events) == NVML_SUCCESS)
            any = true;
    }
    if (!any) {
        api->event_free (self->events);
        self->events = NULL;
    }
}

hpt_nvml_live_t *
hpt_nvml_live_new (const char *const *bus_ids, size_t count, hpt_error_t *error)
{
    hpt_nvml_live_t *self = hpt_calloc (1, sizeof (hpt_nvml_live_t));
    if (s_open (&self->lib, &self->api, error) != 0) {
        free (self);
        return NULL;
    }
    self->count = count;
    self->devices = hpt_calloc (count ? count : 1, sizeof (nvmlDevice_t));
    self->ecc_base = hpt_calloc (count ? count : 1, sizeof (unsigned long long));
    self->ecc_known = hpt_calloc (count ? count : 1, sizeof (bool));
    for (size_t i = 0; i < count; i++) {
        if (self->api.handle_by_bus &&
            self->api.handle_by_bus (bus_ids[i], &self->devices[i]) != NVML_SUCCESS)
            self->devices[i] = NULL;
        self->ecc_known[i] =
            self->devices[i] && self->api.ecc_total &&
            self->api.ecc_total (self->devices[i], NVML_MEMORY_ERROR_UNCORRECTED, NVML_VOLATILE_ECC,
                                 &self->ecc_base[i]) == NVML_SUCCESS;
    }
    s_register_events (self);
    return self;
}

void
hpt_nvml_live_destroy (hpt_nvml_live_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_nvml_live_t *self = *self_p;
    if (self->events) self->api.event_free (self->events);
    self->api.shutdown ();
    dlclose (self->lib);
    free (self->devices);
    free (self->ecc_base);
    free (self->ecc_known);
    free (self);
    *self_p = NULL;
}

int
hpt_nvml_live_wait (hpt_nvml_live_t *self, unsigned timeout_ms, hpt_nvml_event_t *event,
                    hpt_error_t *error)
{
    if (!self->events) {
        struct timespec pause = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep (&pause, NULL);
        return 0;
    }
    nvmlEventData_t data;
    memset (&data, 0, sizeof (data));
    nvmlReturn_t rc = self->api.event_wait (self->events, &data, timeout_ms);
    if (rc == NVML_ERROR_TIMEOUT) return 0;
    if (rc != NVML_SUCCESS) {
        s_set_error (error, "nvmlEventSetWait", s_nvml_error (&self->api, rc));
        return -1;
    }
    for (size_t i = 0; i < self->count; i++)
        if (self->devices[i] && self->devices[i] == data.device) {
            event->gpu = i;
            event->xid = data.eventData;
            if (data.eventType & NVML_EVENT_XID_CRITICAL)
                event->kind = HPT_NVML_EVENT_XID;
            else if (data.eventType & NVML_EVENT_DOUBLE_BIT_ECC)
                event->kind = HPT_NVML_EVENT_DOUBLE_BIT;
            else
                return 0;
            return 1;
        }
    return 0; //  a device of no interest (or a MIG handle NVML did not map back)
}

int
hpt_nvml_live_sample (hpt_nvml_live_t *self, size_t gpu, hpt_nvml_sample_t *sample)
{
    *sample = (hpt_nvml_sample_t){-1, -1, -1, -1};
    nvmlDevice_t device = gpu < self->count ? self->devices[gpu] : NULL;
    if (!device) return -1;
    s_api_t *api = &self->api;
    nvmlUtilization_t utilization = {0, 0};
    nvmlReturn_t rc = api->utilization ? api->utilization (device, &utilization) : -1;
    if (rc == NVML_ERROR_GPU_IS_LOST) return -1;
    if (rc == NVML_SUCCESS && utilization.gpu <= 100) sample->utilization = utilization.gpu;
    nvmlMemory_t memory = {0};
    if (api->get_memory (device, &memory) == NVML_SUCCESS)
        sample->memory_used = (double)memory.used;
    unsigned int milliwatts = 0, celsius = 0;
    if (api->power && api->power (device, &milliwatts) == NVML_SUCCESS)
        sample->power_watts = milliwatts / 1000.0;
    if (api->temperature &&
        api->temperature (device, NVML_TEMPERATURE_GPU, &celsius) == NVML_SUCCESS)
        sample->temperature = celsius;
    return 0;
}

int
hpt_nvml_live_check (hpt_nvml_live_t *self, size_t gpu, char *why, size_t size)
{
    nvmlDevice_t device = gpu < self->count ? self->devices[gpu] : NULL;
    s_api_t *api = &self->api;
    nvmlPciInfo_t pci;
    if (!device || api->get_pci (device, &pci) == NVML_ERROR_GPU_IS_LOST) {
        snprintf (why, size, "%s", device ? "GPU has fallen off the bus" : "NVML cannot find it");
        return -1;
    }
    unsigned int pending = 0, corrected = 0, uncorrected = 0, failed = 0;
    if (api->retired_pending && api->retired_pending (device, &pending) == NVML_SUCCESS &&
        pending == NVML_FEATURE_ENABLED) {
        snprintf (why, size, "retired memory pages are pending: the GPU needs a reset");
        return -1;
    }
    pending = 0;
    if (api->remapped_rows &&
        api->remapped_rows (device, &corrected, &uncorrected, &pending, &failed) == NVML_SUCCESS &&
        (pending || failed)) {
        snprintf (why, size, "%s",
                  failed ? "a memory row remapping failed: the GPU needs service"
                         : "memory row remappings are pending: the GPU needs a reset");
        return -1;
    }
    unsigned long long errors = 0;
    if (self->ecc_known[gpu] &&
        api->ecc_total (device, NVML_MEMORY_ERROR_UNCORRECTED, NVML_VOLATILE_ECC, &errors) ==
            NVML_SUCCESS &&
        errors > self->ecc_base[gpu]) {
        snprintf (why, size, "%llu uncorrectable (double-bit) ECC errors",
                  errors - self->ecc_base[gpu]);
        return -1;
    }
    return 0;
}

//  -------------------------------------------------------------------------
//  Names and bus ids

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
