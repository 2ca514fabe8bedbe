"""Your own model's per-layer profile on a TensorRT target: MODEL.onnx (built here into an engine at DETAILED
profiling verbosity, cached beside it) or MODEL.engine (with its edgenas sidecar; its source ONNX, where it
still exists, maps the layers). See backends/tensorrt/layer_profile.py."""

from pathlib import Path
from typing import Any, Callable, Dict, Optional

from ..errors import EdgenasError
from .common import PathLike

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def _engine_for(onnx: Path, t) -> Path:
    """The cached DETAILED engine of ``onnx``, rebuilt when the ONNX changed since it was built."""
    from ..backends.tensorrt.builder import build_engine, cached_engine
    from ..backends.tensorrt.engine_meta import meta_path
    from ..util.io import sha256_file

    engine = cached_engine(onnx, t, detailed=True)
    try:
        import json

        built_from = json.loads(meta_path(engine).read_text()).get("source_onnx_sha256")
    except (OSError, ValueError):
        built_from = None
    if built_from != sha256_file(onnx):
        build_engine(onnx, t, engine, timing_cache_dir=str(engine.parent), log=lambda s: None, detailed=True)
    return engine


def profile_trt(model: PathLike, t, feeds_for: Callable[[Path], Any], given: bool, seed: int, budget_s: float,
                progress: bool) -> Dict[str, Any]:
    """The profile dict (latency/model_profile.py's layout) of ``model`` on TensorRT target ``t``. ``feeds_for``:
    the feeds for an ONNX file (own_model._inputs); ``given``: --input-shape or --inputs were given."""
    from ..backends.tensorrt.compat import import_tensorrt
    from ..backends.tensorrt.layer_profile import profile_engine
    from ..latency.model_profile import interleave
    from ..latency.onnx_map import torch_module
    import_tensorrt()  # one line where TensorRT is missing, before anything is built or read
    p = Path(model)
    if p.suffix.lower() in ENGINE_SUFFIXES:
        from ..backends.tensorrt.engine_meta import read_engine_meta

        engine = p
        src = read_engine_meta(p).get("source_onnx")
        onnx: Optional[Path] = Path(src) if src and Path(src).is_file() else None
        if given and onnx is None:
            raise EdgenasError("engine {}: its source ONNX ({}) is not here, so --input-shape / --inputs cannot be checked; "
                               "copy the ONNX beside it or profile MODEL.onnx".format(p, src))
    elif p.suffix.lower() == ".onnx":
        onnx = p
        engine = _engine_for(p, t)
    else:
        raise EdgenasError("{}: give an ONNX file or a TensorRT engine ({}) for target {}".format(
            p, ", ".join(ENGINE_SUFFIXES), t.name))
    feeds = feeds_for(onnx) if onnx is not None else None
    return profile_engine(engine, t, interleave, feeds, onnx, seed, budget_s, progress, module_of=torch_module)
