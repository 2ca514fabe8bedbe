"""A model's own per-layer profile on TensorRT (board side: tensorrt, numpy, onnx; no torch; Python 3.8).

The engine runs whole with an ``IProfiler`` attached, which TensorRT calls once per engine layer and run
with its CUDA-event time (``report_layer_time(layer_name, ms)``); the layers are mapped back to the ONNX
nodes they came from by the engine inspector (``engine.create_engine_inspector()``,
``get_engine_information(LayerInformationFormat.JSON)``). With an engine built at
``ProfilingVerbosity.DETAILED`` (``edgenas`` builds its profiling engines so) each layer there carries
its type, tensor formats and, from TensorRT 8.6 on, ``Metadata``: ``[ONNX Layer: <node>]`` per fused
ONNX node, separated by U+001E (8.6) or U+001F (10.x). Without it (8.5, or an engine built elsewhere) the
layer *names* are parsed: ``A + B`` (fused), ``PWN(A, PWN(B))`` (fused point-wise ops), Myelin's
``{ForeignNode[A...B]}`` (every ONNX node from A to B in the graph's topological order that no other layer
names), ``reshape_before_X`` and similar pieces TensorRT adds around node X. ``Reformatting CopyNode for
Input Tensor 0 to X`` layers are layout glue, charged to layer X as layout time, as the ONNX Runtime
profile charges its reorder kernels (latency/model_profile.py).

A profiler disables CUDA-graph capture and makes every enqueue report, so profiled runs use a second
execution context with plain enqueues, while the end-to-end time comes from the runner's CUDA-graph
replays of a plain context; both are interleaved round by round, so the gap between the layer sum and the
end-to-end time (reported as overhead) is measured under the same conditions.
"""

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ...errors import EdgenasError
from ...runtime.timing import stats
from .layer_map import (  # noqa: F401  (the mapping's names, importable from here too)
    SCHEMA,
    OnnxIndex,
    build_rows,
    layer_precision,
    map_layers,
    metadata_nodes,
    name_atoms,
    parse_engine_information,
    reformat_target,
    rounds_of,
    strip_profile,
    summarize,
    timed_rows,
)


def inspect_engine(engine, context) -> List[Dict[str, Any]]:
    """The engine inspector's layers (JSON), with the context attached so dynamic shapes read concrete."""
    import tensorrt as trt  # typed by NVIDIA's tensorrt-stubs in CI

    inspector = engine.create_engine_inspector()
    # 10.x names the attribute execution_context, 8.5 / 8.6 context
    setattr(inspector, "execution_context" if hasattr(inspector, "execution_context") else "context", context)
    return parse_engine_information(inspector.get_engine_information(trt.LayerInformationFormat.JSON))


def _recorder():
    import tensorrt as trt  # typed by NVIDIA's tensorrt-stubs in CI

    class Recorder(trt.IProfiler):
        """Collects TensorRT's per-layer times of one run at a time."""

        def __init__(self) -> None:
            trt.IProfiler.__init__(self)
            self.current: Dict[str, float] = {}
            self.runs: List[Dict[str, float]] = []
            self.order: List[str] = []

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            name = strip_profile(layer_name)
            if name not in self.current and name not in self.order:
                self.order.append(name)
            self.current[name] = self.current.get(name, 0.0) + float(ms)

        def finish(self) -> float:
            run, self.current = self.current, {}
            self.runs.append(run)
            return sum(run.values())

    return Recorder()


def random_feeds(specs, seed: int) -> Dict[str, np.ndarray]:
    """Seeded inputs of the engine's own shapes: normal floats, zeros for integer and bool inputs."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape, dtype in specs:
        d = np.dtype(dtype)
        out[name] = rng.standard_normal(shape).astype(d) if d.kind == "f" else np.zeros(shape, d)
    return out


def profile_engine(engine, target, interleave, feeds: Optional[Dict[str, np.ndarray]] = None, onnx_path=None,
                   seed: int = 0, budget_s: float = 90.0, progress: bool = False,
                   module_of: Callable[[str], Optional[str]] = lambda n: None) -> Dict[str, Any]:
    """Per-layer profile of a TensorRT engine on this GPU, in the layout of the ONNX Runtime profile
    (latency/model_profile.py). ``interleave``: latency.model_profile.interleave (passed in: backends sit
    below latency); ``onnx_path``: the ONNX the engine came from, for the mapping (None: names as written);
    ``feeds``: inputs (None: seeded random ones of the engine's shapes)."""
    from .compat import import_tensorrt
    from .cuda import device_info
    from .runner import TrtRunner
    from .versions import trt_errors

    t0 = time.time()
    trt = import_tensorrt()
    idx = OnnxIndex.load(onnx_path) if onnx_path else None
    plain, prof = TrtRunner(engine), TrtRunner(engine, use_graph=False, inner=1)
    bar = None
    try:
        plain.activate()
        prof.activate()
        feeds = feeds if feeds is not None else random_feeds(plain.input_specs(), seed)
        with trt_errors("profiling engine {}".format(engine)):
            prof.infer(feeds)
            layers = inspect_engine(prof.engine, prof.context)
            rec = _recorder()
            ctx = prof.context
            manual = hasattr(ctx, "enqueue_emits_profile")  # report after our own sync, not inside enqueue
            if manual:
                ctx.enqueue_emits_profile = False
            ctx.profiler = rec

            def profiled() -> float:
                prof._execute()
                prof.stream.sync()
                if manual and not ctx.report_to_profiler():
                    raise EdgenasError("TensorRT did not report layer times for {}".format(engine))
                return rec.finish()

            calls = {"plain": plain.timed_call(feeds), "profiled": profiled}
            if progress:
                from ...util.progress import progress as pbar

                bar = pbar(target.protocol.rounds, "profiling", "rounds")
            samples, tags = interleave(calls, target.protocol, seed, budget_s, bar, caps={"profiled": 200})
        rounds = rounds_of(rec.runs, tags["profiled"])
        known = {str(x["Name"]) for x in layers}
        layers = [x for x in layers if x["Name"] in set(rec.order)] + [{"Name": n} for n in rec.order if n not in known]
        rows, facts = build_rows(layers, idx, module_of)
        run_sum = timed_rows(rows, rounds)
        e2e = stats(samples["plain"])
        gpu = device_info()
        out = {"schema": SCHEMA, "model": {"path": str(onnx_path or engine), "name": Path(str(onnx_path or engine)).name,
                                           "engine": str(engine), "inputs": {k: list(v.shape) for k, v in feeds.items()},
                                           "outputs": [n for n, is_in, _, _ in plain.io if not is_in]},
               "target": target.name, "backend": "tensorrt", "precision": target.precision,
               "software": {"tensorrt": trt.__version__, "cuda_runtime": gpu["cuda_runtime"],
                            "cuda_driver": gpu["cuda_driver"]},
               "device": {"gpu": gpu["name"], "compute_capability": gpu["compute_capability"]},
               "timing": {"e2e": dict(plain.timing), "profiled": "IProfiler, plain enqueue + stream sync per run"},
               "protocol": {"rounds": target.protocol.rounds, "profiled_runs": sum(len(v) for v in rounds.values()),
                            "budget_s": budget_s},
               "e2e": e2e, "profiled_e2e": stats(samples["profiled"]), "mapping": facts, "rows": rows}
        out.update(summarize(rows, facts, run_sum, e2e))
        out["seconds"] = round(time.time() - t0, 1)
        return out
    finally:
        if bar is not None:
            bar.close()
        for r in (prof, plain):
            if r.active or r._owned:
                r.deactivate()
