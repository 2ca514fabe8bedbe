"""Board side: check an ONNX against a target's TensorRT, build its engine, check the board (doctor).
No torch; Python 3.8."""

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import EdgenasError
from ..util.checks import input_file, output_path
from .common import Log, PathLike, as_target, say


@dataclass
class CheckResult:
    onnx: Path
    target: str
    backend: str
    precision: str
    tensorrt: Optional[str]
    ok: bool
    problems: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    facts: Dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildResult:
    engine: Path
    sidecar: Path
    size_mb: float
    seconds: float
    meta: Dict[str, Any] = field(default_factory=dict)


def parse_dynamic_batch(value) -> Optional[Tuple[int, int, int]]:
    """MIN,OPT,MAX (a string or a 3-sequence) with 1 <= MIN <= OPT <= MAX."""
    if value in (None, ""):
        return None
    try:
        dyn = tuple(int(v) for v in (value.split(",") if isinstance(value, str) else value))
        ok = len(dyn) == 3 and 1 <= dyn[0] <= dyn[1] <= dyn[2]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise EdgenasError("dynamic batch {!r}: give MIN,OPT,MAX with 1 <= MIN <= OPT <= MAX, e.g. 1,4,8".format(value))
    return dyn  # type: ignore[return-value]


def check(onnx: PathLike, target, dynamic_batch=None, shapes=None) -> CheckResult:
    """Static check of ``onnx`` against ``target``: for TensorRT targets, what the target's TensorRT
    version parses (symmetric int8 Q/DQ, no INT32 DQ, opset range, supported ops, dynamic dims); for
    ONNX Runtime targets, that the file is valid ONNX and loads in ONNX Runtime. ``shapes``: the
    optimization profiles for dynamic dims (``"x:1x3x32x32,1x3x640x640,1x3x1536x1536"``, a list of those,
    or {name: "MIN,OPT,MAX"}): every dynamic dim covered, MIN <= OPT <= MAX, and ONNX shape inference at
    min / opt / max (for ONNX Runtime targets too: the model must take the shapes it will be run at)."""
    t = as_target(target)
    input_file(onnx, "ONNX model")
    dyn = parse_dynamic_batch(dynamic_batch)
    if t.backend == "tensorrt":
        from ..backends.tensorrt.check import check_file

        version = t.software.tensorrt or "10.0"
        rep = check_file(onnx, version, dynamic_batch=dyn, precision=t.precision, shapes=shapes)
        return CheckResult(Path(onnx), t.name, t.backend, t.precision, version, rep.ok, rep.problems, rep.notes, rep.facts)
    if t.backend == "onnxruntime":
        from ..backends.onnxruntime import OrtRunner
        from ..modelio.onnx_export import load_onnx

        model = load_onnx(onnx)
        with OrtRunner(onnx, threads=1):
            pass
        problems, notes, facts = _ort_shape_check(model, shapes)
        return CheckResult(Path(onnx), t.name, t.backend, t.precision, None, not problems, problems,
                           ["valid ONNX; loads in ONNX Runtime"] + notes, facts)
    raise EdgenasError("target '{}' ({}) deploys no ONNX file; nothing to check".format(t.name, t.backend))


def _ort_shape_check(model, shapes):
    """ONNX Runtime runs any shape: only given ``shapes`` are checked (ranges, and shape inference at the ends)."""
    if not shapes:
        return [], [], {}
    from ..runtime import shapes as S

    profiles = S.parse_shapes(shapes, model)
    problems = S.check_profiles(profiles, model)
    if problems:
        return problems, [], {}
    profiles = S.resolve(profiles, model)
    return S.infer_problems(model, profiles), ["shapes: " + S.describe(profiles)], {"profiles": S.to_json(profiles)}


def build(onnx: PathLike, target, out: PathLike, timing_cache: Optional[PathLike] = None, dynamic_batch=None,
          log: Log = None, board=None, accept_new_host_key: bool = False, fresh: bool = False,
          progress: bool = True, shapes=None) -> BuildResult:
    """A TensorRT engine (a pure plan that trtexec/DeepStream load) plus its ``.json`` sidecar, built on
    this board after the static check. Needs TensorRT here.

    ``board``: build on that board over SSH instead (``edgenas board list``; ``target`` None = the board's
    target). The static check runs here first, so a model the target's TensorRT cannot parse is refused
    before anything is uploaded; the board keeps its own timing cache (``timing_cache`` must be None).
    Running the same call again re-attaches to the build or fetches the finished engine (``fresh``
    builds again). ``shapes``: optimization profiles for dynamic dims (see check), recorded in the sidecar."""
    if board is not None:
        if shapes:
            raise EdgenasError("--shapes is not yet sent to a board build; copy the ONNX to the board and run edgenas build "
                               "--shapes ... there")
        return _build_on_board(onnx, target, out, timing_cache, dynamic_batch, log, board, accept_new_host_key, fresh,
                               progress)
    from ..backends.tensorrt.builder import build_engine

    t = as_target(target)
    if t.backend != "tensorrt":
        raise EdgenasError("target '{}' uses {}, not TensorRT; nothing to build (deploy the ONNX as is)".format(t.name, t.backend))
    input_file(onnx, "ONNX model")
    output_path(out, "engine")
    dyn = parse_dynamic_batch(dynamic_batch)
    t0 = time.time()
    meta = build_engine(onnx, t, out, str(timing_cache) if timing_cache else None, dyn, log=log or (lambda s: None),
                        timing_cache_dir=None if timing_cache else str(Path(out).resolve().parent),  # per target + TRT
                        shapes=shapes)
    return BuildResult(Path(out), Path(str(out) + ".json"), Path(out).stat().st_size / 1e6, round(time.time() - t0, 1), meta)


def board_target(target, board, what: str):
    """``target``, or the board's own target when ``target`` is None; and the board's entry."""
    from ..board.deploy import one_board

    entry = one_board(board, what)
    if target is None and not entry.target:
        raise EdgenasError("board '{}' has no target; pass one (--target) or set it: edgenas board add {} {} --target T "
                           "--force".format(entry.name, entry.name, entry.url))
    return as_target(target if target is not None else entry.target), entry


def _build_on_board(onnx, target, out, timing_cache, dynamic_batch, log, board, accept_new_host_key, fresh, progress):
    from ..board.deploy import remote_build

    t, entry = board_target(target, board, "an engine build")
    if t.backend != "tensorrt":
        raise EdgenasError("target '{}' uses {}, not TensorRT; nothing to build (deploy the ONNX as is)".format(
            t.name, t.backend))
    if timing_cache is not None:
        raise EdgenasError("a build on board '{}' uses the board's own timing cache (under its work dir, cache/); "
                           "drop the timing cache argument".format(entry.name))
    input_file(onnx, "ONNX model")
    output_path(out, "engine")
    dyn = parse_dynamic_batch(dynamic_batch)
    rep = check(onnx, t, dyn)
    if not rep.ok:
        raise EdgenasError("{} fails the TensorRT {} check for {}: {}{}; nothing was sent to board '{}'".format(
            onnx, rep.tensorrt, t.name, rep.problems[0], " (+{} more: edgenas check {} --target {})".format(
                len(rep.problems) - 1, onnx, t.name) if len(rep.problems) > 1 else "", entry.name))
    say(log, "checked    {} passes the TensorRT {} static check ({}); building on board {}".format(
        onnx, rep.tensorrt, rep.facts.get("qdq_flavour") or "float", entry.name))
    t0 = time.time()
    meta = remote_build(entry, onnx, t, out, dyn, accept_new_host_key, fresh, show_progress=progress)
    return BuildResult(Path(out), Path(str(out) + ".json"), Path(out).stat().st_size / 1e6, round(time.time() - t0, 1), meta)
