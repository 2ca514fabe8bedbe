"""Engine sidecar: the .engine file stays a pure TensorRT plan (trtexec / DeepStream load it as is);
everything else lives in ``<engine>.json`` and is checked before an engine is loaded."""

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from ...errors import EdgenasError
from ...util.io import atomic_write_json, sha256_file

ENGINE_META = "edgenas.engine/1"


def meta_path(engine) -> Path:
    return Path(str(engine) + ".json")


def write_engine_meta(engine, meta: Dict[str, Any]) -> Path:
    data = dict(meta, format=ENGINE_META, engine_sha256=sha256_file(engine))
    return atomic_write_json(meta_path(engine), data)


def read_engine_meta(engine) -> Dict[str, Any]:
    p = meta_path(engine)
    if not Path(engine).is_file():
        raise EdgenasError("engine {} does not exist".format(engine))
    if not p.is_file():
        raise EdgenasError("engine {} has no sidecar {}; rebuild it with edgenas build (or tools/build_engine.py) so "
                           "its TensorRT version and GPU are known".format(engine, p.name))
    try:
        meta = json.loads(p.read_text())
    except ValueError:
        raise EdgenasError("engine sidecar {} is corrupt; rebuild the engine".format(p))
    if meta.get("format") != ENGINE_META:
        raise EdgenasError("{} is not an edgenas engine sidecar".format(p))
    if meta.get("engine_sha256") != sha256_file(engine):
        raise EdgenasError("engine {} does not match its sidecar (sha256 differs); it was rebuilt or replaced - rebuild "
                           "with edgenas build".format(engine))
    return meta


def check_engine_compat(meta: Dict[str, Any], trt_version: str, gpu_name: Optional[str], compute_capability: Optional[str]) -> None:
    """Refuse an engine built for another TensorRT version or GPU: TensorRT plans are not portable."""
    if meta.get("tensorrt") != trt_version:
        raise EdgenasError("engine was built with TensorRT {} but this machine has {}; rebuild it here from {}".format(
            meta.get("tensorrt"), trt_version, meta.get("source_onnx", "its ONNX")))
    if compute_capability and meta.get("compute_capability") != compute_capability:
        raise EdgenasError("engine was built for compute capability {} ({}) but this GPU is {} ({}); rebuild it here".format(
            meta.get("compute_capability"), meta.get("gpu"), compute_capability, gpu_name))


def engine_profiles(meta: Dict[str, Any]) -> List[Any]:
    """The optimization profiles an engine was built with ([{input: (min, opt, max)}], runtime.shapes): the
    sidecar's ``build.profiles``, or the profile of a ``--dynamic-batch`` build; [] for a static engine."""
    from ...runtime.shapes import from_json

    build = meta.get("build") or {}
    if build.get("profiles"):
        return from_json(build["profiles"])
    batch = build.get("dynamic_batch")
    if not batch:
        return []
    prof = {}
    for t in meta.get("inputs") or []:
        rest = [int(d) for d in t["shape"][1:]]
        prof[t["name"]] = tuple(tuple([int(b)] + rest) for b in batch)
    return [prof]
