/*  hpt_topology -- what this host offers to trials: cores, memory, NUMA
    nodes and accelerators

    Discovery, in order:

    1. hwloc loads the machine (or an XML file) with I/O discovery on: PCI
       devices are kept whatever their class (a TPU may not announce itself
       as a "processing accelerator"), bridges and OS devices only when
       hwloc deems them important.
    2. Cores, PUs, total memory and NUMA nodes come straight from hwloc.
       Disallowed PUs (a container's cpuset) are already gone: hwloc drops
       them unless asked not to.
    3. Each PCI device is an accelerator when it is NVIDIA (vendor 0x10de)
       with a display or 3D class, or Google (vendor 0x1ae0) with a known
       TPU device id or an accelerator class. Its NUMA node and local cores
       come from its first non-I/O ancestor (the package or node its host
       bridge hangs from): the ancestor's nodeset gives the node when it
       holds exactly one, its cpuset the cores. Name, memory and UUID come
       from hwloc's OS devices below it (the CUDA/NVML backends: GPUModel,
       CUDAGlobalMemorySize, NVIDIAUUID) or else from the PCI database name.
    4. On a live machine (or for an XML file when HPT_NVML_LIBRARY is set:
       how tests exercise the merge), NVML (hpt_nvml) overrides name, memory and UUID
       and adds MIG instances, matched by PCI bus id; GPUs NVML sees but
       hwloc did not (no PCI access in a container) are added without
       locality. TPUs behind /dev/accelN that hwloc missed are added from
       sysfs, and so are Google TPU PCI functions sysfs lists that hwloc
       missed (chips bound to vfio-pci, which no /dev/accel names).
    5. Devices are sorted by PCI bus id and numbered per kind: the GPU
       index is then the CUDA index under CUDA_DEVICE_ORDER=PCI_BUS_ID.
       MIG instances are numbered host-wide, GPU by GPU.
    6. The link of every pair of GPUs (hpt_gpu_link): NVML's NVLinks
       first (direct links to that peer; else, when both GPUs have links
       to NVSwitches, the fewer of their switch links: an NVSwitch fabric
       connects all pairs), then NVML's PCIe common ancestor (INTERNAL and
       SINGLE -> PIX, MULTIPLE -> PXB, HOSTBRIDGE -> PHB, NODE, SYSTEM ->
       SYS). Without NVML, hwloc's PCI tree: the nearest common ancestor
       of the two PCI devices is a host bridge -> PHB; another bridge ->
       PIX when at most one bridge lies between it and each GPU (the
       downstream port of one PCIe switch), else PXB; no bridge (they hang
       from different host bridges) -> NODE on one NUMA node, else SYS.
       A GPU hwloc does not see (declared, or NVML only) is compared by
       NUMA node alone.

    The type is chosen by PCI device id first (exact), then by model name
    (hpt_nvml_type_for_name), then NVIDIA_GENERIC_GPU. TPU ids: 0x0027 is v2
    or v3 by subsystem id (0x004e v2, 0x004f v3), 0x005e and 0x0056 (v4
    lite) v4, 0x0063 v5e, 0x0062 v5p, 0x006f v6e (the ids Google's
    tpu-info tool and gVisor's TPU support use); an unknown Google
    accelerator (e.g. 0x0076, v7x, which hpt_accel has no name for yet) is
    reported as TPU_V4.
*/
#include "hpt_topology.h"
#include "hpt_accel.h"
#include "hpt_alloc.h"
#include "hpt_schema.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_VENDOR_NVIDIA 0x10de
#define S_VENDOR_GOOGLE 0x1ae0
//  No host has more; bounds what a bad XML file can make us allocate.
#define S_MAX_ACCELERATORS 1024

struct _hpt_topology_t {
    hwloc_topology_t hwloc;     //  the loaded topology, owned
    const char *discovery;      //  "hwloc", "hwloc+nvml" or "xml"
    char *nvml_error;           //  why NVML was not used, owned, or NULL
    hwloc_obj_type_t core_type; //  HWLOC_OBJ_CORE, or PU when there are no cores
    size_t core_total;          //  cores detected
    bool *core_allowed;         //  per core: still offered after restriction
    hpt_nvml_t *nvml;           //  NVML's snapshot while discovering, NULL after
    hpt_resources_t resources;  //  the view handed out
};

//  Opens a regular file for reading; NULL with error set to "PATH:
//  reason" otherwise: HPT_E_NOT_FOUND when there is no such file,
//  HPT_E_INVALID when it is there but cannot be read as one. The caller
//  closes the file.
static FILE *
s_open_file (const char *path, hpt_error_t *error)
{
    FILE *file = path ? fopen (path, "r") : NULL;
    struct stat info;
    if (!file) {
        int code = errno;
        hpt_error_set (error, path && stat (path, &info) == 0 ? HPT_E_INVALID : HPT_E_NOT_FOUND,
                       "%s: %s", path ? path : "(null)", strerror (code));
        return NULL;
    }
    if (fstat (fileno (file), &info) != 0 || !S_ISREG (info.st_mode)) {
        fclose (file);
        hpt_error_set (error, HPT_E_INVALID, "%s: not a regular file", path);
        return NULL;
    }
    return file;
}

static double
s_gib (unsigned long long bytes)
{
    return round ((double)bytes / (1024.0 * 1024.0 * 1024.0) * 10.0) / 10.0;
}

//  Copies src into a fixed buffer, truncating.
static void
s_copy (char *dest, size_t size, const char *src)
{
    snprintf (dest, size, "%s", src ? src : "");
}

//  Logical indexes of the offered cores inside cpuset; *count receives the
//  length. Returns a new array (possibly empty, never NULL); the caller
//  owns it.
static unsigned *
s_cores_in (hpt_topology_t *self, hwloc_const_cpuset_t cpuset, size_t *count)
{
    unsigned *list = hpt_malloc ((self->core_total ? self->core_total : 1) * sizeof (unsigned));
    *count = 0;
    for (size_t i = 0; i < self->core_total; i++) {
        hwloc_obj_t core = hwloc_get_obj_by_type (self->hwloc, self->core_type, (unsigned)i);
        if (core && cpuset && self->core_allowed[i] &&
            hwloc_bitmap_isincluded (core->cpuset, cpuset))
            list[(*count)++] = (unsigned)i;
    }
    return list;
}

static void
s_read_cores (hpt_topology_t *self)
{
    int cores = hwloc_get_nbobjs_by_type (self->hwloc, HWLOC_OBJ_CORE);
    self->core_type = cores > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    int n = hwloc_get_nbobjs_by_type (self->hwloc, self->core_type);
    self->core_total = n > 0 ? (size_t)n : 0;
    self->core_allowed = hpt_calloc (self->core_total ? self->core_total : 1, sizeof (bool));
    for (size_t i = 0; i < self->core_total; i++)
        self->core_allowed[i] = true;
}

//  Recounts cores and PUs from the allowed flags.
static void
s_count_cpus (hpt_topology_t *self)
{
    self->resources.cpus = 0;
    self->resources.pus = 0;
    for (size_t i = 0; i < self->core_total; i++) {
        if (!self->core_allowed[i]) continue;
        hwloc_obj_t core = hwloc_get_obj_by_type (self->hwloc, self->core_type, (unsigned)i);
        int pus = core ? hwloc_bitmap_weight (core->cpuset) : 0;
        self->resources.cpus++;
        self->resources.pus += pus > 0 ? (size_t)pus : 1;
    }
}

static void
s_read_numa (hpt_topology_t *self)
{
    int n = hwloc_get_nbobjs_by_type (self->hwloc, HWLOC_OBJ_NUMANODE);
    size_t count = n > 0 ? (size_t)n : 0;
    self->resources.numa_nodes = hpt_calloc (count ? count : 1, sizeof (hpt_numa_node_t));
    for (size_t i = 0; i < count; i++) {
        hwloc_obj_t node = hwloc_get_obj_by_type (self->hwloc, HWLOC_OBJ_NUMANODE, (unsigned)i);
        hpt_numa_node_t *entry = &self->resources.numa_nodes[i];
        entry->index = node->os_index;
        entry->memory_gb = s_gib (node->attr->numanode.local_memory);
        entry->cpus = s_cores_in (self, node->cpuset, &entry->cpu_count);
        self->resources.numa_count++;
    }
}

static const char *
s_tpu_type (unsigned device, unsigned subdevice, unsigned class_id)
{
    switch (device) {
        case 0x0027:
            return subdevice == 0x004f ? "TPU_V3" : "TPU_V2";
        case 0x0056:
        case 0x005e:
            return "TPU_V4";
        case 0x0062:
            return "TPU_V5P";
        case 0x0063:
            return "TPU_V5E";
        case 0x006f:
            return "TPU_V6E";
        default:
            //  Google also makes NICs and NVMe; only an accelerator class is
            //  a TPU we do not know yet.
            return (class_id >> 8) == 0x12 ? "TPU_V4" : NULL;
    }
}

//  Maps a PCI device to an hpt accelerator type (static string), or NULL
//  when the device is not an accelerator hpt schedules. name is hwloc's
//  or NVML's model name, may be NULL.
static const char *
s_type_for_pci (unsigned vendor, unsigned device, unsigned subdevice, unsigned class_id,
                const char *name)
{
    if (vendor == S_VENDOR_GOOGLE) return s_tpu_type (device, subdevice, class_id);
    if (vendor != S_VENDOR_NVIDIA || (class_id >> 8) != 0x03) return NULL;
    const char *type = hpt_nvml_type_for_device_id (device);
    if (!type) type = hpt_nvml_type_for_name (name);
    return type ? type : "NVIDIA_GENERIC_GPU";
}

//  The first info value called key among the OS devices below a PCI
//  device (hwloc's CUDA/NVML backends put GPUModel etc. there), or NULL.
static const char *
s_osdev_info (hwloc_obj_t pcidev, const char *key)
{
    for (hwloc_obj_t child = pcidev->io_first_child; child; child = child->next_sibling) {
        if (child->type != HWLOC_OBJ_OS_DEVICE) continue;
        const char *value = hwloc_obj_get_info_by_name (child, key);
        if (value && *value) return value;
    }
    return NULL;
}

//  The best model name hwloc has for a device (borrowed), or NULL.
static const char *
s_pci_name (hwloc_obj_t pcidev)
{
    const char *name = s_osdev_info (pcidev, "GPUModel");
    if (!name) name = hwloc_obj_get_info_by_name (pcidev, "PCIDevice");
    if (!name || !*name) name = pcidev->name;
    return name && *name ? name : NULL;
}

//  The nominal memory a model name states ("Tesla V100-SXM2-16GB",
//  "GV100GL [Tesla V100 SXM2 32GB]" -> 16, 32), used when neither NVML nor
//  hwloc's CUDA backend measured it; 0 when the name states none.
static double
s_memory_from_name (const char *name)
{
    for (const char *p = strcasestr (name, "GB"); p; p = strcasestr (p + 2, "GB")) {
        const char *digits = p;
        while (digits > name && digits[-1] >= '0' && digits[-1] <= '9' && p - digits < 4)
            digits--;
        bool start_ok =
            digits == name || digits[-1] == ' ' || digits[-1] == '-' || digits[-1] == '[';
        if (digits < p && start_ok) return atof (digits);
    }
    return 0;
}

//  Fills entry from an hwloc PCI device known to be an accelerator.
static void
s_fill_from_pci (hpt_topology_t *self, hwloc_obj_t pcidev, const char *type,
                 hpt_accelerator_t *entry)
{
    struct hwloc_pcidev_attr_s *pci = &pcidev->attr->pcidev;
    s_copy (entry->type, sizeof (entry->type), type);
    entry->is_tpu = pci->vendor_id == S_VENDOR_GOOGLE;
    snprintf (entry->pci_bus_id, sizeof (entry->pci_bus_id), "%04x:%02x:%02x.%x", pci->domain,
              pci->bus, pci->dev, pci->func);
    const char *name = s_pci_name (pcidev);
    if (name)
        s_copy (entry->name, sizeof (entry->name), name);
    else
        snprintf (entry->name, sizeof (entry->name), "%s %s (%04x:%04x)",
                  entry->is_tpu ? "Google" : "NVIDIA", type, pci->vendor_id, pci->device_id);
    const char *uuid = s_osdev_info (pcidev, "NVIDIAUUID");
    s_copy (entry->uuid, sizeof (entry->uuid), uuid);
    const char *kib = s_osdev_info (pcidev, "CUDAGlobalMemorySize");
    if (kib) {
        char *end = NULL;
        unsigned long long value = strtoull (kib, &end, 10);
        if (end && *end == '\0' && value < (1ULL << 44)) entry->memory_gb = s_gib (value * 1024);
    }
    if (entry->memory_gb == 0) entry->memory_gb = s_memory_from_name (entry->name);
    hwloc_obj_t ancestor = hwloc_get_non_io_ancestor_obj (self->hwloc, pcidev);
    entry->numa_node = -1;
    if (ancestor && ancestor->nodeset && hwloc_bitmap_weight (ancestor->nodeset) == 1)
        entry->numa_node = hwloc_bitmap_first (ancestor->nodeset);
    entry->cpus = s_cores_in (self, ancestor ? ancestor->cpuset : NULL, &entry->cpu_count);
}

//  Grows the accelerator array by one zeroed entry; NULL when full.
static hpt_accelerator_t *
s_add_accelerator (hpt_topology_t *self)
{
    hpt_resources_t *r = &self->resources;
    if (r->accelerator_count >= S_MAX_ACCELERATORS) return NULL;
    r->accelerators =
        hpt_realloc (r->accelerators, (r->accelerator_count + 1) * sizeof (hpt_accelerator_t));
    hpt_accelerator_t *entry = &r->accelerators[r->accelerator_count++];
    memset (entry, 0, sizeof (*entry));
    entry->numa_node = -1;
    return entry;
}

static bool
s_read_pci (hpt_topology_t *self)
{
    for (hwloc_obj_t dev = hwloc_get_next_pcidev (self->hwloc, NULL); dev;
         dev = hwloc_get_next_pcidev (self->hwloc, dev)) {
        struct hwloc_pcidev_attr_s *pci = &dev->attr->pcidev;
        const char *type = s_type_for_pci (pci->vendor_id, pci->device_id, pci->subdevice_id,
                                           pci->class_id, s_pci_name (dev));
        if (!type) continue;
        hpt_accelerator_t *entry = s_add_accelerator (self);
        if (!entry) return false;
        s_fill_from_pci (self, dev, type, entry);
    }
    return true;
}

static hpt_accelerator_t *
s_find_by_bus (hpt_topology_t *self, const char *bus_id)
{
    for (size_t i = 0; i < self->resources.accelerator_count; i++)
        if (strcmp (self->resources.accelerators[i].pci_bus_id, bus_id) == 0)
            return &self->resources.accelerators[i];
    return NULL;
}

//  Overrides a GPU's hwloc facts with NVML's.
static void
s_merge_gpu (hpt_topology_t *self, const hpt_nvml_gpu_t *gpu, hpt_accelerator_t *entry)
{
    if (*gpu->name) {
        s_copy (entry->name, sizeof (entry->name), gpu->name);
        //  A device id we know already gave the exact type; else NVML's name
        //  is better than hwloc's.
        const char *by_name = hpt_nvml_type_for_name (gpu->name);
        if (strcmp (entry->type, "NVIDIA_GENERIC_GPU") == 0 && by_name)
            s_copy (entry->type, sizeof (entry->type), by_name);
    }
    if (*gpu->uuid) s_copy (entry->uuid, sizeof (entry->uuid), gpu->uuid);
    if (gpu->memory_bytes) entry->memory_gb = s_gib (gpu->memory_bytes);
    entry->mig_enabled = gpu->mig_enabled;
    if (gpu->mig_count) {
        entry->migs = hpt_malloc (gpu->mig_count * sizeof (hpt_nvml_mig_t));
        memcpy (entry->migs, gpu->migs, gpu->mig_count * sizeof (hpt_nvml_mig_t));
        entry->mig_count = gpu->mig_count;
    }
}

static void
s_merge_nvml (hpt_topology_t *self)
{
    hpt_error_t why;
    hpt_nvml_t *nvml = hpt_nvml_new (&why);
    if (!nvml) {
        //  Absent NVML is the CPU-only case, not a failure.
        self->nvml_error = hpt_strdup (why.message);
        return;
    }
    self->discovery = strcmp (self->discovery, "xml") == 0 ? "xml+nvml" : "hwloc+nvml";
    for (size_t i = 0; i < hpt_nvml_count (nvml); i++) {
        const hpt_nvml_gpu_t *gpu = hpt_nvml_gpu (nvml, i);
        hpt_accelerator_t *entry = s_find_by_bus (self, gpu->pci_bus_id);
        if (!entry) {
            //  hwloc could not see it (no PCI access): no locality known.
            const char *type = hpt_nvml_type_for_device_id (gpu->pci_device_id);
            if (!type) type = hpt_nvml_type_for_name (gpu->name);
            entry = s_add_accelerator (self);
            if (!entry) break;
            s_copy (entry->type, sizeof (entry->type), type ? type : "NVIDIA_GENERIC_GPU");
            s_copy (entry->pci_bus_id, sizeof (entry->pci_bus_id), gpu->pci_bus_id);
            entry->cpus = s_cores_in (self, hwloc_topology_get_topology_cpuset (self->hwloc),
                                      &entry->cpu_count);
        }
        s_merge_gpu (self, gpu, entry);
    }
    self->nvml = nvml; //  kept for the links (s_read_links)
}

//  Reads a small sysfs file holding one hex number ("0x1ae0\n").
static bool
s_read_sysfs_hex (const char *path, unsigned *value)
{
    FILE *file = fopen (path, "r");
    if (!file) return false;
    char text[32] = "";
    bool ok = fgets (text, sizeof (text), file) != NULL;
    fclose (file);
    char *end = NULL;
    unsigned long v = ok ? strtoul (text, &end, 16) : 0;
    ok = ok && end != text && v <= 0xffff;
    if (ok) *value = (unsigned)v;
    return ok;
}

//  Adds TPUs that show up as /dev/accelN but not in hwloc's PCI list.
static void
s_read_dev_accel (hpt_topology_t *self)
{
    glob_t found;
    if (glob ("/dev/accel[0-9]*", 0, NULL, &found) != 0) return;
    for (size_t i = 0; i < found.gl_pathc; i++) {
        const char *dev = strrchr (found.gl_pathv[i], '/') + 1;
        char path[256], link[256], bus_id[HPT_NVML_BUSID_MAX] = "";
        unsigned vendor = 0, device = 0, subdevice = 0;
        snprintf (path, sizeof (path), "/sys/class/accel/%s/device/vendor", dev);
        bool known = s_read_sysfs_hex (path, &vendor);
        if (known && vendor != S_VENDOR_GOOGLE) continue;
        snprintf (path, sizeof (path), "/sys/class/accel/%s/device/device", dev);
        s_read_sysfs_hex (path, &device);
        snprintf (path, sizeof (path), "/sys/class/accel/%s/device/subsystem_device", dev);
        s_read_sysfs_hex (path, &subdevice);
        snprintf (path, sizeof (path), "/sys/class/accel/%s/device", dev);
        ssize_t len = readlink (path, link, sizeof (link) - 1);
        if (len > 0) {
            link[len] = '\0';
            const char *base = strrchr (link, '/');
            hpt_nvml_normalize_bus_id (base ? base + 1 : link, bus_id, sizeof (bus_id));
        }
        if (*bus_id && s_find_by_bus (self, bus_id)) continue;
        const char *type = s_tpu_type (device, subdevice, 0x1200);
        hpt_accelerator_t *entry = s_add_accelerator (self);
        if (!entry) break;
        s_copy (entry->type, sizeof (entry->type), type);
        entry->is_tpu = true;
        s_copy (entry->pci_bus_id, sizeof (entry->pci_bus_id), bus_id);
        snprintf (entry->name, sizeof (entry->name), "Google TPU (%s)", found.gl_pathv[i]);
        entry->cpus =
            s_cores_in (self, hwloc_topology_get_topology_cpuset (self->hwloc), &entry->cpu_count);
    }
    globfree (&found);
}

//  Adds TPUs that sysfs lists among the PCI devices but hwloc did not (a
//  container without PCI access, or chips bound to vfio-pci for a TPU VM's
//  runtime, which no /dev/accel node names): vendor 0x1ae0 with a TPU
//  device id or an accelerator class. The sysfs root is $HPT_SYSFS_ROOT
//  (tests) or /sys.
static void
s_read_sysfs_tpus (hpt_topology_t *self)
{
    const char *root = getenv ("HPT_SYSFS_ROOT");
    char *pattern = hpt_asprintf ("%s/bus/pci/devices/*", root && *root ? root : "/sys");
    glob_t found;
    int rc = glob (pattern, 0, NULL, &found);
    free (pattern);
    if (rc != 0) return;
    for (size_t i = 0; i < found.gl_pathc && i < 4096; i++) {
        char path[PATH_MAX], bus_id[HPT_NVML_BUSID_MAX] = "";
        unsigned vendor = 0, device = 0, subdevice = 0, class_id = 0;
        snprintf (path, sizeof (path), "%s/vendor", found.gl_pathv[i]);
        if (!s_read_sysfs_hex (path, &vendor) || vendor != S_VENDOR_GOOGLE) continue;
        snprintf (path, sizeof (path), "%s/device", found.gl_pathv[i]);
        s_read_sysfs_hex (path, &device);
        snprintf (path, sizeof (path), "%s/subsystem_device", found.gl_pathv[i]);
        s_read_sysfs_hex (path, &subdevice);
        snprintf (path, sizeof (path), "%s/class", found.gl_pathv[i]);
        unsigned long long class_long = 0;
        FILE *file = fopen (path, "r");
        if (file) {
            if (fscanf (file, "%llx", &class_long) != 1) class_long = 0;
            fclose (file);
        }
        class_id = (unsigned)((class_long >> 8) & 0xffff);
        const char *type = s_tpu_type (device, subdevice, class_id);
        const char *base = strrchr (found.gl_pathv[i], '/');
        if (!type || !hpt_nvml_normalize_bus_id (base ? base + 1 : "", bus_id, sizeof (bus_id)) ||
            s_find_by_bus (self, bus_id))
            continue;
        hpt_accelerator_t *entry = s_add_accelerator (self);
        if (!entry) break;
        s_copy (entry->type, sizeof (entry->type), type);
        entry->is_tpu = true;
        s_copy (entry->pci_bus_id, sizeof (entry->pci_bus_id), bus_id);
        snprintf (entry->name, sizeof (entry->name), "Google TPU (%04x:%04x, %s)", vendor, device,
                  bus_id);
        entry->cpus =
            s_cores_in (self, hwloc_topology_get_topology_cpuset (self->hwloc), &entry->cpu_count);
    }
    globfree (&found);
}

static int
s_compare_accelerators (const void *a, const void *b)
{
    const hpt_accelerator_t *x = a, *y = b;
    if (x->is_tpu != y->is_tpu) return x->is_tpu ? 1 : -1;
    //  Fixed-width lowercase hex: string order is bus order. Bus-less
    //  devices (from /dev) go last.
    if (!*x->pci_bus_id || !*y->pci_bus_id) return !*x->pci_bus_id - !*y->pci_bus_id;
    return strcmp (x->pci_bus_id, y->pci_bus_id);
}

static void
s_number_accelerators (hpt_topology_t *self)
{
    hpt_resources_t *r = &self->resources;
    if (r->accelerator_count > 1)
        qsort (r->accelerators, r->accelerator_count, sizeof (hpt_accelerator_t),
               s_compare_accelerators);
    unsigned gpus = 0, tpus = 0, migs = 0;
    for (size_t i = 0; i < r->accelerator_count; i++) {
        hpt_accelerator_t *a = &r->accelerators[i];
        a->index = a->is_tpu ? tpus++ : gpus++;
        a->mig_base = migs;
        migs += (unsigned)a->mig_count;
    }
}

//  NVML's PCIe path as a link class.
static bool
s_link_from_path (hpt_nvml_path_t path, hpt_gpu_link_t *link)
{
    static const hpt_gpu_link_class_t classes[] = {HPT_GPU_LINK_PIX,  HPT_GPU_LINK_PIX,
                                                   HPT_GPU_LINK_PXB,  HPT_GPU_LINK_PHB,
                                                   HPT_GPU_LINK_NODE, HPT_GPU_LINK_SYS};
    if (path < HPT_NVML_PATH_INTERNAL || path > HPT_NVML_PATH_SYSTEM) return false;
    *link = (hpt_gpu_link_t){classes[path / 10], 0};
    return true;
}

//  Position of bus_id in NVML's snapshot, or -1.
static long
s_nvml_position (hpt_nvml_t *nvml, const char *bus_id)
{
    for (size_t i = 0; nvml && *bus_id && i < hpt_nvml_count (nvml); i++)
        if (strcmp (hpt_nvml_gpu (nvml, i)->pci_bus_id, bus_id) == 0) return (long)i;
    return -1;
}

//  The link NVML measured between GPUs at positions i and j.
static bool
s_nvml_link (hpt_nvml_t *nvml, long i, long j, hpt_gpu_link_t *link)
{
    if (i < 0 || j < 0) return false;
    const hpt_nvml_gpu_t *a = hpt_nvml_gpu (nvml, (size_t)i), *b = hpt_nvml_gpu (nvml, (size_t)j);
    unsigned direct = 0;
    for (size_t p = 0; p < a->peer_count; p++)
        if (strcmp (a->peers[p].bus_id, b->pci_bus_id) == 0) direct = a->peers[p].links;
    if (!direct && a->switch_links && b->switch_links)
        direct = a->switch_links < b->switch_links ? a->switch_links : b->switch_links;
    if (direct) {
        *link =
            (hpt_gpu_link_t){HPT_GPU_LINK_NVLINK,
                             direct > HPT_GPU_LINK_NVLINKS_MAX ? HPT_GPU_LINK_NVLINKS_MAX : direct};
        return true;
    }
    return s_link_from_path (hpt_nvml_path (nvml, (size_t)i, (size_t)j), link);
}

//  PCI bridges strictly between an I/O object and its ancestor.
static int
s_bridges_below (hwloc_obj_t obj, hwloc_obj_t ancestor)
{
    int bridges = 0;
    for (obj = obj->parent; obj && obj != ancestor; obj = obj->parent)
        bridges += obj->type == HWLOC_OBJ_BRIDGE;
    return bridges;
}

//  The link hwloc's PCI tree shows between two accelerators.
static hpt_gpu_link_t
s_hwloc_link (hpt_topology_t *self, const hpt_accelerator_t *a, const hpt_accelerator_t *b)
{
    hwloc_obj_t x =
        *a->pci_bus_id ? hwloc_get_pcidev_by_busidstring (self->hwloc, a->pci_bus_id) : NULL;
    hwloc_obj_t y =
        *b->pci_bus_id ? hwloc_get_pcidev_by_busidstring (self->hwloc, b->pci_bus_id) : NULL;
    hwloc_obj_t common = NULL;
    for (hwloc_obj_t up = x ? x->parent : NULL; up && !common; up = up->parent)
        for (hwloc_obj_t other = y ? y->parent : NULL; other && !common; other = other->parent)
            if (other == up) common = up;
    if (common && common->type == HWLOC_OBJ_BRIDGE) {
        if (common->attr->bridge.upstream_type == HWLOC_OBJ_BRIDGE_HOST)
            return (hpt_gpu_link_t){HPT_GPU_LINK_PHB, 0};
        bool one = s_bridges_below (x, common) <= 1 && s_bridges_below (y, common) <= 1;
        return (hpt_gpu_link_t){one ? HPT_GPU_LINK_PIX : HPT_GPU_LINK_PXB, 0};
    }
    bool same_node = a->numa_node >= 0 && a->numa_node == b->numa_node;
    return (hpt_gpu_link_t){same_node ? HPT_GPU_LINK_NODE : HPT_GPU_LINK_SYS, 0};
}

//  Fills every GPU's links (step 6 above).
static void
s_read_links (hpt_topology_t *self)
{
    hpt_resources_t *r = &self->resources;
    size_t gpus = 0;
    for (size_t i = 0; i < r->accelerator_count; i++)
        gpus += !r->accelerators[i].is_tpu;
    for (size_t i = 0; i < r->accelerator_count; i++) {
        hpt_accelerator_t *a = &r->accelerators[i];
        if (a->is_tpu) continue;
        a->link_count = gpus;
        a->links = hpt_calloc (gpus ? gpus : 1, sizeof (hpt_gpu_link_t));
        long at = s_nvml_position (self->nvml, a->pci_bus_id);
        for (size_t j = 0; j < r->accelerator_count; j++) {
            hpt_accelerator_t *b = &r->accelerators[j];
            if (b->is_tpu || j == i) continue;
            hpt_gpu_link_t link;
            if (!s_nvml_link (self->nvml, at, s_nvml_position (self->nvml, b->pci_bus_id), &link))
                link = s_hwloc_link (self, a, b);
            a->links[b->index] = link;
        }
    }
}

//  Loads hwloc (from xml_path when not NULL) and reads everything.
static hpt_topology_t *
s_new (const char *xml_path, hpt_error_t *error)
{
    hpt_topology_t *self = hpt_calloc (1, sizeof (hpt_topology_t));
    if (hwloc_topology_init (&self->hwloc) != 0) {
        free (self);
        hpt_error_set (error, HPT_E_UNAVAILABLE, "hwloc: cannot initialize a topology");
        return NULL;
    }
    self->discovery = xml_path ? "xml" : "hwloc";
    hwloc_topology_set_io_types_filter (self->hwloc, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    hwloc_topology_set_type_filter (self->hwloc, HWLOC_OBJ_PCI_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
    if (xml_path && hwloc_topology_set_xml (self->hwloc, xml_path) != 0) {
        hpt_error_set (error, HPT_E_INVALID, "%s: %s", xml_path, strerror (errno));
        hwloc_topology_destroy (self->hwloc);
        free (self);
        return NULL;
    }
    if (hwloc_topology_load (self->hwloc) != 0) {
        if (xml_path)
            hpt_error_set (error, HPT_E_INVALID, "%s: not a valid hwloc XML topology", xml_path);
        else
            hpt_error_set (error, HPT_E_UNAVAILABLE, "hwloc: cannot discover this machine: %s",
                           strerror (errno));
        hwloc_topology_destroy (self->hwloc);
        free (self);
        return NULL;
    }
    s_read_cores (self);
    s_read_numa (self);
    if (!s_read_pci (self)) {
        hpt_error_set (error, HPT_E_INVALID, "topology: more than %d accelerators",
                       S_MAX_ACCELERATORS);
        hpt_topology_destroy (&self);
        return NULL;
    }
    //  An XML file is a fake host: the real machine's NVML would not match
    //  it, unless a test names a stand-in library on purpose.
    const char *nvml_library = getenv ("HPT_NVML_LIBRARY");
    if (!xml_path || (nvml_library && *nvml_library)) s_merge_nvml (self);
    if (!xml_path) s_read_dev_accel (self);
    if (!xml_path) s_read_sysfs_tpus (self);
    s_count_cpus (self);
    self->resources.memory_gb = s_gib (hwloc_get_root_obj (self->hwloc)->total_memory);
    s_number_accelerators (self);
    s_read_links (self);
    hpt_nvml_destroy (&self->nvml);
    return self;
}

hpt_topology_t *
hpt_topology_new (hpt_error_t *error)
{
    return s_new (NULL, error);
}

hpt_topology_t *
hpt_topology_new_from_xml (const char *path, hpt_error_t *error)
{
    if (!path || !*path) {
        hpt_error_set (error, HPT_E_INVALID, "topology: no XML file named");
        return NULL;
    }
    //  hwloc's own message for a missing file is vague; say it first.
    FILE *file = s_open_file (path, error);
    if (!file) return NULL;
    fclose (file);
    return s_new (path, error);
}

static void
s_free_accelerator (hpt_accelerator_t *entry)
{
    free (entry->cpus);
    free (entry->migs);
    free (entry->links);
}

void
hpt_topology_destroy (hpt_topology_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_topology_t *self = *self_p;
    for (size_t i = 0; i < self->resources.numa_count; i++)
        free (self->resources.numa_nodes[i].cpus);
    free (self->resources.numa_nodes);
    for (size_t i = 0; i < self->resources.accelerator_count; i++)
        s_free_accelerator (&self->resources.accelerators[i]);
    free (self->resources.accelerators);
    free (self->core_allowed);
    free (self->nvml_error);
    hpt_nvml_destroy (&self->nvml);
    if (self->hwloc) hwloc_topology_destroy (self->hwloc);
    free (self);
    *self_p = NULL;
}

const hpt_resources_t *
hpt_topology_resources (hpt_topology_t *self)
{
    return &self->resources;
}

const char *
hpt_topology_discovery (hpt_topology_t *self)
{
    return self->discovery;
}

const char *
hpt_topology_nvml_error (hpt_topology_t *self)
{
    return self->nvml_error;
}

char *
hpt_topology_cpu_list (hpt_topology_t *self, const unsigned *cores, size_t count)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc ();
    if (!set) return NULL;
    for (size_t i = 0; i < count; i++) {
        hwloc_obj_t core = cores[i] < self->core_total && self->core_allowed[cores[i]]
                               ? hwloc_get_obj_by_type (self->hwloc, self->core_type, cores[i])
                               : NULL;
        if (!core) {
            hwloc_bitmap_free (set);
            return NULL;
        }
        hwloc_bitmap_or (set, set, core->cpuset);
    }
    char *text = NULL;
    if (hwloc_bitmap_list_asprintf (&text, set) < 0) text = NULL;
    hwloc_bitmap_free (set);
    return text;
}

//  -------------------------------------------------------------------------
//  JSON

static json_t *
s_core_array (const unsigned *cpus, size_t count)
{
    json_t *array = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (array, json_integer (cpus[i]));
    return array;
}

//  The MIG instances of a GPU: each with its own type (hpt_accel_mig_name
//  of the GPU's type and the profile; NVIDIA_GENERIC_GPU_<PROFILE> when the
//  GPU's type is generic) and host-wide index.
static json_t *
s_migs_json (const hpt_accelerator_t *a)
{
    json_t *migs = json_array ();
    for (size_t i = 0; i < a->mig_count; i++) {
        char type[96];
        if (!hpt_accel_mig_name (a->type, a->migs[i].profile, type, sizeof (type)))
            snprintf (type, sizeof (type), "%s_MIG", a->type);
        json_t *mig = json_object ();
        json_object_set_new (mig, "type", json_string (type));
        json_object_set_new (mig, "index", json_integer (a->mig_base + i));
        json_object_set_new (mig, "uuid", json_string (a->migs[i].uuid));
        json_object_set_new (mig, "name", json_string (a->migs[i].name));
        json_object_set_new (mig, "memoryGb", json_real (s_gib (a->migs[i].memory_bytes)));
        json_array_append_new (migs, mig);
    }
    return migs;
}

//  A GPU's links to the other GPUs still offered: {"3": "NV18", ...}.
static json_t *
s_links_json (const hpt_resources_t *r, const hpt_accelerator_t *a)
{
    json_t *links = json_object ();
    for (size_t j = 0; j < r->accelerator_count; j++) {
        const hpt_accelerator_t *b = &r->accelerators[j];
        if (b->is_tpu || b == a || b->index >= a->link_count) continue;
        char key[16], code[8];
        snprintf (key, sizeof (key), "%u", b->index);
        json_object_set_new (
            links, key,
            json_string (hpt_gpu_link_format (a->links[b->index], code, sizeof (code))));
    }
    return links;
}

static json_t *
s_accelerator_json (const hpt_resources_t *r, const hpt_accelerator_t *a)
{
    json_t *obj = json_object ();
    json_object_set_new (obj, "type", json_string (a->type));
    json_object_set_new (obj, "index", json_integer (a->index));
    json_object_set_new (obj, "pciBusId",
                         *a->pci_bus_id ? json_string (a->pci_bus_id) : json_null ());
    json_object_set_new (obj, "numaNode",
                         a->numa_node >= 0 ? json_integer (a->numa_node) : json_null ());
    json_object_set_new (obj, "name", json_string (a->name));
    json_object_set_new (obj, "memoryGb",
                         a->memory_gb > 0 ? json_real (a->memory_gb) : json_null ());
    json_object_set_new (obj, "uuid", *a->uuid ? json_string (a->uuid) : json_null ());
    json_object_set_new (obj, "cpus", s_core_array (a->cpus, a->cpu_count));
    if (a->declared) json_object_set_new (obj, "declared", json_true ());
    if (a->mig_enabled) json_object_set_new (obj, "migEnabled", json_true ());
    if (a->mig_count) json_object_set_new (obj, "mig", s_migs_json (a));
    if (a->link_count) json_object_set_new (obj, "links", s_links_json (r, a));
    return obj;
}

json_t *
hpt_topology_to_json (hpt_topology_t *self)
{
    const hpt_resources_t *r = &self->resources;
    json_t *root = json_object ();
    json_object_set_new (root, "cpus", json_integer ((json_int_t)r->cpus));
    json_object_set_new (root, "pus", json_integer ((json_int_t)r->pus));
    json_object_set_new (root, "memoryGb", json_real (r->memory_gb));
    json_t *nodes = json_array ();
    for (size_t i = 0; i < r->numa_count; i++) {
        json_t *node = json_object ();
        json_object_set_new (node, "index", json_integer (r->numa_nodes[i].index));
        json_object_set_new (node, "cpus",
                             s_core_array (r->numa_nodes[i].cpus, r->numa_nodes[i].cpu_count));
        json_object_set_new (node, "memoryGb", json_real (r->numa_nodes[i].memory_gb));
        json_array_append_new (nodes, node);
    }
    json_object_set_new (root, "numaNodes", nodes);
    json_t *accelerators = json_array ();
    for (size_t i = 0; i < r->accelerator_count; i++)
        json_array_append_new (accelerators, s_accelerator_json (r, &r->accelerators[i]));
    json_object_set_new (root, "accelerators", accelerators);
    json_object_set_new (root, "discovery", json_string (self->discovery));
    return root;
}

char *
hpt_topology_to_json_text (hpt_topology_t *self)
{
    json_t *root = hpt_topology_to_json (self);
    //  10 significant digits print 15.8 as 15.8, not 15.800000000000001.
    char *text =
        json_dumps (root, JSON_INDENT (2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION (10));
    json_decref (root);
    return text;
}

//  -------------------------------------------------------------------------
//  Resources file (--resources)
//
//  Read with hpt_schema like every config file; what is checked against
//  the detected host (more cores, memory or devices than found) is this
//  reader's own rule. Nothing is applied unless the whole file is good.

//  Bounds on the file: more accelerator entries than types exist is a
//  mistake, and counts beyond this are typos.
#define S_MAX_REQUESTS 64
#define S_MAX_COUNT 1024

typedef struct {
    const char *type; //  requested type (hpt_accel's static name)
    bool is_tpu;      //  its kind
    int64_t count;    //  devices wanted
} s_accel_request_t;

typedef struct {
    hpt_schema_t schema;                            //  first: handlers get it and cast it back
    const hpt_resources_t *detected;                //  what the host has (borrowed)
    bool has_cpus;                                  //  cpus given
    int64_t cpus;                                   //  cores wanted
    bool has_memory;                                //  memoryGb given
    double memory_gb;                               //  memory wanted
    bool has_accelerators;                          //  accelerators given (the full list)
    size_t accel_count;                             //  entries used in accelerators
    s_accel_request_t accelerators[S_MAX_REQUESTS]; //  requested types
} s_request_t;

static bool
s_r_cpus (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    s_request_t *request = (s_request_t *)r;
    if (!hpt_schema_int64 (r, v, 1, INT64_MAX, &request->cpus)) return false;
    if ((uint64_t)request->cpus > request->detected->cpus) {
        hpt_schema_error (r, v, "%lld exceeds the %zu cores detected", (long long)request->cpus,
                          request->detected->cpus);
        return false;
    }
    return request->has_cpus = true;
}

static bool
s_r_memory (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    s_request_t *request = (s_request_t *)r;
    hpt_schema_range_t positive = {0, HUGE_VAL, true};
    if (!hpt_schema_double (r, v, positive, &request->memory_gb)) return false;
    //  The detected figure is rounded to 0.1 GiB: allow what rounds to it.
    if (request->memory_gb > request->detected->memory_gb + 0.05) {
        hpt_schema_error (r, v, "%g exceeds the %.1f GiB detected", request->memory_gb,
                          request->detected->memory_gb);
        return false;
    }
    return request->has_memory = true;
}

static bool
s_a_type (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    s_request_t *request = (s_request_t *)r;
    s_accel_request_t *entry = t;
    const hpt_accel_info_t *info = hpt_schema_accel (r, v);
    if (!info) return false;
    if (info->pod) {
        hpt_schema_error (r, v, "%s is a pod slice; an agent offers single hosts", info->name);
        return false;
    }
    for (size_t i = 0; i < request->accel_count; i++)
        if (strcmp (request->accelerators[i].type, info->name) == 0) {
            hpt_schema_error (r, v, "%s is listed twice", info->name);
            return false;
        }
    entry->type = info->name;
    entry->is_tpu = info->kind == HPT_ACCEL_KIND_TPU;
    return true;
}

static const hpt_schema_field_t s_accel_fields[] = {
    HPT_SCHEMA_REQUIRED ("type", s_a_type, ""),
    HPT_SCHEMA_ENTRY ("count", hpt_schema_int64_field, .required = "",
                      .offset = offsetof (s_accel_request_t, count), .min = 0, .max = S_MAX_COUNT),
};

static size_t
s_detected (const hpt_resources_t *detected, const char *type)
{
    size_t count = 0;
    for (size_t i = 0; i < detected->accelerator_count; i++)
        if (strcmp (detected->accelerators[i].type, type) == 0) count++;
    return count;
}

//  One {type, count} entry: kept when it has no problem, and checked
//  against the devices detected.
static bool
s_accelerator (hpt_schema_t *r, hpt_node_t *parent, size_t i, void *t)
{
    s_request_t *request = (s_request_t *)r;
    hpt_node_t *node = parent->items[i];
    s_accel_request_t entry = {NULL, false, 0};
    size_t before = r->problems;
    if (!hpt_schema_object (r, node, HPT_SCHEMA_FIELDS (s_accel_fields), &entry) ||
        r->problems != before)
        return false;
    request->accelerators[request->accel_count++] = entry;
    //  More than detected may be declared only where nothing was detected.
    size_t found = s_detected (request->detected, entry.type);
    if (request->detected->accelerator_count && (size_t)entry.count > found) {
        hpt_schema_error (r, node,
                          "%lld %s requested but %zu detected; more than detected may be "
                          "declared only on a host where no accelerator was detected",
                          (long long)entry.count, entry.type, found);
        return false;
    }
    return true;
}

static bool
s_r_accelerators (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    s_request_t *request = (s_request_t *)r;
    request->has_accelerators = true;
    return hpt_schema_list (r, v, S_MAX_REQUESTS, "accelerator entries", s_accelerator, NULL);
}

static const hpt_schema_field_t s_resources_fields[] = {
    HPT_SCHEMA_FIELD ("cpus", s_r_cpus),
    HPT_SCHEMA_FIELD ("memoryGb", s_r_memory),
    HPT_SCHEMA_FIELD ("accelerators", s_r_accelerators),
};

//  Sets error to the problems of diag, one "FILE:LINE:COL: field:
//  message" line each. Whole lines only: those that do not fit in the
//  message are counted at its end.
static void
s_problems (hpt_diag_t *diag, hpt_error_code_t code, hpt_error_t *error)
{
    hpt_error_set (error, code, "%s", "");
    if (!error) return;
    char *text = error->message;
    size_t size = sizeof (error->message), used = 0, count = hpt_diag_count (diag);
    for (size_t i = 0; i < count; i++) {
        char *line = hpt_diag_format (diag, i);
        //  The line, its newline and the terminator, and room left for
        //  the note on the lines after it (the first line always goes in,
        //  cut if it must be).
        size_t reserve = i + 1 < count ? 48 : 0;
        bool fits = used + strlen (line) + 2 + reserve <= size;
        if (fits || i == 0) used += (size_t)snprintf (text + used, size - used, "%s\n", line);
        free (line);
        if (used >= size) return;
        if (!fits) {
            if (i + 1 < count)
                snprintf (text + used, size - used, "(and %zu more problems)\n", count - i - 1);
            return;
        }
    }
}

//  Reads the file into request; 0, or -1 with its problems in error
//  (HPT_E_NOT_FOUND when there is no such file, HPT_E_UNAVAILABLE when it
//  cannot be read, HPT_E_INVALID for what it says).
static int
s_read_resources (const char *path, s_request_t *request, hpt_error_t *error)
{
    hpt_diag_t *diag = hpt_diag_new (path, false);
    hpt_schema_init (&request->schema, diag);
    size_t size = 0;
    char *text = hpt_schema_read_file (&request->schema, path, &size);
    hpt_node_t *root = text ? hpt_schema_parse (&request->schema, text, size, false) : NULL;
    if (root)
        hpt_schema_object (&request->schema, root, HPT_SCHEMA_FIELDS (s_resources_fields), NULL);
    hpt_node_destroy (&root);
    struct stat info;
    hpt_error_code_t code = text                      ? HPT_E_INVALID
                            : stat (path, &info) != 0 ? HPT_E_NOT_FOUND
                                                      : HPT_E_UNAVAILABLE;
    free (text);
    hpt_diag_sort (diag);
    int rc = hpt_diag_count (diag) ? -1 : 0;
    if (rc) s_problems (diag, code, error);
    hpt_diag_destroy (&diag);
    return rc;
}

//  Keeps only offered cores in a list.
static void
s_filter_cores (hpt_topology_t *self, unsigned *cpus, size_t *count)
{
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++)
        if (self->core_allowed[cpus[i]]) cpus[kept++] = cpus[i];
    *count = kept;
}

static void
s_apply_cpus (hpt_topology_t *self, size_t wanted)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->core_total; i++)
        if (self->core_allowed[i] && kept++ >= wanted) self->core_allowed[i] = false;
    hpt_resources_t *r = &self->resources;
    for (size_t i = 0; i < r->numa_count; i++)
        s_filter_cores (self, r->numa_nodes[i].cpus, &r->numa_nodes[i].cpu_count);
    for (size_t i = 0; i < r->accelerator_count; i++)
        s_filter_cores (self, r->accelerators[i].cpus, &r->accelerators[i].cpu_count);
    s_count_cpus (self);
}

//  Keeps the lowest-index detected devices of each requested type.
static void
s_apply_detected (hpt_topology_t *self, const s_request_t *request)
{
    hpt_resources_t *r = &self->resources;
    size_t kept = 0;
    for (size_t i = 0; i < r->accelerator_count; i++) {
        long long allowed = 0, already = 0;
        for (size_t k = 0; k < request->accel_count; k++)
            if (strcmp (request->accelerators[k].type, r->accelerators[i].type) == 0)
                allowed = request->accelerators[k].count;
        for (size_t j = 0; j < kept; j++)
            if (strcmp (r->accelerators[j].type, r->accelerators[i].type) == 0) already++;
        if (already < allowed)
            r->accelerators[kept++] = r->accelerators[i];
        else
            s_free_accelerator (&r->accelerators[i]);
    }
    r->accelerator_count = kept;
}

//  Declares the requested devices on a host where none were detected
//  (at most S_MAX_ACCELERATORS in all: hpt_topology_restrict checks).
static void
s_apply_declared (hpt_topology_t *self, const s_request_t *request)
{
    unsigned gpus = 0, tpus = 0;
    for (size_t k = 0; k < request->accel_count; k++) {
        const s_accel_request_t *want = &request->accelerators[k];
        for (long long n = 0; n < want->count; n++) {
            hpt_accelerator_t *entry = s_add_accelerator (self);
            if (!entry) return;
            s_copy (entry->type, sizeof (entry->type), want->type);
            s_copy (entry->name, sizeof (entry->name), want->type);
            entry->is_tpu = want->is_tpu;
            entry->index = want->is_tpu ? tpus++ : gpus++;
            entry->declared = true;
            entry->cpus = s_cores_in (self, hwloc_topology_get_topology_cpuset (self->hwloc),
                                      &entry->cpu_count);
        }
    }
}

int
hpt_topology_restrict (hpt_topology_t *self, const char *path, hpt_error_t *error)
{
    s_request_t *request = hpt_calloc (1, sizeof (s_request_t));
    request->detected = &self->resources;
    if (s_read_resources (path, request, error) != 0) {
        free (request);
        return -1;
    }
    bool detected_none = self->resources.accelerator_count == 0;
    if (request->has_accelerators && detected_none) {
        long long declared = 0;
        for (size_t k = 0; k < request->accel_count; k++)
            declared += request->accelerators[k].count;
        if (declared > S_MAX_ACCELERATORS) {
            free (request);
            return hpt_error_set (error, HPT_E_INVALID,
                                  "%s: accelerators: %lld declared, at most %d", path, declared,
                                  S_MAX_ACCELERATORS);
        }
    }
    if (request->has_cpus) s_apply_cpus (self, (size_t)request->cpus);
    if (request->has_memory) self->resources.memory_gb = request->memory_gb;
    if (request->has_accelerators && !detected_none) s_apply_detected (self, request);
    if (request->has_accelerators && detected_none) s_apply_declared (self, request);
    free (request);
    return 0;
}

const hpt_nvml_mig_t *
hpt_topology_mig (hpt_topology_t *self, unsigned index, unsigned *gpu)
{
    const hpt_resources_t *r = &self->resources;
    for (size_t i = 0; i < r->accelerator_count; i++) {
        const hpt_accelerator_t *a = &r->accelerators[i];
        if (index >= a->mig_base && index - a->mig_base < a->mig_count) {
            *gpu = a->index;
            return &a->migs[index - a->mig_base];
        }
    }
    return NULL;
}

char *
hpt_topology_matrix_text (hpt_topology_t *self)
{
    const hpt_resources_t *r = &self->resources;
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream (&text, &length);
    if (!out) return hpt_strdup ("");
    size_t gpus = 0;
    for (size_t i = 0; i < r->accelerator_count; i++)
        gpus += !r->accelerators[i].is_tpu;
    if (!gpus) {
        fprintf (out, "No GPUs\n");
        fclose (out);
        return text;
    }
    fprintf (out, "%-8s", "");
    for (size_t j = 0; j < r->accelerator_count; j++)
        if (!r->accelerators[j].is_tpu) fprintf (out, "GPU%-5u", r->accelerators[j].index);
    fprintf (out, "%-14s%s\n", "NUMA", "CPU Affinity (cores)");
    for (size_t i = 0; i < r->accelerator_count; i++) {
        const hpt_accelerator_t *a = &r->accelerators[i];
        if (a->is_tpu) continue;
        fprintf (out, "GPU%-5u", a->index);
        for (size_t j = 0; j < r->accelerator_count; j++) {
            const hpt_accelerator_t *b = &r->accelerators[j];
            char code[8] = "?";
            if (b->is_tpu) continue;
            if (b == a)
                snprintf (code, sizeof (code), " X");
            else if (b->index < a->link_count)
                hpt_gpu_link_format (a->links[b->index], code, sizeof (code));
            fprintf (out, "%-8s", code);
        }
        char numa[16] = "N/A";
        if (a->numa_node >= 0) snprintf (numa, sizeof (numa), "%d", a->numa_node);
        fprintf (out, "%-14s", numa);
        //  Runs of consecutive cores as ranges: "0-15,32-47".
        for (size_t c = 0; c < a->cpu_count;) {
            size_t last = c;
            while (last + 1 < a->cpu_count && a->cpus[last + 1] == a->cpus[last] + 1)
                last++;
            fprintf (out, "%s%u", c ? "," : "", a->cpus[c]);
            if (last > c) fprintf (out, "-%u", a->cpus[last]);
            c = last + 1;
        }
        fprintf (out, "%s%s\n", a->mig_enabled ? "  MIG: " : "", a->mig_enabled ? a->type : "");
        for (size_t m = 0; m < a->mig_count; m++) {
            char type[96];
            if (!hpt_accel_mig_name (a->type, a->migs[m].profile, type, sizeof (type)))
                snprintf (type, sizeof (type), "%s_MIG", a->type);
            fprintf (out, "  MIG %u: %s %s\n", a->mig_base + (unsigned)m, type, a->migs[m].uuid);
        }
    }
    fprintf (out, "\nLegend:\n"
                  "  X    = Self\n"
                  "  SYS  = across NUMA nodes (the SMP interconnect)\n"
                  "  NODE = host bridges of one NUMA node\n"
                  "  PHB  = a PCIe host bridge\n"
                  "  PXB  = several PCIe bridges, no host bridge\n"
                  "  PIX  = at most one PCIe bridge (one PCIe switch)\n"
                  "  NV#  = a bonded set of # NVLinks\n");
    fclose (out);
    return text;
}
