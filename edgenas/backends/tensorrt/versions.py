"""Which TensorRT / numpy / CUDA / Python combinations are known to break, checked before anything runs
(``edgenas doctor``), and the one-line error that any raw exception from the TensorRT layer becomes.
Pure Python, board side (Python 3.8), testable without TensorRT.

The facts behind the rules (sources in the README's TensorRT section):
- TensorRT 8.5.1/8.5.2 ``trt.nptype`` uses ``np.bool``, removed in numpy 1.24 (fixed in 8.5.3). edgenas
  maps dtypes itself (dtypes.py), but NVIDIA's samples and Polygraphy still call it.
- NVIDIA builds the TensorRT Python bindings against numpy 1.x (python/requirements.txt of every release
  branch through 11.1: numpy 1.23.x, 1.26.4 on Python 3.12); TensorRT 8.x predates numpy 2 entirely.
- JetPack 5 ships TensorRT 8.5 for Python 3.8, JetPack 6 TensorRT 10.3 for Python 3.10 (apt packages).
- No cuda-python release exists for CUDA 11.4 (the oldest is 11.5.0); a cuda-python newer than the
  driver's major CUDA fails with cudaErrorInsufficientDriver (35). The default binding is the board's
  own libcudart, which always matches.
"""

import contextlib
import os
import platform
import re
import sys
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

from ...errors import EdgenasError

# The board-side install line per platform; the README's "Deploy with TensorRT" section shows the same lines.
INSTALL = {
    "jetpack5": 'sudo apt-get install -y python3-libnvinfer python3-pip && python3 -m pip install "numpy>=1.20,<1.24" '
                '"onnx<1.17" "onnxruntime<1.20" pyyaml tqdm && python3 -m pip install --no-deps .',
    "jetpack6": 'sudo apt-get install -y python3-libnvinfer python3-pip && python3 -m pip install "numpy>=1.21,<2" onnx '
                'onnxruntime pyyaml tqdm && python3 -m pip install --no-deps .',
    "x86": 'python3 -m pip install "tensorrt-cu12>=10,<11" "numpy>=1.21,<2" onnx onnxruntime pyyaml tqdm && '
           'python3 -m pip install --no-deps .',
}
NUMPY_PIN = {"jetpack5": '"numpy>=1.20,<1.24"', "jetpack6": '"numpy>=1.21,<2"', "x86": '"numpy>=1.21,<2"'}
PYTHON_OF = {"jetpack5": (3, 8), "jetpack6": (3, 10)}  # what JetPack's python3-libnvinfer is built for


@dataclass
class VersionIssue:
    status: str  # fail | warn
    detail: str
    fix: str


def vtuple(v: Optional[str]) -> Tuple[int, ...]:
    """(8, 5, 2, 2) for '8.5.2.2', (12, 6, 2) for '12.6.2.post1'; () for None or garbage."""
    out = []
    for part in str(v or "").split("."):
        digits = re.match(r"\d+", part)
        if not digits:
            break
        out.append(int(digits.group(0)))
    return tuple(out)


def platform_kind(tegra_release: str = "/etc/nv_tegra_release") -> str:
    """jetpack5 (L4T R35), jetpack6 (L4T R36+), jetpack-old (R32 and older) or x86 (anything else with a
    driver: x86_64 or an SBSA server)."""
    try:
        with open(tegra_release) as f:
            text = f.read()
    except OSError:
        return "x86"
    m = re.search(r"R(\d+)", text)
    release = int(m.group(1)) if m else 0
    return "jetpack5" if release == 35 else "jetpack6" if release >= 36 else "jetpack-old"


def _dist_version(names) -> Optional[str]:
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        return None
    for name in names:
        try:
            return metadata.version(name)
        except Exception:  # PackageNotFoundError, or a broken dist-info
            continue
    return None


def _wheel_flavour() -> Optional[str]:
    """'cu12' / 'cu11' where TensorRT came from NVIDIA's pip wheels (None for apt or tar installs)."""
    for cu in ("cu12", "cu11"):
        if _dist_version(("tensorrt-{}-bindings".format(cu), "tensorrt_{}_bindings".format(cu))):
            return cu
    return None


def installed_versions(tegra_release: str = "/etc/nv_tegra_release") -> Dict[str, Optional[str]]:
    """Versions read from package metadata, without importing TensorRT or starting CUDA."""
    import numpy as np

    trt = sys.modules.get("tensorrt")
    return {"python": platform.python_version(), "numpy": np.__version__,
            "tensorrt": getattr(trt, "__version__", None) or _dist_version(
                ("tensorrt", "tensorrt-cu12", "tensorrt-cu11", "tensorrt-cu12-bindings", "tensorrt_cu12_bindings")),
            "tensorrt_wheel": _wheel_flavour(),
            "cuda_python": _dist_version(("cuda-python", "cuda-bindings")),
            "cuda_binding": os.environ.get("EDGENAS_CUDA", "cudart"), "platform": platform_kind(tegra_release)}


def combination_issues(v: Dict[str, Optional[str]], driver_cuda: Optional[str] = None) -> List[VersionIssue]:
    """Known-bad combinations in ``v`` (as installed_versions gives) with the board's driver CUDA version
    (``'11.4'``; None when unknown)."""
    out: List[VersionIssue] = []
    trt, npv, kind = vtuple(v.get("tensorrt")), vtuple(v.get("numpy")), v.get("platform") or "x86"
    pin = NUMPY_PIN.get(kind, NUMPY_PIN["x86"])
    if trt and trt < (8, 5):
        out.append(VersionIssue("fail", "TensorRT {} is older than edgenas supports (8.5, JetPack 5.1)".format(v["tensorrt"]),
                                "upgrade JetPack/TensorRT: " + INSTALL.get(kind, INSTALL["x86"])))
    if (8, 5) <= trt[:2] and trt[:3] < (8, 5, 3) and npv[:2] >= (1, 24):
        out.append(VersionIssue("warn", "TensorRT {} with numpy {}: its trt.nptype uses np.bool, removed in numpy 1.24 "
                                "(edgenas maps dtypes itself; NVIDIA's samples and Polygraphy fail)".format(
                                    v["tensorrt"], v["numpy"]), 'python3 -m pip install "numpy>=1.20,<1.24"'))
    if npv and npv[0] >= 2 and trt:
        built = "TensorRT 8.x predates numpy 2" if trt[0] < 10 else \
            "NVIDIA builds the TensorRT bindings against numpy 1.x (python/requirements.txt)"
        out.append(VersionIssue("fail" if trt[0] < 10 else "warn", "TensorRT {} with numpy {}: {}".format(
            v["tensorrt"], v["numpy"], built), "python3 -m pip install " + pin))
    want_py = PYTHON_OF.get(kind)
    py = vtuple(v.get("python"))[:2]
    if want_py and py and py != want_py and not trt:
        out.append(VersionIssue("warn", "{} ships TensorRT's Python bindings for Python {}.{}; this is Python {}".format(
            kind.replace("jetpack", "JetPack "), want_py[0], want_py[1], v.get("python")),
            "run edgenas with /usr/bin/python3 ({}.{})".format(*want_py)))
    drv = vtuple(driver_cuda)
    if v.get("cuda_binding") == "cuda-python":
        cp = vtuple(v.get("cuda_python"))
        if not cp:
            out.append(VersionIssue("fail", "EDGENAS_CUDA=cuda-python but cuda-python is not installed",
                                    "unset EDGENAS_CUDA (the board's own libcudart needs no package)"))
        elif drv and cp[0] != drv[0]:
            out.append(VersionIssue("fail", "cuda-python {} needs a CUDA {} driver; this driver is CUDA {} (error 35 at "
                                    "first use)".format(v["cuda_python"], cp[0], driver_cuda), cuda_python_fix(kind)))
        elif drv and cp[:2] > drv[:2]:
            out.append(VersionIssue("warn", "cuda-python {} is newer than the driver's CUDA {} (minor version "
                                    "compatibility; unconfirmed on Jetson)".format(v["cuda_python"], driver_cuda),
                                    cuda_python_fix(kind)))
    if v.get("tensorrt_wheel") == "cu12" and drv and drv[0] < 12:
        out.append(VersionIssue("fail", "the tensorrt-cu12 wheel needs a CUDA 12 driver; this driver is CUDA {}".format(
            driver_cuda), 'upgrade the NVIDIA driver, or python3 -m pip install "tensorrt-cu11>=10,<11"'))
    return out


def cuda_python_fix(kind: str) -> str:
    if kind == "jetpack5":
        return "unset EDGENAS_CUDA and use the board's libcudart: no cuda-python release is built for JetPack 5's CUDA 11.4"
    return "unset EDGENAS_CUDA (the board's own libcudart), or pip install the cuda-python matching the driver " \
           "(JetPack 6 / CUDA 12 drivers: pip install '.[cuda12]')"


def _cuda_versions() -> str:
    """'runtime 11.4 / driver 11.4' from a CUDA binding already loaded in this process ('?' otherwise)."""
    from .cuda import _LOADED, version_str

    for impl in _LOADED.values():
        try:
            rt, drv = impl.versions()
            return "runtime {} / driver {}".format(version_str(rt), version_str(drv))
        except Exception:  # noqa: BLE001 - a version query must never mask the error being reported
            continue
    return "?"


def environment_error(exc: BaseException, what: str) -> EdgenasError:
    """A raw exception from TensorRT, numpy or CUDA as one line naming the versions and the install line that fixes it."""
    v = installed_versions()
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    kind = v.get("platform") or "x86"
    fix = "reinstall the board side: " + INSTALL.get(kind, INSTALL["x86"])
    if "np.bool" in text or "attribute 'bool'" in text:
        fix = 'python3 -m pip install "numpy>=1.20,<1.24" (TensorRT 8.5.1/8.5.2 calls np.bool)'
    elif "_ARRAY_API" in text or "NumPy 1.x" in text or "numpy.core" in text:
        fix = "python3 -m pip install " + NUMPY_PIN.get(kind, NUMPY_PIN["x86"]) + " (TensorRT is built against numpy 1.x)"
    else:
        issues = [i for i in combination_issues(v) if i.status == "fail"]
        if issues:
            fix = issues[0].fix
    return EdgenasError("{} failed: {}: {} (TensorRT {}, numpy {}, CUDA {}, Python {}); fix: {}".format(
        what, type(exc).__name__, text or "(no message)", v.get("tensorrt") or "not found", v.get("numpy"),
        _cuda_versions(), v.get("python"), fix))


@contextlib.contextmanager
def trt_errors(what: str) -> Iterator[None]:
    """Let EdgenasErrors through; turn any other exception (AttributeError from np.bool, TypeError or
    RuntimeError from the bindings) into environment_error's one line, the original chained as cause."""
    try:
        yield
    except EdgenasError:
        raise
    except Exception as e:  # noqa: BLE001 - the point: no raw traceback from the NVIDIA stack
        raise environment_error(e, what) from e
