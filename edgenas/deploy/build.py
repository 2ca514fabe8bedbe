"""Build a TensorRT engine from ONNX (board side: tensorrt + cuda-python/pycuda, no torch).

The plan goes to ``out`` untouched; its metadata goes to ``out.json``. fp32/fp16 from a float ONNX,
INT8 only from a Q/DQ ONNX (no calibrators). A persisted timing cache makes rebuilds fast.
"""

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from ..errors import EdgenasError
from ..util.io import atomic_write_bytes, sha256_file
from .engine_meta import write_engine_meta
from .trt_compat import onnx_facts, plan_build


def build_engine(onnx_path, target, out, timing_cache: Optional[str] = None,
                 dynamic_batch: Optional[Tuple[int, int, int]] = None, log=print) -> Dict[str, Any]:
    from ..export.onnx_export import load_onnx
    from ..runtime.cuda_mem import Cuda
    from ..runtime.trt import import_tensorrt

    trt = import_tensorrt()
    facts = onnx_facts(load_onnx(onnx_path))
    plan = plan_build(target.precision, facts, trt.__version__)
    for note in plan.notes:
        log("note: " + note)
    gpu, cc = Cuda().device_info()
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
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, target.workspace_mb << 20)
    for name in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    cache = config.create_timing_cache(Path(timing_cache).read_bytes() if timing_cache and Path(timing_cache).is_file() else b"")
    config.set_timing_cache(cache, False)
    if dynamic_batch:
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            t = network.get_input(i)
            dims = list(t.shape)[1:]
            profile.set_shape(t.name, [dynamic_batch[0]] + dims, [dynamic_batch[1]] + dims, [dynamic_batch[2]] + dims)
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EdgenasError("TensorRT failed to build {} for {} (see the TensorRT log above)".format(onnx_path, target.name))
    atomic_write_bytes(out, bytes(serialized))
    if timing_cache:
        atomic_write_bytes(timing_cache, bytes(config.get_timing_cache().serialize()))

    def io(t):
        return {"name": t.name, "shape": [int(d) for d in t.shape], "dtype": str(t.dtype).replace("DataType.", "").lower()}

    meta = {"tensorrt": trt.__version__, "gpu": gpu, "compute_capability": cc, "precision": target.precision,
            "target": target.name, "inputs": [io(network.get_input(i)) for i in range(network.num_inputs)],
            "outputs": [io(network.get_output(i)) for i in range(network.num_outputs)],
            "source_onnx": str(onnx_path), "source_onnx_sha256": sha256_file(onnx_path), "onnx_opset": facts["opset"],
            "build": {"network_flags": plan.network_flags, "builder_flags": plan.builder_flags,
                      "workspace_mb": target.workspace_mb, "timing_cache": timing_cache, "dynamic_batch": dynamic_batch,
                      "calibration": "explicit Q/DQ in the ONNX" if target.precision == "int8" else None},
            "layers": int(network.num_layers), "build_s": round(time.time() - t0, 1),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_engine_meta(out, meta)
    return meta


def cached_engine(onnx_path, target, log=print) -> Path:
    """An engine for ``onnx_path`` on this board, built once into ``<onnx dir>/.engines/`` and reused."""
    out = Path(onnx_path).parent / ".engines" / (Path(onnx_path).stem + "." + target.name + ".engine")
    if not out.is_file():
        build_engine(onnx_path, target, out, timing_cache=str(out.parent / "timing.cache"), log=log)
    return out
