"""hptagent --print-topology on the committed hwloc XML hosts, on this
machine, and with good and bad --resources files."""

import json
import os
import re
import subprocess

import pytest

SOURCE = os.environ.get("HPT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("HPT_BIN_DIR", os.path.join(SOURCE, "build", "bin"))
AGENT = os.path.join(BIN, "hptagent")
TOPOLOGIES = os.path.join(SOURCE, "tests", "data", "topologies")
RESOURCES = os.path.join(SOURCE, "tests", "data", "resources")


def run(*args, env=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([AGENT, *args], capture_output=True, text=True, timeout=60, env=full_env)


def topology(name, *extra):
    result = run("--print-topology", "--topology", os.path.join(TOPOLOGIES, name), *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def gpus(doc):
    return [(a["index"], a["type"], a["pciBusId"], a["numaNode"]) for a in doc["accelerators"]]


def test_gpu_host_a():
    doc = topology("gpu-host-v100-a.xml")
    assert doc["cpus"] == 16 and doc["pus"] == 32
    assert doc["memoryGb"] == pytest.approx(192.0)
    assert [n["index"] for n in doc["numaNodes"]] == [0, 1]
    assert doc["numaNodes"][0]["cpus"] == list(range(0, 8))
    assert doc["numaNodes"][1]["cpus"] == list(range(8, 16))
    assert gpus(doc) == [
        (0, "NVIDIA_TESLA_V100", "0000:18:00.0", 0),
        (1, "NVIDIA_TESLA_V100", "0000:3b:00.0", 0),
        (2, "NVIDIA_TESLA_V100", "0000:86:00.0", 1),
        (3, "NVIDIA_TESLA_V100", "0000:af:00.0", 1),
    ]
    first = doc["accelerators"][0]
    assert first["name"] == "Tesla V100-SXM2-16GB"
    assert first["uuid"] == "GPU-2f3c7a9e-6b1d-4c1e-9a57-0d4e8f1a2b01"
    assert first["memoryGb"] == pytest.approx(15.8)
    assert first["cpus"] == list(range(0, 8))
    assert doc["accelerators"][3]["cpus"] == list(range(8, 16))
    assert doc["discovery"] == "xml"


def test_gpu_host_b_has_other_bus_ids():
    doc = topology("gpu-host-v100-b.xml")
    assert doc["cpus"] == 16
    assert gpus(doc) == [
        (0, "NVIDIA_TESLA_V100", "0000:1a:00.0", 0),
        (1, "NVIDIA_TESLA_V100", "0000:3d:00.0", 0),
        (2, "NVIDIA_TESLA_V100", "0000:88:00.0", 1),
        (3, "NVIDIA_TESLA_V100", "0000:b1:00.0", 1),
    ]
    assert doc["accelerators"][0]["uuid"] is None
    assert doc["accelerators"][0]["memoryGb"] == pytest.approx(32.0)
    bus_a = {a["pciBusId"] for a in topology("gpu-host-v100-a.xml")["accelerators"]}
    assert bus_a.isdisjoint({a["pciBusId"] for a in doc["accelerators"]})


def test_tpu_host():
    doc = topology("tpu-host.xml")
    assert doc["cpus"] == 24
    assert gpus(doc) == [(0, "TPU_V4", "0000:00:04.0", 0)]
    assert doc["accelerators"][0]["cpus"] == list(range(24))


def test_cpu_host():
    doc = topology("cpu-host-32.xml")
    assert doc["cpus"] == 32 and doc["pus"] == 64
    assert len(doc["numaNodes"]) == 4
    assert doc["accelerators"] == []


def test_h200_host():
    doc = topology("gpu-host-h200.xml")
    assert gpus(doc) == [(0, "NVIDIA_H200_141GB", "0000:c1:00.0", 1)]
    assert doc["accelerators"][0]["cpus"] == list(range(8, 16))


def test_restrict_and_declare():
    doc = topology("gpu-host-v100-b.xml", "--resources", os.path.join(RESOURCES, "restrict-v100.yaml"))
    assert doc["cpus"] == 8 and doc["memoryGb"] == pytest.approx(64.0)
    assert [a["pciBusId"] for a in doc["accelerators"]] == ["0000:1a:00.0", "0000:3d:00.0"]
    doc = topology("cpu-host-32.xml", "--resources", os.path.join(RESOURCES, "declare-t4.yaml"))
    assert [(a["type"], a["index"], a.get("declared")) for a in doc["accelerators"]] == [
        ("NVIDIA_TESLA_T4", 0, True),
        ("NVIDIA_TESLA_T4", 1, True),
    ]
    assert doc["accelerators"][0]["pciBusId"] is None and doc["accelerators"][0]["numaNode"] is None


def test_bad_topology_file(tmp_path):
    result = run("--print-topology", "--topology", "/nonexistent/host.xml")
    assert result.returncode != 0
    assert "/nonexistent/host.xml" in result.stderr and result.stdout == ""
    bad = tmp_path / "bad.xml"
    bad.write_text("<topology version='2.0'><object type='Nonsense'/>")
    result = run("--print-topology", "--topology", str(bad))
    assert result.returncode != 0
    assert "bad.xml: not a valid hwloc XML topology" in result.stderr
    result = run("--print-topology", "--topology")
    assert result.returncode == 2 and "needs a file name" in result.stderr


@pytest.mark.parametrize(
    "name,where",
    [
        ("bad-fields.yaml", ["1:7: cpus:", "2:11: memoryGb:", "3:1: gpus:", "5:5: accelerators[0].count:"]),
        ("bad-too-many.yaml", ["2:5: accelerators[0]: 8 NVIDIA_TESLA_V100 requested but 4 detected"]),
        ("bad-unknown-type.yaml", ["3:11: accelerators[0].type: unknown accelerator type"]),
        ("bad-syntax.yaml", ["3:1: invalid YAML"]),
    ],
)
def test_bad_resources(name, where):
    path = os.path.join(RESOURCES, name)
    result = run("--print-topology", "--topology", os.path.join(TOPOLOGIES, "gpu-host-v100-a.xml"),
                 "--resources", path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(where)
    for line, expected in zip(lines, where):
        assert line.startswith(path + ":")
        assert re.match(r"^.*:\d+:\d+: ", line)
        assert expected in line


def test_live_machine():
    # NVML pointed at a missing file: the CI case, discovery from hwloc alone.
    result = run("--print-topology", env={"HPT_NVML_LIBRARY": "/nonexistent/libnvidia-ml.so.1"})
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["cpus"] >= 1 and doc["pus"] >= doc["cpus"]
    assert doc["memoryGb"] > 0
    assert len(doc["numaNodes"]) >= 1
    assert doc["discovery"] == "hwloc"
    # The machine as it is (NVML used when present).
    result = run("--print-topology")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cpus"] == doc["cpus"]


def test_help_mentions_flags():
    result = run("--help")
    assert result.returncode == 0
    for flag in ("--print-topology", "--topology", "--resources", "HPT_NVML_LIBRARY"):
        assert flag in result.stdout


# A stand-in for libnvidia-ml.so.1 with NVML's entry points and layouts:
# two H200s, the second in MIG mode with two instances in slots 0 and 2.
FAKE_NVML = r"""
#include <stdio.h>
#include <string.h>
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { char busIdLegacy[16]; unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
                 char busId[32]; } nvmlPciInfo_t;
static int gpus[2], migs[3];
static int initialized;
int nvmlInit_v2 (void) { initialized = 1; return 0; }
int nvmlShutdown (void) { initialized = 0; return 0; }
const char *nvmlErrorString (int rc) { return "fake error"; }
int nvmlDeviceGetCount_v2 (unsigned *n) { if (!initialized) return 1; *n = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2 (unsigned i, void **h) { if (i > 1) return 2; *h = &gpus[i]; return 0; }
static int gpu_of (void *h) { return h == &gpus[0] ? 0 : h == &gpus[1] ? 1 : -1; }
static int mig_of (void *h) { for (int i = 0; i < 3; i++) if (h == &migs[i]) return i; return -1; }
int nvmlDeviceGetName (void *h, char *s, unsigned n) {
    if (mig_of (h) >= 0) snprintf (s, n, "NVIDIA H200 MIG 3g.71gb"); else snprintf (s, n, "NVIDIA H200");
    return 0; }
int nvmlDeviceGetUUID (void *h, char *s, unsigned n) {
    if (mig_of (h) >= 0) snprintf (s, n, "MIG-0000000%d-aaaa-bbbb-cccc-dddddddddddd", mig_of (h));
    else snprintf (s, n, "GPU-1111111%d-2222-3333-4444-555555555555", gpu_of (h));
    return 0; }
int nvmlDeviceGetMemoryInfo (void *h, nvmlMemory_t *m) {
    m->total = mig_of (h) >= 0 ? 71ULL << 30 : 143771ULL << 20; m->free = m->total; m->used = 0; return 0; }
int nvmlDeviceGetPciInfo_v3 (void *h, nvmlPciInfo_t *p) {
    memset (p, 0, sizeof (*p));
    snprintf (p->busId, sizeof (p->busId), "00000000:%s:00.0", gpu_of (h) ? "DB" : "C1");
    p->pciDeviceId = 0x233510de; return 0; }
int nvmlDeviceGetMigMode (void *h, unsigned *cur, unsigned *pend) { *cur = *pend = gpu_of (h) == 1; return 0; }
int nvmlDeviceGetMaxMigDeviceCount (void *h, unsigned *n) { *n = gpu_of (h) == 1 ? 3 : 0; return 0; }
int nvmlDeviceGetMigDeviceHandleByIndex (void *h, unsigned i, void **m) {
    if (gpu_of (h) != 1 || i > 2 || i == 1) return 6; *m = &migs[i]; return 0; }
"""


def fake_nvml(tmp_path):
    source = tmp_path / "fake_nvml.c"
    source.write_text(FAKE_NVML)
    library = tmp_path / "libnvidia-ml.so.1"
    compiled = subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source)],
                              capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
    return library


def test_xml_host_merged_with_fake_nvml(tmp_path):
    # NVML's facts override hwloc's for the GPU at the same bus id; locality
    # stays hwloc's. A GPU only NVML sees is added after it, without locality.
    library = fake_nvml(tmp_path)
    result = run("--print-topology", "--topology", os.path.join(TOPOLOGIES, "gpu-host-h200.xml"),
                 env={"HPT_NVML_LIBRARY": str(library)})
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["discovery"] == "xml+nvml"
    assert gpus(doc) == [
        (0, "NVIDIA_H200_141GB", "0000:c1:00.0", 1),
        (1, "NVIDIA_H200_141GB", "0000:db:00.0", None),
    ]
    merged, extra = doc["accelerators"]
    assert merged["name"] == "NVIDIA H200"
    assert merged["uuid"] == "GPU-11111110-2222-3333-4444-555555555555"
    assert merged["memoryGb"] == pytest.approx(140.4)
    assert merged["cpus"] == list(range(8, 16))
    assert extra["cpus"] == list(range(16))
    assert len(extra["mig"]) == 2


def test_live_machine_with_fake_nvml(tmp_path):
    library = fake_nvml(tmp_path)
    result = run("--print-topology", env={"HPT_NVML_LIBRARY": str(library)})
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["discovery"] == "hwloc+nvml"
    fake = {a["pciBusId"]: a for a in doc["accelerators"] if a["pciBusId"] in ("0000:c1:00.0", "0000:db:00.0")}
    assert sorted(fake) == ["0000:c1:00.0", "0000:db:00.0"]
    first, second = fake["0000:c1:00.0"], fake["0000:db:00.0"]
    assert first["type"] == "NVIDIA_H200_141GB" and first["name"] == "NVIDIA H200"
    assert first["uuid"] == "GPU-11111110-2222-3333-4444-555555555555"
    assert first["memoryGb"] == pytest.approx(140.4)
    assert first["index"] < second["index"]
    assert "mig" not in first
    assert [m["uuid"] for m in second["mig"]] == [
        "MIG-00000000-aaaa-bbbb-cccc-dddddddddddd",
        "MIG-00000002-aaaa-bbbb-cccc-dddddddddddd",
    ]
    assert second["mig"][0]["memoryGb"] == pytest.approx(71.0)
    # hwloc of this machine has no such device: no locality, every core local.
    if first["numaNode"] is None:
        assert first["cpus"] == list(range(doc["cpus"]))


def test_tpu_vm_chips_from_sysfs(tmp_path):
    """TPU chips that only sysfs lists (bound to vfio-pci, no /dev/accel,
    not in hwloc's view): found by vendor and device id, with the chip
    type; a Google NIC is not a TPU."""
    devices = tmp_path / "bus" / "pci" / "devices"
    chips = {"0000:00:04.0": ("0x0063", "0x120000"), "0000:00:05.0": ("0x0063", "0x120000"),
             "0000:00:06.0": ("0x0062", "0x120000"), "0000:00:07.0": ("0x0042", "0x020000")}
    for bus, (device, klass) in chips.items():
        d = devices / bus
        d.mkdir(parents=True)
        (d / "vendor").write_text("0x1ae0\n")
        (d / "device").write_text(device + "\n")
        (d / "subsystem_device").write_text("0x0000\n")
        (d / "class").write_text(klass + "\n")
    result = run("--print-topology", env={"HPT_SYSFS_ROOT": str(tmp_path),
                                          "HPT_NVML_LIBRARY": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    tpus = [(a["index"], a["type"], a["pciBusId"]) for a in json.loads(result.stdout)["accelerators"]
            if a["type"].startswith("TPU")]
    assert tpus == [(0, "TPU_V5E", "0000:00:04.0"), (1, "TPU_V5E", "0000:00:05.0"),
                    (2, "TPU_V5P", "0000:00:06.0")], tpus
