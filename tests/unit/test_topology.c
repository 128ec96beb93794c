/*  test_topology -- agent discovery on the committed hwloc XML hosts, the
    GPU name/device-id mapping, NVML's absence, and --resources files.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hpt_nvml.h"
#include "hpt_topology.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hpt_accel.h"
#include "hpt_test_data.h"

//  Path of a file under the source tree's tests/data (static buffer).
static const char *
s_data (const char *relative)
{
    static char path[1024];
    char tests_data[512];
    snprintf (tests_data, sizeof (tests_data), "tests/data/%s", relative);
    return hpt_test_path (path, sizeof (path), tests_data);
}

static hpt_topology_t *
s_load (const char *name)
{
    char relative[256];
    snprintf (relative, sizeof (relative), "topologies/%s", name);
    hpt_error_t error;
    hpt_topology_t *topology = hpt_topology_new_from_xml (s_data (relative), &error);
    if (!topology) fprintf (stderr, "load %s: %s\n", name, error.message);
    assert_non_null (topology);
    return topology;
}

//  Asserts that cpus[] is exactly first..first+count-1.
static void
s_assert_range (const unsigned *cpus, size_t cpu_count, unsigned first, size_t count)
{
    assert_int_equal (cpu_count, count);
    for (size_t i = 0; i < count; i++)
        assert_int_equal (cpus[i], first + i);
}

static void
s_assert_gpu (const hpt_accelerator_t *a, unsigned index, const char *type, const char *bus,
              int numa, unsigned first_cpu)
{
    assert_string_equal (a->type, type);
    assert_false (a->is_tpu);
    assert_false (a->declared);
    assert_int_equal (a->index, index);
    assert_string_equal (a->pci_bus_id, bus);
    assert_int_equal (a->numa_node, numa);
    s_assert_range (a->cpus, a->cpu_count, first_cpu, 8);
}

static void
test_v100_host_a (void **state)
{
    hpt_topology_t *topology = s_load ("gpu-host-v100-a.xml");
    const hpt_resources_t *r = hpt_topology_resources (topology);
    assert_int_equal (r->cpus, 16);
    assert_int_equal (r->pus, 32);
    assert_true (r->memory_gb > 191.9 && r->memory_gb < 192.1);
    assert_int_equal (r->numa_count, 2);
    assert_int_equal (r->numa_nodes[0].index, 0);
    assert_int_equal (r->numa_nodes[1].index, 1);
    s_assert_range (r->numa_nodes[0].cpus, r->numa_nodes[0].cpu_count, 0, 8);
    s_assert_range (r->numa_nodes[1].cpus, r->numa_nodes[1].cpu_count, 8, 8);
    assert_true (r->numa_nodes[1].memory_gb > 95.9 && r->numa_nodes[1].memory_gb < 96.1);
    //  The file lists af:00.0 before 86:00.0: the index follows the bus id.
    assert_int_equal (r->accelerator_count, 4);
    s_assert_gpu (&r->accelerators[0], 0, "NVIDIA_TESLA_V100", "0000:18:00.0", 0, 0);
    s_assert_gpu (&r->accelerators[1], 1, "NVIDIA_TESLA_V100", "0000:3b:00.0", 0, 0);
    s_assert_gpu (&r->accelerators[2], 2, "NVIDIA_TESLA_V100", "0000:86:00.0", 1, 8);
    s_assert_gpu (&r->accelerators[3], 3, "NVIDIA_TESLA_V100", "0000:af:00.0", 1, 8);
    //  Name, memory and UUID from hwloc's CUDA/NVML os devices.
    assert_string_equal (r->accelerators[0].name, "Tesla V100-SXM2-16GB");
    assert_string_equal (r->accelerators[2].uuid, "GPU-2f3c7a9e-6b1d-4c1e-9a57-0d4e8f1a2b03");
    assert_true (r->accelerators[0].memory_gb > 15.7 && r->accelerators[0].memory_gb < 15.9);
    assert_string_equal (hpt_topology_discovery (topology), "xml");
    assert_null (hpt_topology_nvml_error (topology));
    hpt_topology_destroy (&topology);
    assert_null (topology);
}

static void
test_v100_host_b (void **state)
{
    hpt_topology_t *topology = s_load ("gpu-host-v100-b.xml");
    const hpt_resources_t *r = hpt_topology_resources (topology);
    assert_int_equal (r->cpus, 16);
    assert_int_equal (r->accelerator_count, 4);
    s_assert_gpu (&r->accelerators[0], 0, "NVIDIA_TESLA_V100", "0000:1a:00.0", 0, 0);
    s_assert_gpu (&r->accelerators[1], 1, "NVIDIA_TESLA_V100", "0000:3d:00.0", 0, 0);
    s_assert_gpu (&r->accelerators[2], 2, "NVIDIA_TESLA_V100", "0000:88:00.0", 1, 8);
    s_assert_gpu (&r->accelerators[3], 3, "NVIDIA_TESLA_V100", "0000:b1:00.0", 1, 8);
    //  No os devices: the PCI database name, its nominal memory, no UUID.
    assert_string_equal (r->accelerators[3].name, "GV100GL [Tesla V100 SXM2 32GB]");
    assert_true (r->accelerators[3].memory_gb > 31.9 && r->accelerators[3].memory_gb < 32.1);
    assert_string_equal (r->accelerators[3].uuid, "");
    hpt_topology_destroy (&topology);
}

static void
test_tpu_host (void **state)
{
    hpt_topology_t *topology = s_load ("tpu-host.xml");
    const hpt_resources_t *r = hpt_topology_resources (topology);
    assert_int_equal (r->cpus, 24);
    assert_int_equal (r->pus, 48);
    assert_int_equal (r->numa_count, 1);
    //  The virtio NIC next to it is not an accelerator.
    assert_int_equal (r->accelerator_count, 1);
    const hpt_accelerator_t *tpu = &r->accelerators[0];
    assert_string_equal (tpu->type, "TPU_V4");
    assert_true (tpu->is_tpu);
    assert_int_equal (tpu->index, 0);
    assert_string_equal (tpu->pci_bus_id, "0000:00:04.0");
    assert_int_equal (tpu->numa_node, 0);
    s_assert_range (tpu->cpus, tpu->cpu_count, 0, 24);
    hpt_topology_destroy (&topology);
}

static void
test_cpu_host (void **state)
{
    hpt_topology_t *topology = s_load ("cpu-host-32.xml");
    const hpt_resources_t *r = hpt_topology_resources (topology);
    assert_int_equal (r->cpus, 32);
    assert_int_equal (r->pus, 64);
    assert_int_equal (r->numa_count, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal (r->numa_nodes[i].index, i);
        s_assert_range (r->numa_nodes[i].cpus, r->numa_nodes[i].cpu_count, 8 * i, 8);
    }
    //  A NIC and a Matrox VGA (display class, not NVIDIA) are not accelerators.
    assert_int_equal (r->accelerator_count, 0);
    hpt_topology_destroy (&topology);
}

static void
test_h200_host (void **state)
{
    hpt_topology_t *topology = s_load ("gpu-host-h200.xml");
    const hpt_resources_t *r = hpt_topology_resources (topology);
    assert_int_equal (r->accelerator_count, 1);
    s_assert_gpu (&r->accelerators[0], 0, "NVIDIA_H200_141GB", "0000:c1:00.0", 1, 8);
    hpt_topology_destroy (&topology);
}

static void
test_json (void **state)
{
    hpt_topology_t *topology = s_load ("gpu-host-v100-a.xml");
    json_t *root = hpt_topology_to_json (topology);
    assert_int_equal (json_integer_value (json_object_get (root, "cpus")), 16);
    json_t *accelerators = json_object_get (root, "accelerators");
    assert_int_equal (json_array_size (accelerators), 4);
    json_t *gpu = json_array_get (accelerators, 2);
    assert_string_equal (json_string_value (json_object_get (gpu, "type")), "NVIDIA_TESLA_V100");
    assert_string_equal (json_string_value (json_object_get (gpu, "pciBusId")), "0000:86:00.0");
    assert_int_equal (json_integer_value (json_object_get (gpu, "numaNode")), 1);
    assert_int_equal (json_array_size (json_object_get (gpu, "cpus")), 8);
    assert_int_equal (json_array_size (json_object_get (root, "numaNodes")), 2);
    json_decref (root);
    char *text = hpt_topology_to_json_text (topology);
    assert_non_null (text);
    //  Short decimals, not 15.800000000000001.
    assert_non_null (strstr (text, "\"memoryGb\": 15.8,"));
    free (text);
    hpt_topology_destroy (&topology);
}

//  Real model strings from NVML (nvidia-smi) and the PCI id database.
static void
test_name_mapping (void **state)
{
    static const struct {
        const char *name;
        const char *type;
    } cases[] = {
        {"NVIDIA H200", "NVIDIA_H200_141GB"},
        {"GH100 [H200 SXM 141GB]", "NVIDIA_H200_141GB"},
        {"NVIDIA H100 80GB HBM3", "NVIDIA_H100_80GB"},
        {"NVIDIA H100 PCIe", "NVIDIA_H100_80GB"},
        {"GH100 [H100 SXM5 80GB]", "NVIDIA_H100_80GB"},
        {"NVIDIA A100-SXM4-80GB", "NVIDIA_A100_80GB"},
        {"NVIDIA A100 80GB PCIe", "NVIDIA_A100_80GB"},
        {"NVIDIA A100-SXM4-40GB", "NVIDIA_TESLA_A100"},
        {"GA100 [A100 SXM4 40GB]", "NVIDIA_TESLA_A100"},
        {"A100-PCIE-40GB", "NVIDIA_TESLA_A100"},
        {"Tesla V100-SXM2-16GB", "NVIDIA_TESLA_V100"},
        {"Tesla V100-PCIE-32GB", "NVIDIA_TESLA_V100"},
        {"Tesla V100S-PCIE-32GB", "NVIDIA_TESLA_V100"},
        {"GV100GL [Tesla V100 SXM2 16GB]", "NVIDIA_TESLA_V100"},
        {"Tesla P100-PCIE-16GB", "NVIDIA_TESLA_P100"},
        {"GP100GL [Tesla P100 SXM2 16GB]", "NVIDIA_TESLA_P100"},
        {"Tesla T4", "NVIDIA_TESLA_T4"},
        {"TU104GL [Tesla T4]", "NVIDIA_TESLA_T4"},
        {"NVIDIA L4", "NVIDIA_L4"},
        {"AD104GL [L4]", "NVIDIA_L4"},
        {"Tesla K80", "NVIDIA_TESLA_K80"},
        {"GK210GL [Tesla K80]", "NVIDIA_TESLA_K80"},
        {"Tesla P4", "NVIDIA_TESLA_P4"},
        {"GP104GL [Tesla P4]", "NVIDIA_TESLA_P4"},
        {"NVIDIA B200", "NVIDIA_B200"},
        //  Near misses: other parts whose names contain a known token.
        {"Quadro GV100", NULL},
        {"NVIDIA L40S", NULL},
        {"NVIDIA A10", NULL},
        {"NVIDIA GH200 480GB", NULL},
        {"NVIDIA RTX A4000", NULL},
        {"Tesla P40", NULL},
        {"NVIDIA T400", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        const char *type = hpt_nvml_type_for_name (cases[i].name);
        if (cases[i].type == NULL) {
            if (type) fprintf (stderr, "'%s' -> %s, expected none\n", cases[i].name, type);
            assert_null (type);
        } else {
            if (!type || strcmp (type, cases[i].type) != 0)
                fprintf (stderr, "'%s' -> %s, expected %s\n", cases[i].name, type ? type : "none",
                         cases[i].type);
            assert_non_null (type);
            assert_string_equal (type, cases[i].type);
            assert_non_null (hpt_accel_lookup (type));
        }
    }
    assert_null (hpt_nvml_type_for_name (NULL));
}

//  The type discovery gives one PCI device (class, vendor:device,
//  subsystem device, hwloc's model name or NULL) on an otherwise empty
//  host, read from a one-device hwloc XML file; NULL when it is not an
//  accelerator. Static buffer.
static const char *
s_type_of (unsigned vendor, unsigned device, unsigned subdevice, unsigned class_id,
           const char *name)
{
    static char type[HPT_TOPOLOGY_TYPE_MAX];
    char path[] = "/tmp/hpt-test-pci-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    FILE *file = fdopen (fd, "w");
    const char *set = "cpuset=\"0x1\" complete_cpuset=\"0x1\" nodeset=\"0x1\" "
                      "complete_nodeset=\"0x1\"";
    fprintf (file,
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<!DOCTYPE topology SYSTEM \"hwloc2.dtd\">\n<topology version=\"2.0\">\n"
             "<object type=\"Machine\" os_index=\"0\" %s allowed_cpuset=\"0x1\" "
             "allowed_nodeset=\"0x1\" gp_index=\"1\">\n"
             "<object type=\"Package\" os_index=\"0\" %s gp_index=\"2\">\n"
             "<object type=\"NUMANode\" os_index=\"0\" %s gp_index=\"3\" "
             "local_memory=\"1073741824\"/>\n"
             "<object type=\"Core\" os_index=\"0\" %s gp_index=\"4\">\n"
             "<object type=\"PU\" os_index=\"0\" %s gp_index=\"5\"/></object>\n"
             "<object type=\"PCIDev\" gp_index=\"6\" pci_busid=\"0000:00:04.0\" "
             "pci_type=\"%04x [%04x:%04x] [%04x:%04x] 00\">",
             set, set, set, set, set, class_id, vendor, device, vendor, subdevice);
    if (name) fprintf (file, "<info name=\"PCIDevice\" value=\"%s\"/>", name);
    fprintf (file, "</object>\n</object>\n</object>\n</topology>\n");
    fclose (file);
    hpt_error_t error;
    hpt_topology_t *topology = hpt_topology_new_from_xml (path, &error);
    if (!topology) fprintf (stderr, "%s\n", error.message);
    assert_non_null (topology);
    unlink (path);
    const hpt_resources_t *r = hpt_topology_resources (topology);
    assert_true (r->accelerator_count <= 1);
    const char *found = NULL;
    if (r->accelerator_count == 1) {
        snprintf (type, sizeof (type), "%s", r->accelerators[0].type);
        found = type;
    }
    hpt_topology_destroy (&topology);
    return found;
}

static void
test_pci_mapping (void **state)
{
    assert_string_equal (s_type_of (0x10de, 0x1db1, 0x1212, 0x0302, NULL), "NVIDIA_TESLA_V100");
    assert_string_equal (s_type_of (0x10de, 0x20b2, 0, 0x0302, NULL), "NVIDIA_A100_80GB");
    assert_string_equal (s_type_of (0x10de, 0x2335, 0, 0x0302, NULL), "NVIDIA_H200_141GB");
    assert_string_equal (s_type_of (0x10de, 0x1eb8, 0, 0x0302, NULL), "NVIDIA_TESLA_T4");
    //  Unknown id: the name decides, else a generic GPU.
    assert_string_equal (s_type_of (0x10de, 0x9999, 0, 0x0302, "NVIDIA L4"), "NVIDIA_L4");
    assert_string_equal (s_type_of (0x10de, 0x9999, 0, 0x0300, "Something new"),
                         "NVIDIA_GENERIC_GPU");
    //  NVIDIA audio function and NVSwitch bridges are not GPUs.
    assert_null (s_type_of (0x10de, 0x10f0, 0, 0x0403, NULL));
    assert_null (s_type_of (0x10de, 0x1af1, 0, 0x0680, NULL));
    //  Google: TPU generations, and Google's NIC is not one.
    assert_string_equal (s_type_of (0x1ae0, 0x0027, 0x004e, 0x0880, NULL), "TPU_V2");
    assert_string_equal (s_type_of (0x1ae0, 0x0027, 0x004f, 0x0880, NULL), "TPU_V3");
    assert_string_equal (s_type_of (0x1ae0, 0x005e, 0, 0x1200, NULL), "TPU_V4");
    assert_string_equal (s_type_of (0x1ae0, 0x0063, 0, 0x1200, NULL), "TPU_V5E");
    assert_string_equal (s_type_of (0x1ae0, 0x0062, 0, 0x1200, NULL), "TPU_V5P");
    assert_string_equal (s_type_of (0x1ae0, 0x7777, 0, 0x1200, NULL), "TPU_V4");
    assert_null (s_type_of (0x1ae0, 0x0042, 0, 0x0200, NULL));
    assert_null (s_type_of (0x8086, 0x1572, 0, 0x0200, NULL));
}

static void
test_bus_id (void **state)
{
    char out[HPT_NVML_BUSID_MAX];
    assert_true (hpt_nvml_normalize_bus_id ("00000000:3B:00.0", out, sizeof (out)));
    assert_string_equal (out, "0000:3b:00.0");
    assert_true (hpt_nvml_normalize_bus_id ("3b:00.0", out, sizeof (out)));
    assert_string_equal (out, "0000:3b:00.0");
    assert_true (hpt_nvml_normalize_bus_id ("0001:C1:1f.7", out, sizeof (out)));
    assert_string_equal (out, "0001:c1:1f.7");
    const char *bad[] = {"",
                         "zz:00.0",
                         "3b:00",
                         "3b:00.8",
                         "100:00.0",
                         "0000:3b:00.0x",
                         "0000:3b:20.0",
                         ":3b:00.0",
                         "0:0:0:3b:00.0",
                         "3b:00.",
                         "-1:00.0"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        strcpy (out, "untouched");
        assert_false (hpt_nvml_normalize_bus_id (bad[i], out, sizeof (out)));
        assert_string_equal (out, "untouched");
    }
    char small[8];
    assert_false (hpt_nvml_normalize_bus_id ("3b:00.0", small, sizeof (small)));
}

//  The CI case: no NVIDIA driver. Discovery still works from hwloc alone.
static void
test_nvml_absent (void **state)
{
    hpt_error_t error;
    setenv ("HPT_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    assert_null (hpt_nvml_new (&error));
    assert_int_equal (error.code, HPT_E_UNAVAILABLE);
    assert_non_null (strstr (error.message, "/nonexistent/libnvidia-ml.so.1"));

    //  A library that loads but is not NVML.
    setenv ("HPT_NVML_LIBRARY", "libc.so.6", 1);
    assert_null (hpt_nvml_new (&error));
    assert_non_null (strstr (error.message, "lacks NVML entry points"));
    assert_null (hpt_nvml_new (NULL));

    hpt_topology_t *topology = hpt_topology_new (&error);
    assert_non_null (topology);
    assert_string_equal (hpt_topology_discovery (topology), "hwloc");
    assert_non_null (strstr (hpt_topology_nvml_error (topology), "lacks NVML entry points"));
    const hpt_resources_t *r = hpt_topology_resources (topology);
    assert_true (r->cpus >= 1);
    assert_true (r->pus >= r->cpus);
    assert_true (r->memory_gb > 0);
    assert_true (r->numa_count >= 1);
    hpt_topology_destroy (&topology);
    unsetenv ("HPT_NVML_LIBRARY");

    assert_int_equal (hpt_nvml_count (NULL), 0);
    assert_null (hpt_nvml_gpu (NULL, 0));
}

static void
test_bad_xml (void **state)
{
    hpt_error_t error;
    assert_null (hpt_topology_new_from_xml ("/nonexistent/host.xml", &error));
    assert_int_equal (error.code, HPT_E_NOT_FOUND);
    assert_non_null (strstr (error.message, "/nonexistent/host.xml"));

    char path[] = "/tmp/hpt-test-topology-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    FILE *file = fdopen (fd, "w");
    fputs ("<?xml version=\"1.0\"?><topology version=\"2.0\"><object type=\"Bogus\"/>", file);
    fclose (file);
    assert_null (hpt_topology_new_from_xml (path, &error));
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_non_null (strstr (error.message, "not a valid hwloc XML topology"));
    unlink (path);
}

static void
test_restrict (void **state)
{
    hpt_topology_t *topology = s_load ("gpu-host-v100-a.xml");
    hpt_error_t error;
    assert_int_equal (
        hpt_topology_restrict (topology, s_data ("resources/restrict-v100.yaml"), &error), 0);
    const hpt_resources_t *r = hpt_topology_resources (topology);
    assert_int_equal (r->cpus, 8);
    assert_int_equal (r->pus, 16);
    assert_true (r->memory_gb > 63.9 && r->memory_gb < 64.1);
    assert_int_equal (r->accelerator_count, 2);
    s_assert_gpu (&r->accelerators[0], 0, "NVIDIA_TESLA_V100", "0000:18:00.0", 0, 0);
    s_assert_gpu (&r->accelerators[1], 1, "NVIDIA_TESLA_V100", "0000:3b:00.0", 0, 0);
    assert_int_equal (r->numa_nodes[1].cpu_count, 0);

    //  Binding: core 0 and 1 are PUs 0-3 in this 2-thread topology; a
    //  withdrawn core cannot be bound.
    unsigned cores[] = {0, 1};
    char *list = hpt_topology_cpu_list (topology, cores, 2);
    assert_string_equal (list, "0-3");
    free (list);
    unsigned withdrawn[] = {8};
    assert_null (hpt_topology_cpu_list (topology, withdrawn, 1));
    unsigned out_of_range[] = {999};
    assert_null (hpt_topology_cpu_list (topology, out_of_range, 1));
    hpt_topology_destroy (&topology);
}

static void
test_declare (void **state)
{
    hpt_error_t error;
    //  Declaring is allowed where nothing was detected...
    hpt_topology_t *topology = s_load ("cpu-host-32.xml");
    assert_int_equal (
        hpt_topology_restrict (topology, s_data ("resources/declare-t4.yaml"), &error), 0);
    const hpt_resources_t *r = hpt_topology_resources (topology);
    assert_int_equal (r->cpus, 4);
    assert_int_equal (r->accelerator_count, 2);
    for (unsigned i = 0; i < 2; i++) {
        assert_string_equal (r->accelerators[i].type, "NVIDIA_TESLA_T4");
        assert_true (r->accelerators[i].declared);
        assert_int_equal (r->accelerators[i].index, i);
        assert_int_equal (r->accelerators[i].numa_node, -1);
        assert_string_equal (r->accelerators[i].pci_bus_id, "");
        s_assert_range (r->accelerators[i].cpus, r->accelerators[i].cpu_count, 0, 4);
    }
    hpt_topology_destroy (&topology);

    //  ... but not on a host with detected accelerators of another type.
    topology = s_load ("gpu-host-v100-a.xml");
    assert_int_equal (
        hpt_topology_restrict (topology, s_data ("resources/declare-t4.yaml"), &error), -1);
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_non_null (strstr (error.message, "declare-t4.yaml:5:5: accelerators[0]: 2 "
                                            "NVIDIA_TESLA_T4 requested but 0 detected"));
    //  Nothing changed.
    assert_int_equal (hpt_topology_resources (topology)->cpus, 16);
    assert_int_equal (hpt_topology_resources (topology)->accelerator_count, 4);
    hpt_topology_destroy (&topology);
}

static void
test_restrict_errors (void **state)
{
    hpt_topology_t *topology = s_load ("gpu-host-v100-a.xml");
    hpt_error_t error;
    char *copy = strdup (s_data ("resources/bad-fields.yaml"));
    assert_int_equal (hpt_topology_restrict (topology, copy, &error), -1);
    assert_int_equal (error.code, HPT_E_INVALID);
    char *expected = NULL;
    assert_true (asprintf (&expected,
                           "%s:1:7: cpus: must be at least 1, got -3\n"
                           "%s:2:11: memoryGb: expected a number, got 'lots'\n"
                           "%s:3:1: gpus: unknown field (did you mean 'cpus'?)\n"
                           "%s:5:5: accelerators[0].count: required field is missing\n",
                           copy, copy, copy, copy) > 0);
    assert_string_equal (error.message, expected);
    free (expected);
    free (copy);

    assert_int_equal (
        hpt_topology_restrict (topology, s_data ("resources/bad-too-many.yaml"), &error), -1);
    assert_non_null (strstr (
        error.message,
        "bad-too-many.yaml:2:5: accelerators[0]: 8 NVIDIA_TESLA_V100 requested but 4 detected"));
    assert_int_equal (
        hpt_topology_restrict (topology, s_data ("resources/bad-unknown-type.yaml"), &error), -1);
    assert_non_null (strstr (error.message, "bad-unknown-type.yaml:3:11: accelerators[0].type: "
                                            "unknown accelerator type"));
    assert_int_equal (
        hpt_topology_restrict (topology, s_data ("resources/bad-syntax.yaml"), &error), -1);
    assert_non_null (strstr (error.message, "bad-syntax.yaml:3:1: invalid YAML"));
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_int_equal (hpt_topology_restrict (topology, "/nonexistent/resources.yaml", &error), -1);
    assert_int_equal (error.code, HPT_E_NOT_FOUND);
    assert_non_null (strstr (error.message, "/nonexistent/resources.yaml"));
    assert_int_equal (hpt_topology_restrict (topology, "/nonexistent/resources.yaml", NULL), -1);
    //  None of it changed anything.
    const hpt_resources_t *r = hpt_topology_resources (topology);
    assert_int_equal (r->cpus, 16);
    assert_int_equal (r->accelerator_count, 4);
    hpt_topology_destroy (&topology);
}

//  Writes text to a fresh temporary file named in path (a mkstemp template).
static void
s_write_temp (char *path, const char *text)
{
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    FILE *file = fdopen (fd, "w");
    fputs (text, file);
    fclose (file);
}

static void
test_restrict_limits (void **state)
{
    //  Declared devices are bounded in all, not only per entry; nothing
    //  is declared when they are too many.
    hpt_topology_t *topology = s_load ("cpu-host-32.xml");
    char path[] = "/tmp/hpt-test-resources-XXXXXX";
    s_write_temp (path, "accelerators:\n"
                        "  - {type: NVIDIA_TESLA_T4, count: 1000}\n"
                        "  - {type: NVIDIA_TESLA_V100, count: 100}\n");
    hpt_error_t error;
    assert_int_equal (hpt_topology_restrict (topology, path, &error), -1);
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_non_null (strstr (error.message, "accelerators: 1100 declared, at most 1024"));
    assert_int_equal (hpt_topology_resources (topology)->accelerator_count, 0);
    unlink (path);

    //  More problems than the message holds: whole lines, then a count of
    //  the rest.
    char text[8192] = "";
    for (int i = 0; i < 100; i++)
        snprintf (text + strlen (text), sizeof (text) - strlen (text), "unknown_%02d: 1\n", i);
    char many[] = "/tmp/hpt-test-resources-XXXXXX";
    s_write_temp (many, text);
    assert_int_equal (hpt_topology_restrict (topology, many, &error), -1);
    assert_int_equal (error.code, HPT_E_INVALID);
    size_t length = strlen (error.message);
    assert_true (length < sizeof (error.message));
    assert_int_equal (error.message[length - 1], '\n');
    assert_non_null (strstr (error.message, "unknown_00: unknown field"));
    assert_non_null (strstr (error.message, " more problems)\n"));
    assert_null (strstr (error.message, "unknown_99"));
    unlink (many);
    hpt_topology_destroy (&topology);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_v100_host_a),     cmocka_unit_test (test_v100_host_b),
        cmocka_unit_test (test_tpu_host),        cmocka_unit_test (test_cpu_host),
        cmocka_unit_test (test_h200_host),       cmocka_unit_test (test_json),
        cmocka_unit_test (test_name_mapping),    cmocka_unit_test (test_pci_mapping),
        cmocka_unit_test (test_bus_id),          cmocka_unit_test (test_nvml_absent),
        cmocka_unit_test (test_bad_xml),         cmocka_unit_test (test_restrict),
        cmocka_unit_test (test_declare),         cmocka_unit_test (test_restrict_errors),
        cmocka_unit_test (test_restrict_limits),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
