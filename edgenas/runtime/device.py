"""Who measured: a fingerprint of the device and software, read from /proc, sysfs and the tools present.

Board-side safe (stdlib + optional numpy/onnxruntime/tensorrt version lookups). Every probe is
best-effort: a field that cannot be read is left out rather than guessed.
"""

import glob
import os
import platform
import re
import shutil
import subprocess
import sys
from typing import Any, Dict, List, Optional


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").replace("\x00", "").strip()
    except OSError:
        return None


def _run(cmd: List[str], timeout: float = 5.0) -> Optional[str]:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_info() -> Dict[str, Any]:
    info: Dict[str, Any] = {"machine": platform.machine(), "logical_cores": os.cpu_count()}
    text = _read("/proc/cpuinfo") or ""
    m = re.search(r"^model name\s*:\s*(.+)$", text, re.M) or re.search(r"^Hardware\s*:\s*(.+)$", text, re.M)
    if m:
        info["model"] = m.group(1).strip()
    flags = re.search(r"^(flags|Features)\s*:\s*(.+)$", text, re.M)
    if flags:
        wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "fma", "neon", "asimd", "asimddp", "sve")
        info["isa"] = sorted(set(flags.group(2).split()) & set(wanted))
    govs = {g for g in (_read(p) for p in glob.glob("/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor")) if g}
    if govs:
        info["governor"] = sorted(govs)
    freqs = [_read(p) for p in glob.glob("/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq")]
    freqs = [int(f) for f in freqs if f and f.isdigit()]
    if freqs:
        info["cur_freq_mhz"] = [min(freqs) // 1000, max(freqs) // 1000]
    try:
        info["affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    return info


def jetson_info() -> Dict[str, Any]:
    info: Dict[str, Any] = {}
    model = _read("/proc/device-tree/model")
    if model:
        info["model"] = model
    release = _read("/etc/nv_tegra_release")
    if release:
        m = re.search(r"R(\d+).*REVISION:\s*([\d.]+)", release)
        info["l4t"] = "{}.{}".format(m.group(1), m.group(2)) if m else release.splitlines()[0]
    mode = _run(["nvpmodel", "-q"])
    if mode:
        info["nvpmodel"] = " ".join(mode.split())
    gpu_freq = glob.glob("/sys/devices/gpu.0/devfreq/*/cur_freq") + glob.glob("/sys/devices/platform/*gpu*/devfreq/*/cur_freq")
    if gpu_freq:
        info["gpu_cur_freq_hz"] = _read(gpu_freq[0])
        mn, mx = _read(gpu_freq[0].replace("cur_freq", "min_freq")), _read(gpu_freq[0].replace("cur_freq", "max_freq"))
        info["gpu_clock_locked"] = bool(mn and mx and mn == mx)
    temps = {}
    for zone in glob.glob("/sys/class/thermal/thermal_zone*"):
        name, temp = _read(zone + "/type"), _read(zone + "/temp")
        if name and temp and temp.lstrip("-").isdigit():
            temps[name] = int(temp) / 1000.0
    if temps:
        info["temps_c"] = temps
    return info


def nvidia_smi() -> Optional[Dict[str, Any]]:
    out = _run(["nvidia-smi", "--query-gpu=name,driver_version,compute_cap,clocks.sm,clocks.max.sm,power.limit,"
                "clocks_throttle_reasons.active", "--format=csv,noheader"])
    if not out:
        return None
    parts = [p.strip() for p in out.splitlines()[0].split(",")]
    keys = ("name", "driver", "compute_capability", "sm_clock", "sm_clock_max", "power_limit", "throttle_reasons")
    return dict(zip(keys, parts))


def cuda_version() -> Optional[str]:
    """The CUDA toolkit version from /usr/local/cuda (JetPack and x86 installs), if present."""
    text = _read("/usr/local/cuda/version.json")
    if text:
        m = re.search(r'"cuda"\s*:\s*\{[^}]*"version"\s*:\s*"([\d.]+)"', text)
        if m:
            return m.group(1)
    text = _read("/usr/local/cuda/version.txt")
    m = re.search(r"([\d]+\.[\d.]+)", text or "")
    return m.group(1) if m else None


def software_versions() -> Dict[str, Any]:
    out: Dict[str, Any] = {"python": platform.python_version()}
    for mod in ("numpy", "onnxruntime", "onnx", "tensorrt", "torch"):
        m = sys.modules.get(mod)
        if m is None and mod in ("numpy", "onnxruntime", "tensorrt"):
            try:
                m = __import__(mod)
            except Exception:
                m = None
        if m is not None:
            out[mod] = getattr(m, "__version__", "unknown")
    try:
        from .._version import __version__
        out["edgenas"] = __version__
    except ImportError:
        pass
    return out


def fingerprint() -> Dict[str, Any]:
    fp: Dict[str, Any] = {"os": platform.platform(),
                          "cpu": cpu_info()}
    jet = jetson_info()
    if jet.get("model") or jet.get("l4t"):
        fp["jetson"] = jet
    smi = nvidia_smi()
    if smi:
        fp["gpu"] = smi
    cuda = cuda_version()
    if cuda:
        fp["cuda"] = cuda
    return fp


def stable_fingerprint() -> Dict[str, Any]:
    """The fields of ``fingerprint()`` that identify a machine's speed class and do not move from minute to
    minute (no clocks or temperatures): a cache key for "was this checked on this machine"."""
    cpu = cpu_info()
    fp: Dict[str, Any] = {k: cpu.get(k) for k in ("machine", "model", "isa", "logical_cores")}
    smi = nvidia_smi()
    if smi:
        fp["gpu"] = {k: smi.get(k) for k in ("name", "compute_capability", "driver")}
    jet = jetson_info()
    if jet.get("model"):
        fp["jetson"] = {k: jet.get(k) for k in ("model", "l4t", "nvpmodel")}
    fp["software"] = _installed(("onnxruntime", "onnxruntime-gpu", "tensorrt", "numpy"))  # not what happens to be imported
    return fp


def _installed(dists) -> Dict[str, str]:
    try:
        from importlib import metadata
    except ImportError:  # Python 3.7
        return {}
    out = {}
    for d in dists:
        try:
            out[d] = metadata.version(d)
        except Exception:
            pass
    return out
