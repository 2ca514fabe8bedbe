"""Build a TensorRT engine from ONNX (board side: tensorrt + the board's libcudart, no torch).

The ONNX is statically checked against the installed TensorRT first (check.py). The plan goes to
``out`` untouched; its metadata to ``out.json``. fp32/fp16 from a float ONNX, INT8 only from a Q/DQ
ONNX (no calibrators). A persisted timing cache per target and TensorRT version, locked while in use,
makes rebuilds fast.

Own builder rather than Polygraphy's loaders: the policy (which flags per version, never a silent
downgrade, strongly typed INT8 from 10 on) is ours and testable without TensorRT, and the board needs
one package less. Its API names are type-checked against NVIDIA's tensorrt-stubs in CI.
"""

import contextlib
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

from ...errors import EdgenasError
from ...util.io import atomic_write_bytes, sha256_file
from .check import check_onnx, load_model
from ...runtime.shapes import describe, from_json
from .compat import import_tensorrt, plan_build
from .cuda import device_info
from .engine_meta import write_engine_meta
from .versions import trt_errors


@contextlib.contextmanager
def _locked(path: Optional[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``path + '.lock'`` so two builds never interleave cache writes."""
    if not path:
        yield
        return
    import fcntl

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def timing_cache_name(target_name: str, trt_version: str) -> str:
    """One timing cache file per target and TensorRT version: TensorRT's timing data is valid only for the
    GPU and TensorRT version that measured it (``<target>-trt<version>.timing.cache``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", "{}-trt{}".format(target_name, trt_version)) + ".timing.cache"


def _attach_timing_cache(config, path: Optional[str], log) -> Any:
    """The timing cache from ``path`` (a new one if absent or not usable by this TensorRT and GPU), attached
    to ``config``; None where TensorRT gives no cache (the build then runs without one)."""
    cached = Path(path).read_bytes() if path and Path(path).is_file() else b""
    cache = config.create_timing_cache(cached)
    if cache is not None and config.set_timing_cache(cache, False):
        return cache
    if cached:  # from another TensorRT version or GPU, or corrupt: start a new one rather than fail the build
        log("note: timing cache {} does not fit this TensorRT/GPU; starting a new one".format(path))
        cache = config.create_timing_cache(b"")
        if cache is not None and config.set_timing_cache(cache, False):
            return cache
    log("note: TensorRT gave no timing cache; building without one")
    return None


def _save_timing_cache(config, path: str, log) -> None:
    cache = config.get_timing_cache()  # None when no cache is attached
    data = cache.serialize() if cache is not None else None
    if data is None:
        log("note: TensorRT returned no timing cache to save; {} left as it was".format(path))
        return
    atomic_write_bytes(path, bytes(data))


def build_engine(onnx_path, target, out, timing_cache: Optional[str] = None,
                 dynamic_batch: Optional[Tuple[int, int, int]] = None, log=print,
                 timing_cache_dir: Optional[str] = None, shapes=None, detailed: bool = False) -> Dict[str, Any]:
    """Build ``onnx_path`` for ``target`` into the pure plan ``out`` plus ``out.json``. ``timing_cache`` is
    read and updated as given; with ``timing_cache_dir`` instead, the cache there for this target and
    TensorRT version is used (timing_cache_name). Errors from TensorRT that are not EdgenasErrors become one
    line naming the TensorRT / numpy / CUDA versions and the fix. ``shapes``: optimization profiles for dynamic
    dims (runtime.shapes: ``"x:1x3x32x32,1x3x640x640,1x3x1536x1536"``, repeatable), checked first; the sidecar
    records them (``build.profiles``) and the runner picks the profile covering each input."""
    import_tensorrt()  # clear errors for a missing or half-installed TensorRT
    import tensorrt as trt  # typed by NVIDIA's tensorrt-stubs in CI

    if timing_cache is None and timing_cache_dir is not None:
        timing_cache = str(Path(timing_cache_dir) / timing_cache_name(target.name, trt.__version__))
    with trt_errors("building {} for {}".format(onnx_path, target.name)):
        return _build(trt, onnx_path, target, out, timing_cache, dynamic_batch, log, shapes, detailed)


def _build(trt, onnx_path, target, out, timing_cache: Optional[str], dynamic_batch, log, shapes=None,
           detailed: bool = False) -> Dict[str, Any]:
    model = load_model(onnx_path)
    report = check_onnx(model, trt.__version__, dynamic_batch=dynamic_batch, precision=target.precision, shapes=shapes)
    if report.problems:
        raise EdgenasError("{} cannot build on TensorRT {}: {}; see: edgenas check {} --target {}".format(
            onnx_path, trt.__version__, report.problems[0], onnx_path, target.name))
    plan = plan_build(target.precision, report.facts, trt.__version__)
    for note in plan.notes + report.notes:
        log("note: " + note)
    gpu = device_info()
    t0 = time.time()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errs = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        raise EdgenasError("TensorRT {} cannot parse {}: {}".format(trt.__version__, onnx_path, errs[:500]))
    config = builder.create_builder_config()
    if detailed:  # the inspector then lists each layer's type, formats and ONNX nodes (per-layer profiles)
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, target.workspace_mb << 20)
    for name in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    if dynamic_batch:
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            t = network.get_input(i)
            dims = [int(t.shape[j]) for j in range(1, len(t.shape))]
            lo, opt, hi = (trt.Dims([b] + dims) for b in dynamic_batch)
            profile.set_shape(t.name, lo, opt, hi)
        config.add_optimization_profile(profile)
    for i, prof in enumerate(from_json(report.facts.get("profiles"))):
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in prof.items():
            profile.set_shape(name, trt.Dims(list(lo)), trt.Dims(list(opt)), trt.Dims(list(hi)))
        if config.add_optimization_profile(profile) != i:
            raise EdgenasError("TensorRT {} refused optimization profile {} ({}); check the ranges with edgenas check {} "
                               "--target {} --shapes ...".format(trt.__version__, i, describe([prof]), onnx_path, target.name))
    with _locked(timing_cache):
        cache = _attach_timing_cache(config, timing_cache, log) if timing_cache else None
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise EdgenasError("TensorRT failed to build {} for {} (see the TensorRT log above)".format(onnx_path, target.name))
        if timing_cache and cache is not None:
            _save_timing_cache(config, timing_cache, log)
    atomic_write_bytes(out, bytes(serialized))

    def io(t):
        return {"name": t.name, "shape": [int(t.shape[j]) for j in range(len(t.shape))],
                "dtype": str(t.dtype).replace("DataType.", "").lower()}

    meta = {"tensorrt": trt.__version__, "gpu": gpu["name"], "compute_capability": gpu["compute_capability"],
            "cuda_runtime": gpu["cuda_runtime"], "cuda_driver": gpu["cuda_driver"], "precision": target.precision,
            "target": target.name, "inputs": [io(network.get_input(i)) for i in range(network.num_inputs)],
            "outputs": [io(network.get_output(i)) for i in range(network.num_outputs)],
            "source_onnx": str(onnx_path), "source_onnx_sha256": sha256_file(onnx_path), "onnx_opset": report.facts["opset"],
            "build": {"network_flags": plan.network_flags, "builder_flags": plan.builder_flags, "typing": plan.typing,
                      "workspace_mb": target.workspace_mb, "timing_cache": timing_cache if cache is not None else None,
                      "dynamic_batch": list(dynamic_batch) if dynamic_batch else None,
                      "profiles": report.facts.get("profiles"),
                      "profiling_verbosity": "detailed" if detailed else "default",
                      "calibration": "explicit Q/DQ in the ONNX" if target.precision == "int8" else None,
                      "qdq_flavour": report.facts.get("qdq_flavour"), "qdq_weights": report.facts.get("qdq_weights")},
            "layers": int(network.num_layers), "build_s": round(time.time() - t0, 1),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_engine_meta(out, meta)
    return meta


def cached_engine(onnx_path, target, log=None, detailed: bool = False) -> Path:
    """An engine for ``onnx_path`` on this board, built once into ``<onnx dir>/.engines/`` and reused
    (ops bundles and validation hand the board ONNX files). ``detailed``: built at DETAILED profiling
    verbosity, cached apart (per-layer profiles; NVIDIA notes it can add enqueue latency)."""
    out = Path(onnx_path).parent / ".engines" / (Path(onnx_path).stem + "." + target.name + (
        ".detailed" if detailed else "") + ".engine")
    if not out.is_file() or not Path(str(out) + ".json").is_file():
        build_engine(onnx_path, target, out, timing_cache_dir=str(out.parent), log=log or (lambda s: None),
                     detailed=detailed)
    return out

