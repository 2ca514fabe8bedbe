"""Board side: is this board ready for a target? One screen of checks, then a real build/run/compare of
a tiny shipped model at the target's precision. Each failure is one line with its fix; ready means no
failure (warnings about clocks or power do not stop it). No torch; Python 3.8."""

import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

from ..errors import EdgenasError
from .common import as_target

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "doctor"


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str = ""


@dataclass
class DoctorResult:
    target: str
    ready: bool
    checks: List[Check] = field(default_factory=list)

    @property
    def failures(self) -> List[Check]:
        return [c for c in self.checks if c.status == "fail"]


def _try(checks: List[Check], name: str, fn: Callable[[], Check], nvidia: bool = False) -> Optional[Check]:
    """``fn``'s check; an EdgenasError is a failed check. With ``nvidia``, so is any raw error from the
    TensorRT / numpy / CUDA stack, as one line naming their versions and the fix."""
    try:
        c = fn()
    except Exception as e:  # noqa: BLE001
        if not isinstance(e, EdgenasError):
            if not nvidia:
                raise
            from ..backends.tensorrt.versions import environment_error

            e = environment_error(e, name)
        c = Check(name, "fail", str(e).split(";")[0], str(e).split(";", 1)[1].strip() if ";" in str(e) else "")
    checks.append(c)
    return c


def _version_checks(checks: List[Check]) -> None:
    """Known-bad TensorRT / numpy / CUDA / Python combinations, from package metadata and the driver's
    CUDA version only: nothing is built or run before these are reported."""
    from ..backends.tensorrt.cuda import cuda, version_str
    from ..backends.tensorrt.versions import combination_issues, installed_versions

    v = installed_versions()
    driver, shown = None, "? (no libcudart)"
    try:
        code = cuda("cudart").versions()[1]
        driver, shown = (version_str(code), version_str(code)) if code > 0 else (None, "none loaded")
    except Exception:  # noqa: BLE001 - no libcudart here: the cuda check below says so with its fix
        pass
    issues = combination_issues(v, driver)
    for i in issues:
        checks.append(Check("versions", i.status, i.detail, i.fix))
    if not issues:
        checks.append(Check("versions", "ok", "TensorRT {}, numpy {}, CUDA driver {}, Python {}, {}{}".format(
            v.get("tensorrt") or "not found", v.get("numpy"), shown, v.get("python"), v.get("platform"),
            ", cuda-python {}".format(v["cuda_python"]) if v.get("cuda_python") else "")))


def _python() -> Check:
    v = sys.version_info
    ok = v >= (3, 8)
    return Check("python", "ok" if ok else "fail", platform.python_version(), "" if ok else "install Python 3.8 or newer")


def _module(name: str, fix: str, required: bool = True) -> Check:
    try:
        m = __import__(name)
        return Check(name, "ok", getattr(m, "__version__", "installed"))
    except ImportError:
        return Check(name, "fail" if required else "warn", "not installed", fix)


def _compare(out, ref, min_cosine: float) -> Check:
    import numpy as np

    from ..validation.compare import compare_outputs

    c = compare_outputs(np.asarray(out), np.asarray(ref))
    ok = c["cosine_min"] >= min_cosine
    return Check("outputs", "ok" if ok else "fail", "cosine vs FP32 reference min {:.4f}, top-1 agreement {:.0f}%".format(
        c["cosine_min"], c["top1_agreement"]), "" if ok else "the runtime computes wrong results; reinstall it and rerun doctor")


def _run_tiny(target, model: Path, min_cosine: float, checks: List[Check]) -> None:
    """Build (TensorRT) or load (ONNX Runtime), run and time the shipped model; compare with FP32 outputs."""
    import numpy as np

    from ..backends import make_runner
    from ..runtime.timing import stats, time_calls
    from ..validation.compare import run_batched

    x = np.load(str(ASSETS / "inputs.npz"))["inputs"]
    ref = np.load(str(ASSETS / "ref_outputs.npz"))["outputs"]
    t0 = time.time()
    r = make_runner(model if target.backend == "onnxruntime" else _scratch_copy(model), target)
    try:
        r.activate()
        out = run_batched(r, x, 1)
        call = r.timed_call(r.random_feed())
        ms = stats([time_calls(call, 20) for _ in range(3)])["median_ms"]
        timer = (getattr(r, "timing", None) or {}).get("method", "host wall clock")
    finally:
        r.deactivate()
    checks.append(Check("run {}".format(model.name), "ok", "{} {}: {:.3f} ms per inference ({}), ready in {:.1f} s".format(
        target.backend, target.precision, ms, timer, time.time() - t0)))
    checks.append(_compare(out, ref, min_cosine))


def _scratch_copy(model: Path) -> Path:
    """TensorRT caches engines beside the ONNX: work on a copy in a writable folder."""
    import shutil
    import tempfile

    d = Path(tempfile.gettempdir()) / "edgenas-doctor"
    d.mkdir(parents=True, exist_ok=True)
    dst = d / model.name
    if not dst.is_file() or dst.read_bytes() != model.read_bytes():
        shutil.copyfile(str(model), str(dst))
    return dst


def _gpu_checks(target, checks: List[Check]) -> None:
    from ..backends.tensorrt.compat import import_tensorrt, parse_version
    from ..backends.tensorrt.cuda import device_info
    from ..runtime.device import jetson_info, nvidia_smi

    _version_checks(checks)

    def trt_check() -> Check:
        trt = import_tensorrt()
        want = target.software.tensorrt
        same = not want or parse_version(trt.__version__)[:2] == parse_version(want)[:2]
        return Check("tensorrt", "ok" if same else "warn", trt.__version__ + ("" if same else " (target says {})".format(want)),
                     "" if same else "tables and engines are per TensorRT version: profile this board as it is, or "
                     "install TensorRT {}".format(want))

    trt = _try(checks, "tensorrt", trt_check, nvidia=True)
    gpu = {}

    def cuda_check() -> Check:
        gpu.update(device_info())
        return Check("cuda", "ok", "runtime {} / driver {} via {} ({})".format(gpu["cuda_runtime"], gpu["cuda_driver"],
                                                                         gpu["binding"], gpu["library"]))

    _try(checks, "cuda", cuda_check, nvidia=True)
    if gpu:
        want = target.board.compute_capability
        same = not want or want == gpu["compute_capability"]
        checks.append(Check("gpu", "ok" if same else "fail", "{} (compute capability {}, {} SMs)".format(
            gpu["name"], gpu["compute_capability"], gpu["multiprocessors"]),
            "" if same else "target '{}' is for compute capability {}; pick the target for this GPU (edgenas targets list) "
            "or copy one and edit board.compute_capability".format(target.name, want)))
        low = gpu["mem_free_mib"] < 512
        checks.append(Check("gpu memory", "warn" if low else "ok", "{} MiB free of {} MiB".format(gpu["mem_free_mib"], gpu["mem_total_mib"]),
                            "close other GPU programs before profiling" if low else ""))
    jet, smi = jetson_info(), nvidia_smi()
    lock = target.board.lock_clocks or "lock the GPU clocks"
    if jet.get("nvpmodel"):
        want = target.board.power_mode
        same = want is None or "MODE_ID: {}".format(want) in jet["nvpmodel"] or jet["nvpmodel"].rstrip().endswith(str(want))
        checks.append(Check("power mode", "ok" if same else "warn", jet["nvpmodel"], "" if same else "run: " + lock))
    if "gpu_clock_locked" in jet:
        checks.append(Check("clocks", "ok" if jet["gpu_clock_locked"] else "warn",
                            "GPU clock locked" if jet["gpu_clock_locked"] else "GPU clock floats (min != max)",
                            "" if jet["gpu_clock_locked"] else "run: " + lock))
    if smi:
        throttled = smi.get("throttle_reasons") not in (None, "0x0000000000000000", "0x0000000000000001", "Not Active")
        checks.append(Check("clocks", "warn" if throttled else "ok", "SM {} of max {}, throttle reasons {}".format(
            smi.get("sm_clock"), smi.get("sm_clock_max"), smi.get("throttle_reasons")), "run: " + lock if throttled else ""))
    hot = {k: v for k, v in (jet.get("temps_c") or {}).items() if v >= 80}
    if hot:
        checks.append(Check("temperature", "warn", ", ".join("{} {:.0f} C".format(k, v) for k, v in hot.items()),
                            "cool the board (jetson_clocks --fan) before profiling"))
    if trt is not None and trt.status != "fail" and gpu:
        model = ASSETS / ("tiny.trt-int8.onnx" if target.precision == "int8" else "tiny.onnx")
        _try(checks, "run", lambda: _run_checked(target, model, 0.98 if target.precision == "int8" else 0.995, checks),
             nvidia=True)


def _run_checked(target, model: Path, min_cosine: float, checks: List[Check]) -> Check:
    _run_tiny(target, model, min_cosine, checks)
    return checks.pop()


def doctor(target) -> DoctorResult:
    """Check the board for ``target`` and run a tiny model on it; ``ready`` only if nothing failed."""
    t = as_target(target)
    checks: List[Check] = [_python(), _module("numpy", "pip install numpy")]
    import edgenas._version as v

    checks.append(Check("edgenas", "ok", "{} at {}".format(v.__version__, Path(v.__file__).resolve().parent)))
    checks.append(Check("target", "ok", "{} ({} {}, board {})".format(t.name, t.backend, t.precision, t.board.name)))
    if t.backend == "onnxruntime":
        ort = _module("onnxruntime", "pip install onnxruntime")
        checks.append(ort)
        if ort.status == "ok":
            from ..runtime.device import cpu_info

            cpu = cpu_info()
            gov = cpu.get("governor") or []
            perf = not gov or gov == ["performance"]
            checks.append(Check("cpu", "ok" if perf else "warn", "{} | {} cores | governor {}".format(
                cpu.get("model", "?"), cpu.get("logical_cores"), ",".join(gov) or "n/a"),
                "" if perf else "sudo cpupower frequency-set -g performance (timing varies with the ondemand governor)"))
            model = ASSETS / ("tiny.ort-int8.onnx" if t.precision == "int8" else "tiny.onnx")
            _try(checks, "run", lambda: _run_checked(t, model, 0.98 if t.precision == "int8" else 0.9999, checks))
    elif t.backend == "tensorrt":
        checks.append(_module("onnxruntime", "pip install onnxruntime (validation runs the FP32 reference on it where "
                                             "TensorRT is busy; optional)", required=False))
        _gpu_checks(t, checks)
    elif t.backend == "torch":
        import numpy as np

        from .doctor_torch import torch_checks

        torch_checks(t, checks, Check, lambda c, n, f: _try(c, n, f, nvidia=True), _compare,
                     np.load(str(ASSETS / "inputs.npz"))["inputs"])
    else:
        checks.append(Check("backend", "fail", "doctor does not check '{}' targets yet".format(t.backend),
                            "use edgenas profile on the GPU host directly"))
    return DoctorResult(t.name, not any(c.status == "fail" for c in checks), checks)


def format_report(r: DoctorResult) -> List[str]:
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}
    lines = ["edgenas doctor: target {}".format(r.target)]
    for c in r.checks:
        lines.append("  [{}] {:<16} {}{}".format(marks[c.status], c.name, c.detail, "  -> fix: " + c.fix if c.fix else ""))
    lines.append("READY" if r.ready else "NOT READY: " + "; ".join("{}: {}".format(c.name, c.fix or c.detail) for c in r.failures))
    return lines
