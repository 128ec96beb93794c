/*  fake_nvml -- a scripted stand-in for libnvidia-ml.so.1, for tests

    The agent loads NVML with dlopen; pointing HPT_NVML_LIBRARY at this
    library gives it GPUs that are not there. What they are comes from the
    JSON file named by HPT_FAKE_NVML:

      {"gpus": [{"name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-...",
                 "busId": "0000:18:00.0", "deviceId": 8976, "memoryMb": 81559,
                 "switchLinks": 18,                  NVLinks to NVSwitches
                 "nvlinks": {"0000:2a:00.0": 4},     direct NVLinks, by peer
                 "pcieSwitch": "s0", "pcieParent": "p0", "hostBridge": "h0",
                 "numa": 0,                          the PCIe path between GPUs
                 "migs": [{"slot": 0, "profile": "1g.10gb", "uuid": "MIG-...",
                           "memoryMb": 9856}],       MIG mode on when present
                 "utilization": [0, 10, 95]}],       one value per sample, the
                                                     last repeated
       "control": "/path/to/file", "events": true}

    The control file, when named, is read again on every call that could
    see a change: each line appended to it since is one command, applied
    once, on the GPU of that position in "gpus":
      xid N X      an XID critical error event X
      dbe N        a double-bit ECC event, and the volatile count grows
      lost N       the GPU falls off the bus (its calls answer GPU_IS_LOST)
      pending N    retired pages pending
      remap N      row remappings pending
      util N V     utilization V from now on
    "events": false makes the driver one without events (the agent then
    polls only).

    NVML's layouts are those of nvml.h; the path between two GPUs is
    SINGLE when they share "pcieSwitch", MULTIPLE when they share
    "pcieParent", HOSTBRIDGE when they share "hostBridge", NODE when they
    share "numa", SYSTEM otherwise. Not thread-unsafe: one mutex guards
    the state, as NVML's calls may come from the agent's loop and its
    monitor thread at once.
*/
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_SUCCESS 0
#define S_UNINITIALIZED 1
#define S_INVALID_ARGUMENT 2
#define S_NOT_SUPPORTED 3
#define S_NOT_FOUND 6
#define S_TIMEOUT 10
#define S_GPU_IS_LOST 15
#define S_MAX_GPUS 64
#define S_MAX_MIGS 8
#define S_MAX_LINKS 18
#define S_MAX_EVENTS 256

typedef struct {
    unsigned long long total, free, used;
} s_memory_t;

typedef struct {
    char busIdLegacy[16];
    unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} s_pci_t;

typedef struct {
    void *device;
    unsigned long long eventType, eventData;
    unsigned gpuInstanceId, computeInstanceId;
} s_event_data_t;

typedef struct {
    unsigned gpu, memory;
} s_utilization_t;

typedef struct s_gpu s_gpu_t;

typedef struct {
    int magic;                //  'M': a MIG handle
    s_gpu_t *gpu;             //  its GPU
    bool present;             //  the slot holds an instance
    char uuid[96], name[96];  //  what NVML says
    unsigned long long bytes; //  its memory
} s_mig_t;

struct s_gpu {
    int magic;                        //  'G': a GPU handle
    char name[96], uuid[96], bus[32]; //  identity
    unsigned device_id;               //  PCI device id
    unsigned long long bytes;         //  memory
    unsigned switch_links;            //  NVLinks to NVSwitches
    char link_peer[S_MAX_LINKS][32];  //  per link: the peer's bus id, "" for a switch
    unsigned link_count;              //  active links
    char pcie_switch[32], pcie_parent[32], host_bridge[32]; //  the PCIe path
    int numa;                                               //  its NUMA node
    bool mig_mode;                                          //  MIG on
    s_mig_t migs[S_MAX_MIGS];                               //  by slot
    json_t *utilization;       //  the series (borrowed from the config)
    size_t samples;            //  samples taken
    int fixed_utilization;     //  from a "util" command, -1 none
    bool lost, pending, remap; //  health
    unsigned long long dbe;    //  volatile uncorrected ECC errors
};

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static int s_inits;      //  nvmlInit calls not yet shut down
static json_t *s_config; //  the loaded file
static s_gpu_t s_gpus[S_MAX_GPUS];
static size_t s_count;
static char s_control[4096];  //  the control file's path, "" none
static long s_control_offset; //  bytes of it already applied
static bool s_events = true;  //  the driver has events
static s_event_data_t s_queue[S_MAX_EVENTS];
static size_t s_queued;
static int s_event_set; //  the one event set's identity

static void
s_copy (char *out, size_t size, const char *text)
{
    snprintf (out, size, "%s", text ? text : "");
}

static void
s_load_links (s_gpu_t *gpu, json_t *spec)
{
    gpu->switch_links = (unsigned)json_integer_value (json_object_get (spec, "switchLinks"));
    if (gpu->switch_links > S_MAX_LINKS) gpu->switch_links = S_MAX_LINKS;
    for (unsigned l = 0; l < gpu->switch_links; l++)
        gpu->link_peer[gpu->link_count++][0] = '\0';
    const char *peer;
    json_t *count;
    json_object_foreach (json_object_get (spec, "nvlinks"), peer, count) {
        for (json_int_t k = 0; k < json_integer_value (count) && gpu->link_count < S_MAX_LINKS; k++)
            s_copy (gpu->link_peer[gpu->link_count++], 32, peer);
    }
}

static void
s_load_gpu (s_gpu_t *gpu, json_t *spec)
{
    memset (gpu, 0, sizeof (*gpu));
    gpu->magic = 'G';
    gpu->fixed_utilization = -1;
    s_copy (gpu->name, sizeof gpu->name, json_string_value (json_object_get (spec, "name")));
    s_copy (gpu->uuid, sizeof gpu->uuid, json_string_value (json_object_get (spec, "uuid")));
    s_copy (gpu->bus, sizeof gpu->bus, json_string_value (json_object_get (spec, "busId")));
    gpu->device_id = (unsigned)json_integer_value (json_object_get (spec, "deviceId"));
    gpu->bytes = (unsigned long long)json_integer_value (json_object_get (spec, "memoryMb")) << 20;
    s_load_links (gpu, spec);
    s_copy (gpu->pcie_switch, 32, json_string_value (json_object_get (spec, "pcieSwitch")));
    s_copy (gpu->pcie_parent, 32, json_string_value (json_object_get (spec, "pcieParent")));
    s_copy (gpu->host_bridge, 32, json_string_value (json_object_get (spec, "hostBridge")));
    json_t *numa = json_object_get (spec, "numa");
    gpu->numa = json_is_integer (numa) ? (int)json_integer_value (numa) : -1;
    gpu->utilization = json_object_get (spec, "utilization");
    json_t *migs = json_object_get (spec, "migs");
    gpu->mig_mode = json_is_array (migs);
    size_t i;
    json_t *mig;
    json_array_foreach (migs, i, mig) {
        json_int_t slot = json_integer_value (json_object_get (mig, "slot"));
        if (slot < 0 || slot >= S_MAX_MIGS) continue;
        s_mig_t *entry = &gpu->migs[slot];
        entry->magic = 'M';
        entry->gpu = gpu;
        entry->present = true;
        s_copy (entry->uuid, sizeof entry->uuid, json_string_value (json_object_get (mig, "uuid")));
        char name[sizeof entry->name];
        snprintf (name, sizeof name, "%s MIG %s",
                  json_string_value (json_object_get (spec, "name")),
                  json_string_value (json_object_get (mig, "profile")));
        memcpy (entry->name, name, sizeof name);
        entry->bytes = (unsigned long long)json_integer_value (json_object_get (mig, "memoryMb"))
                       << 20;
    }
}

//  The loaded file goes with the library (dlclose), so that a sanitizer
//  sees no leak.
__attribute__ ((destructor)) static void
s_unload (void)
{
    json_decref (s_config);
    s_config = NULL;
}

//  Loads the file on the first init; 0 or an NVML error.
static int
s_load (void)
{
    if (s_config) return S_SUCCESS;
    const char *path = getenv ("HPT_FAKE_NVML");
    json_error_t error;
    s_config = path ? json_load_file (path, 0, &error) : NULL;
    if (!s_config) {
        fprintf (stderr, "fake_nvml: cannot load HPT_FAKE_NVML=%s: %s\n", path ? path : "(unset)",
                 path ? error.text : "");
        return S_UNINITIALIZED;
    }
    json_t *gpus = json_object_get (s_config, "gpus");
    s_count = 0;
    size_t i;
    json_t *spec;
    json_array_foreach (gpus, i, spec) {
        if (s_count < S_MAX_GPUS) s_load_gpu (&s_gpus[s_count++], spec);
    }
    s_copy (s_control, sizeof s_control, json_string_value (json_object_get (s_config, "control")));
    s_control_offset = 0;
    s_events = !json_is_false (json_object_get (s_config, "events"));
    return S_SUCCESS;
}

static void
s_queue_event (s_gpu_t *gpu, unsigned long long type, unsigned long long data)
{
    if (s_queued < S_MAX_EVENTS) s_queue[s_queued++] = (s_event_data_t){gpu, type, data, 0, 0};
}

//  Applies one control line.
static void
s_command (const char *line)
{
    char verb[16] = "";
    long index = -1, value = 0;
    int fields = sscanf (line, "%15s %ld %ld", verb, &index, &value);
    if (fields < 2 || index < 0 || (size_t)index >= s_count) return;
    s_gpu_t *gpu = &s_gpus[index];
    if (strcmp (verb, "xid") == 0 && fields == 3)
        s_queue_event (gpu, 0x8, (unsigned long long)value);
    if (strcmp (verb, "dbe") == 0) {
        gpu->dbe++;
        s_queue_event (gpu, 0x2, 0);
    }
    if (strcmp (verb, "lost") == 0) gpu->lost = true;
    if (strcmp (verb, "pending") == 0) gpu->pending = true;
    if (strcmp (verb, "remap") == 0) gpu->remap = true;
    if (strcmp (verb, "util") == 0 && fields == 3) gpu->fixed_utilization = (int)value;
}

//  Applies the control file's new complete lines.
static void
s_poll_control (void)
{
    if (!s_control[0]) return;
    FILE *file = fopen (s_control, "r");
    if (!file) return;
    if (fseek (file, s_control_offset, SEEK_SET) == 0) {
        char line[256];
        while (fgets (line, sizeof line, file) && strchr (line, '\n')) {
            s_control_offset += (long)strlen (line);
            s_command (line);
        }
    }
    fclose (file);
}

static s_gpu_t *
s_gpu (void *handle)
{
    s_gpu_t *gpu = handle;
    return gpu && gpu->magic == 'G' ? gpu : NULL;
}

static s_mig_t *
s_mig (void *handle)
{
    s_mig_t *mig = handle;
    return mig && mig->magic == 'M' ? mig : NULL;
}

//  The GPU of a handle (a MIG instance's parent), with the control file
//  applied; NULL for no handle.
static s_gpu_t *
s_enter (void *handle)
{
    pthread_mutex_lock (&s_lock);
    s_poll_control ();
    s_gpu_t *gpu = s_gpu (handle);
    if (!gpu && s_mig (handle)) gpu = s_mig (handle)->gpu;
    return gpu;
}

static int
s_leave (int rc)
{
    pthread_mutex_unlock (&s_lock);
    return rc;
}

//  ---------------------------------------------------------------------
//  Life cycle and identity

int
nvmlInit_v2 (void)
{
    pthread_mutex_lock (&s_lock);
    int rc = s_load ();
    if (rc == S_SUCCESS) s_inits++;
    return s_leave (rc);
}

int
nvmlShutdown (void)
{
    pthread_mutex_lock (&s_lock);
    if (s_inits > 0) s_inits--;
    return s_leave (S_SUCCESS);
}

const char *
nvmlErrorString (int rc)
{
    return rc == S_GPU_IS_LOST ? "GPU is lost" : rc == S_TIMEOUT ? "Timeout" : "fake NVML error";
}

int
nvmlDeviceGetCount_v2 (unsigned *count)
{
    pthread_mutex_lock (&s_lock);
    if (!s_inits) return s_leave (S_UNINITIALIZED);
    *count = (unsigned)s_count;
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceGetHandleByIndex_v2 (unsigned index, void **handle)
{
    pthread_mutex_lock (&s_lock);
    if (index >= s_count) return s_leave (S_INVALID_ARGUMENT);
    *handle = &s_gpus[index];
    return s_leave (S_SUCCESS);
}

//  "0000:18:00.0" and "00000000:18:00.0" name the same device.
static bool
s_same_bus (const char *a, const char *b)
{
    unsigned d1, b1, s1, f1, d2, b2, s2, f2;
    return sscanf (a, "%x:%x:%x.%x", &d1, &b1, &s1, &f1) == 4 &&
           sscanf (b, "%x:%x:%x.%x", &d2, &b2, &s2, &f2) == 4 && d1 == d2 && b1 == b2 && s1 == s2 &&
           f1 == f2;
}

int
nvmlDeviceGetHandleByPciBusId_v2 (const char *bus, void **handle)
{
    pthread_mutex_lock (&s_lock);
    for (size_t i = 0; i < s_count; i++)
        if (s_same_bus (s_gpus[i].bus, bus)) {
            *handle = &s_gpus[i];
            return s_leave (S_SUCCESS);
        }
    return s_leave (S_NOT_FOUND);
}

int
nvmlDeviceGetName (void *handle, char *out, unsigned size)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu) return s_leave (S_INVALID_ARGUMENT);
    snprintf (out, size, "%s", s_mig (handle) ? s_mig (handle)->name : gpu->name);
    return s_leave (gpu->lost ? S_GPU_IS_LOST : S_SUCCESS);
}

int
nvmlDeviceGetUUID (void *handle, char *out, unsigned size)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu) return s_leave (S_INVALID_ARGUMENT);
    snprintf (out, size, "%s", s_mig (handle) ? s_mig (handle)->uuid : gpu->uuid);
    return s_leave (gpu->lost ? S_GPU_IS_LOST : S_SUCCESS);
}

int
nvmlDeviceGetMemoryInfo (void *handle, s_memory_t *memory)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu) return s_leave (S_INVALID_ARGUMENT);
    if (gpu->lost) return s_leave (S_GPU_IS_LOST);
    memory->total = s_mig (handle) ? s_mig (handle)->bytes : gpu->bytes;
    memory->used = memory->total / 4;
    memory->free = memory->total - memory->used;
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceGetPciInfo_v3 (void *handle, s_pci_t *pci)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu || s_mig (handle)) return s_leave (S_INVALID_ARGUMENT);
    if (gpu->lost) return s_leave (S_GPU_IS_LOST);
    memset (pci, 0, sizeof (*pci));
    unsigned domain = 0, bus = 0, device = 0, function = 0;
    sscanf (gpu->bus, "%x:%x:%x.%x", &domain, &bus, &device, &function);
    snprintf (pci->busId, sizeof pci->busId, "%08X:%02X:%02X.%X", domain, bus, device, function);
    pci->domain = domain;
    pci->bus = bus;
    pci->device = device;
    pci->pciDeviceId = gpu->device_id << 16 | 0x10de;
    return s_leave (S_SUCCESS);
}

//  ---------------------------------------------------------------------
//  MIG

int
nvmlDeviceGetMigMode (void *handle, unsigned *current, unsigned *pending)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu || s_mig (handle)) return s_leave (S_INVALID_ARGUMENT);
    *current = *pending = gpu->mig_mode;
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceGetMaxMigDeviceCount (void *handle, unsigned *count)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu) return s_leave (S_INVALID_ARGUMENT);
    *count = gpu->mig_mode ? S_MAX_MIGS : 0;
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceGetMigDeviceHandleByIndex (void *handle, unsigned index, void **mig)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu || index >= S_MAX_MIGS) return s_leave (S_INVALID_ARGUMENT);
    if (!gpu->migs[index].present) return s_leave (S_NOT_FOUND);
    *mig = &gpu->migs[index];
    return s_leave (S_SUCCESS);
}

//  ---------------------------------------------------------------------
//  NVLink and PCIe topology

int
nvmlDeviceGetNvLinkState (void *handle, unsigned link, unsigned *active)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu || link >= S_MAX_LINKS) return s_leave (S_INVALID_ARGUMENT);
    if (gpu->link_count == 0) return s_leave (S_NOT_SUPPORTED);
    *active = link < gpu->link_count;
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceGetNvLinkRemoteDeviceType (void *handle, unsigned link, unsigned *type)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu || link >= gpu->link_count) return s_leave (S_INVALID_ARGUMENT);
    *type = gpu->link_peer[link][0] ? 0 : 2;
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceGetNvLinkRemotePciInfo_v2 (void *handle, unsigned link, s_pci_t *pci)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu || link >= gpu->link_count) return s_leave (S_INVALID_ARGUMENT);
    memset (pci, 0, sizeof (*pci));
    //  A switch's end is a bus id no GPU has.
    snprintf (pci->busId, sizeof pci->busId, "%s",
              gpu->link_peer[link][0] ? gpu->link_peer[link] : "00000000:FE:00.0");
    return s_leave (S_SUCCESS);
}

static bool
s_shared (const char *a, const char *b)
{
    return a[0] && strcmp (a, b) == 0;
}

int
nvmlDeviceGetTopologyCommonAncestor (void *one, void *two, int *level)
{
    pthread_mutex_lock (&s_lock);
    s_gpu_t *a = s_gpu (one), *b = s_gpu (two);
    if (!a || !b) return s_leave (S_INVALID_ARGUMENT);
    *level = s_shared (a->pcie_switch, b->pcie_switch)   ? 10
             : s_shared (a->pcie_parent, b->pcie_parent) ? 20
             : s_shared (a->host_bridge, b->host_bridge) ? 30
             : a->numa >= 0 && a->numa == b->numa        ? 40
                                                         : 50;
    return s_leave (S_SUCCESS);
}

//  ---------------------------------------------------------------------
//  Events

int
nvmlEventSetCreate (void **set)
{
    pthread_mutex_lock (&s_lock);
    if (!s_events) return s_leave (S_NOT_SUPPORTED);
    *set = &s_event_set;
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceGetSupportedEventTypes (void *handle, unsigned long long *types)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu) return s_leave (S_INVALID_ARGUMENT);
    *types = s_events ? 0x8 | 0x2 | 0x4 : 0;
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceRegisterEvents (void *handle, unsigned long long types, void *set)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu || set != &s_event_set) return s_leave (S_INVALID_ARGUMENT);
    return s_leave (s_events ? S_SUCCESS : S_NOT_SUPPORTED);
}

int
nvmlEventSetWait_v2 (void *set, s_event_data_t *data, unsigned timeout_ms)
{
    //  Wait in 10 ms steps, so commands appended meanwhile are seen.
    for (unsigned waited = 0;; waited += 10) {
        pthread_mutex_lock (&s_lock);
        if (set != &s_event_set) return s_leave (S_INVALID_ARGUMENT);
        s_poll_control ();
        if (s_queued) {
            *data = s_queue[0];
            memmove (s_queue, s_queue + 1, --s_queued * sizeof (s_queue[0]));
            return s_leave (S_SUCCESS);
        }
        pthread_mutex_unlock (&s_lock);
        if (waited >= timeout_ms) return S_TIMEOUT;
        nanosleep (&(struct timespec){0, 10 * 1000000L}, NULL);
    }
}

int
nvmlEventSetFree (void *set)
{
    return set == &s_event_set ? S_SUCCESS : S_INVALID_ARGUMENT;
}

//  ---------------------------------------------------------------------
//  Samples and health

int
nvmlDeviceGetUtilizationRates (void *handle, s_utilization_t *utilization)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu || s_mig (handle)) return s_leave (gpu ? S_NOT_SUPPORTED : S_INVALID_ARGUMENT);
    if (gpu->lost) return s_leave (S_GPU_IS_LOST);
    size_t n = json_array_size (gpu->utilization);
    json_int_t value = n ? json_integer_value (json_array_get (
                               gpu->utilization, gpu->samples < n ? gpu->samples : n - 1))
                         : 0;
    gpu->samples++;
    utilization->gpu = (unsigned)(gpu->fixed_utilization >= 0 ? gpu->fixed_utilization : value);
    utilization->memory = utilization->gpu / 2;
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceGetPowerUsage (void *handle, unsigned *milliwatts)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu) return s_leave (S_INVALID_ARGUMENT);
    if (gpu->lost) return s_leave (S_GPU_IS_LOST);
    *milliwatts =
        70000 + 6000 * (unsigned)(gpu->fixed_utilization > 0 ? gpu->fixed_utilization : 0);
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceGetTemperature (void *handle, int sensor, unsigned *celsius)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu || sensor != 0) return s_leave (S_INVALID_ARGUMENT);
    if (gpu->lost) return s_leave (S_GPU_IS_LOST);
    *celsius = 35;
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceGetTotalEccErrors (void *handle, int type, int counter, unsigned long long *count)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu) return s_leave (S_INVALID_ARGUMENT);
    if (gpu->lost) return s_leave (S_GPU_IS_LOST);
    *count = type == 1 && counter == 0 ? gpu->dbe : 0;
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceGetRetiredPagesPendingStatus (void *handle, unsigned *pending)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu) return s_leave (S_INVALID_ARGUMENT);
    if (gpu->lost) return s_leave (S_GPU_IS_LOST);
    *pending = gpu->pending;
    return s_leave (S_SUCCESS);
}

int
nvmlDeviceGetRemappedRows (void *handle, unsigned *corrected, unsigned *uncorrected,
                           unsigned *pending, unsigned *failed)
{
    s_gpu_t *gpu = s_enter (handle);
    if (!gpu) return s_leave (S_INVALID_ARGUMENT);
    if (gpu->lost) return s_leave (S_GPU_IS_LOST);
    *corrected = *uncorrected = 0;
    *pending = gpu->remap;
    *failed = 0;
    return s_leave (S_SUCCESS);
}
