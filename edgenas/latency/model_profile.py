"""A model's own per-layer profile, taken in context on ONNX Runtime (board side: numpy, onnx, onnxruntime;
no torch; Python 3.8).

Layers timed as separate models sum to 1.1-3.9x a network's real latency (each pays layout conversions
the network pays once), so the model runs whole with ORT's profiler on, and its kernels are mapped back to
the ONNX nodes they came from (``onnx_map``). The profiler's runs and plain end-to-end runs of a second,
unprofiled session are interleaved round by round (the sum of kernels was up to 1.33x end-to-end when they
were not), so the gap between the kernel sum and the end-to-end time, reported as overhead, is measured
under the same conditions. Several models (an FP32 model and its INT8 version) can be profiled in one
interleaved run, so their per-layer times compare directly.
"""

import bisect
import json
import math
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import EdgenasError
from ..runtime.timing import stats, time_calls
from .onnx_map import QDQ_OPS, Graph, kernel_nodes, kernel_precision, map_extended, map_layout, torch_module

SCHEMA = "edgenas.model_profile/1"
_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
           "all": "ORT_ENABLE_ALL"}


def session_options(target, level: Optional[str] = None, optimized: Optional[str] = None,
                    profile_prefix: Optional[str] = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = target.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[level or target.graph_optimization])
    so.log_severity_level = 3
    if optimized:
        so.optimized_model_filepath = optimized
        # weights beside the saved graph, so the graph reads fast and a >2 GB model saves at all
        so.add_session_config_entry("session.optimized_model_external_initializers_file_name",
                                    os.path.basename(optimized) + ".data")
        so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return so


def open_session(path, target, **kw):
    """An ONNX Runtime session on the target's providers; a node the runtime cannot run is named."""
    import onnxruntime as ort

    if target.backend != "onnxruntime":
        raise EdgenasError("target '{}' runs {}; per-layer profiles of your own model run on ONNX Runtime targets "
                           "(e.g. cpu-x86-ort-fp32) here".format(target.name, target.backend))
    missing = [p for p in target.providers if p not in ort.get_available_providers()]
    if missing:
        raise EdgenasError("ONNX Runtime here lacks {} (available: {}); install the matching onnxruntime package or use "
                           "another target".format(", ".join(missing), ", ".join(ort.get_available_providers())))
    try:
        return ort.InferenceSession(str(path), session_options(target, **kw), providers=list(target.providers))
    except Exception as e:  # ORT raises its own Fail / NotImplemented / InvalidGraph types
        raise EdgenasError(_session_error(str(e), path, target))


def _session_error(msg: str, path, target) -> str:
    text = " ".join(msg.split())
    m = re.search(r"Could not find an implementation for (\S+?)\((\d+)\) node with name '([^']*)'", text)
    if m:
        return ("ONNX Runtime ({}) cannot run node '{}' of {} (op {}, opset {}); replace that op in the model, or "
                "run it on a target whose runtime has it".format(",".join(target.providers), m.group(3), path,
                                                                   m.group(1), m.group(2)))
    m = re.search(r"(\S+:)?(\S+)\((-?\d+)\) is not a registered function/op", text)
    if m:
        node = _node_of_op(path, m.group(2))
        return ("ONNX Runtime cannot run node '{}' of {}: op {}{} is not one it knows; replace it, or register a custom "
                "op library".format(node, path, m.group(1) or "", m.group(2)))
    first = text.split("] : ")[-1][:300] if text else "unknown error"
    return "ONNX Runtime cannot load {}: {}".format(path, first)


def _node_of_op(path, op: str) -> str:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:
        return "?"
    return next((n.name or "(unnamed {})".format(n.op_type) for n in model.graph.node if n.op_type == op), "?")


def check_model_file(path) -> None:
    """The file loads and passes onnx.checker (by path: external data and >2 GB models included)."""
    import onnx

    if not Path(path).is_file():
        raise EdgenasError("ONNX file {} does not exist".format(path))
    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as e:
        raise EdgenasError("{} fails onnx.checker: {}; fix or re-export the model".format(
            path, " ".join(str(e).split())[:300].rstrip(".") or "invalid model"))
    except Exception as e:  # a truncated or non-ONNX file
        raise EdgenasError("{} is not a readable ONNX model ({}); re-export it".format(path, type(e).__name__))


def interleave(calls: Dict[str, Callable[[], object]], protocol, seed: int = 0, budget_s: float = 90.0,
               bar=None, visit_ms: float = 20.0, caps: Optional[Dict[str, int]] = None
               ) -> Tuple[Dict[str, List[List[float]]], Dict[str, List[Tuple[int, bool]]]]:
    """Time every call in ``protocol.rounds`` rounds, each round as many calls per item as the protocol asks
    and ``budget_s`` allows, cut into short visits (about ``visit_ms``) shuffled together, so a busy second on
    a shared CPU hits every item alike. Returns (samples: per-round lists of ms, tags: (round, timed) of every
    call made, warm-ups included, in order). ``caps``: most calls per round for some items."""
    names = sorted(calls)
    samples: Dict[str, List[List[float]]] = {k: [] for k in names}
    tags: Dict[str, List[Tuple[int, bool]]] = {k: [] for k in names}
    est = {}
    for k in names:
        est[k] = max(float(np.median(time_calls(calls[k], 2))), 1e-3)
        tags[k] += [(-1, False)] * 2
    per_round = max(3, int(budget_s * 1000.0 / (protocol.rounds * sum(est.values()))))
    n = {k: min(per_round, max(protocol.repeat, int(math.ceil(protocol.min_round_ms / est[k]))), (caps or {}).get(k, 1000))
         for k in names}
    chunk = {k: max(1, min(n[k], int(visit_ms / est[k]))) for k in names}
    rng = np.random.default_rng(seed)
    for r in range(protocol.rounds):
        for k in names:
            w = protocol.warmup if r == 0 else max(2, protocol.warmup // 4)
            time_calls(calls[k], w)
            tags[k] += [(r, False)] * w
            samples[k].append([])
        visits = [k for k in names for _ in range(int(math.ceil(n[k] / chunk[k])))]
        for i in rng.permutation(len(visits)):
            k = visits[int(i)]
            c = min(chunk[k], n[k] - len(samples[k][r]))
            samples[k][r] += time_calls(calls[k], c)
            tags[k] += [(r, True)] * c
        if bar is not None:
            bar.update(1)
    return samples, tags


def _kernel_runs(profile_file: str, tags: List[Tuple[int, bool]]):
    """(kernel names in execution order, their args, {round: [per-run {kernel: ms}]}) from ORT's profile."""
    with open(profile_file, encoding="utf-8") as f:
        events = json.load(f)
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")
    if len(runs) != len(tags):
        raise EdgenasError("ONNX Runtime's profile holds {} runs but {} were made; its profiler dropped events (too many "
                           "kernels per run?); profile with fewer rounds".format(len(runs), len(tags)))
    starts = [s for s, _ in runs]
    order: List[str] = []
    args: Dict[str, Dict[str, Any]] = {}
    per_run: List[Dict[str, float]] = [{} for _ in runs]
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        i = bisect.bisect_right(starts, e["ts"]) - 1
        if i < 0 or e["ts"] > runs[i][1]:
            continue
        k = e["name"][: -len("_kernel_time")]
        if k not in args:
            args[k] = e.get("args", {})
            order.append(k)
        per_run[i][k] = per_run[i].get(k, 0.0) + e["dur"] / 1000.0
    rounds: Dict[int, List[Dict[str, float]]] = {}
    for (r, timed), run in zip(tags, per_run):
        if timed:
            rounds.setdefault(r, []).append(run)
    return order, args, rounds


def _types(shapes: List[Dict[str, Any]]) -> List[str]:
    return [next(iter(d)) for d in shapes if isinstance(d, dict) and d]


def _dims(shapes: List[Dict[str, Any]]) -> List[List[int]]:
    return [list(next(iter(d.values()))) for d in shapes if isinstance(d, dict) and d]


def build_rows(orig, ext, opt, order: List[str], args: Dict[str, Dict[str, Any]]) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Rows (one per fused group, in execution order) with their kernels and original nodes, and mapping facts."""
    o, e, l = Graph(orig), Graph(ext), Graph(opt)
    cover, folded = map_extended(o, e)
    k2l = kernel_nodes(order, {k: a.get("op_name", "") for k, a in args.items()}, l)
    pos = {li: i for i, li in enumerate(k2l[k] for k in order if k in k2l)}
    l_group, e_group, glue = map_layout(e, l, pos, {ei for ei, c in cover.items() if c})
    members: Dict[int, List[int]] = {}
    for ei, g in e_group.items():
        members.setdefault(g, []).append(ei)
    rows: Dict[Any, Dict[str, Any]] = {}
    unmapped: List[str] = []
    glue_set = set(glue)
    for k in order:
        li = k2l.get(k)
        g = l_group.get(li) if li is not None else None
        key: Any = g if g is not None else ("unmapped", k)
        if g is None:
            unmapped.append(k)
        row = rows.setdefault(key, {"kernels": [], "glue": [], "group": g})
        (row["glue"] if li in glue_set else row["kernels"]).append(k)
    out = []
    for key, row in rows.items():
        g = row["group"]
        onodes = sorted({oi for ei in members.get(g, []) for oi in cover.get(ei, [])}) if g is not None else []
        # the layer's own nodes first, then the Quantize/Dequantize nodes the runtime folded into it
        onodes = [i for i in onodes if o.nodes[i].op_type not in QDQ_OPS] + [i for i in onodes if o.nodes[i].op_type in QDQ_OPS]
        main = (row["kernels"] or row["glue"])[0]
        a = args.get(main, {})
        op = a.get("op_name", "?")
        ins, outs = a.get("input_type_shape", []), a.get("output_type_shape", [])
        is_glue = not row["kernels"]
        prec = "layout" if is_glue else kernel_precision(op, _types(ins))
        mods = [m for m in (torch_module(o.names[i]) for i in onodes) if m]
        mods = [m for m in mods if m != "(root)"] or mods
        out.append({"kernels": row["kernels"] + row["glue"], "glue_kernels": row["glue"],
                    "onnx_nodes": [o.names[i] for i in onodes],
                    "op_types": list(dict.fromkeys(o.nodes[i].op_type for i in onodes)),
                    "kernel_op": op, "precision": prec, "module": mods[0] if mods else None,
                    "input_shape": (_dims(ins) or [None])[0], "output_shape": (_dims(outs) or [None])[0]})
    covered = {oi for ei in e_group for oi in cover.get(ei, [])}
    lost = [o.names[i] for i in range(len(o.nodes)) if i not in covered and i not in folded]
    facts = {"onnx_nodes": len(o.nodes), "folded_nodes": len(folded - covered), "unmapped_nodes": lost,
             "unmapped_kernels": unmapped, "optimized_nodes": len(l.nodes), "torch_scopes": any(
                 torch_module(n) not in (None, "(root)") for n in o.names)}
    return out, facts


def _timed_rows(rows: List[Dict[str, Any]], rounds: Dict[int, List[Dict[str, float]]], overhead_ms: float = 0.0
                ) -> Tuple[float, float]:
    """Fill each row's statistics from the per-run kernel times, each kernel less the profiler's own cost per
    kernel (``overhead_ms``, never below a tenth of the kernel); returns the median per-run kernel sum, raw and
    corrected."""
    raw = [rounds[r] for r in sorted(rounds)]
    ordered = [[{k: max(v - overhead_ms, 0.1 * v) for k, v in run.items()} for run in rr] for rr in raw]
    for row in rows:
        per_round = [[sum(run.get(k, 0.0) for k in row["kernels"]) for run in rr] for rr in ordered]
        s = stats(per_round)
        glue = [[sum(run.get(k, 0.0) for k in row["glue_kernels"]) for run in rr] for rr in ordered]
        row.update({k: round(v, 5) if isinstance(v, float) else v for k, v in s.items()})
        row["layout_ms"] = round(stats(glue)["median_ms"], 5) if row["glue_kernels"] else 0.0
    sums = [[sum(run.values()) for run in rr] for rr in ordered]
    raw_sums = [[sum(run.values()) for run in rr] for rr in raw]
    return stats(sums)["median_ms"], stats(raw_sums)["median_ms"]


PROBE_OPS = 200


def _probe(path: str) -> str:
    """A chain of tiny element-wise ops: what the profiler adds to every kernel it times shows in it alone
    (about 3 us per kernel here, as much as a small kernel's work)."""
    import onnx
    from onnx import TensorProto, helper

    nodes, prev = [], "x"
    for i in range(PROBE_OPS):
        nodes.append(helper.make_node("Relu" if i % 2 == 0 else "Neg", [prev], ["t{}".format(i)], name="probe{}".format(i)))
        prev = "t{}".format(i)
    g = helper.make_graph(nodes, "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
                          [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 256])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


class _Rounds:
    """``interleave``'s progress bar as an ``on_progress(done, total)`` callback (the board agent's progress events)."""

    def __init__(self, total: int, report: Callable[[int, int], None]) -> None:
        self.total, self.n, self.report = total, 0, report

    def update(self, k: int) -> None:
        self.n += k
        self.report(self.n, self.total)

    def close(self) -> None:
        pass


def profile_models(models: Dict[str, Any], target, feeds: Dict[str, np.ndarray], seed: int = 0, budget_s: float = 90.0,
                   progress: bool = False, on_progress: Optional[Callable[[int, int], None]] = None
                   ) -> Dict[str, Dict[str, Any]]:
    """Profile every model of ``models`` ({key: ONNX path}) per layer on ``target`` in one interleaved run.
    Returns {key: profile dict} (see ``profile_model``). ``on_progress(done, total)``: called per round instead
    of a progress bar."""
    import onnx
    import onnxruntime as ort

    from ..runtime.device import fingerprint

    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="edgenas-profile-") as work:
        sess, calls, graphs = {}, {}, {}
        for key, path in models.items():
            check_model_file(path)
            d = os.path.join(work, re.sub(r"[^A-Za-z0-9_.-]", "_", key))
            os.makedirs(d)
            ext_level = "extended" if target.graph_optimization == "all" else target.graph_optimization
            open_session(path, target, level=ext_level, optimized=os.path.join(d, "ext.onnx"))
            prof = open_session(path, target, optimized=os.path.join(d, "opt.onnx"), profile_prefix=os.path.join(d, "prof"))
            plain = open_session(path, target)
            names = [o.name for o in plain.get_outputs()]
            sess[key] = prof
            for tag, s in (("profiled", prof), ("plain", plain)):
                calls["{}\t{}".format(key, tag)] = (lambda run, n, f: (lambda: run(n, f)))(s.run, names, feeds)
            graphs[key] = [onnx.load(str(p), load_external_data=False) for p in
                           (path, os.path.join(d, "ext.onnx"), os.path.join(d, "opt.onnx"))]
        probe = open_session(_probe(os.path.join(work, "probe.onnx")), target, profile_prefix=os.path.join(work, "probe"))
        probe_plain = open_session(os.path.join(work, "probe.onnx"), target)
        px = {"x": np.ones((1, 256), np.float32)}
        pnames = [probe.get_outputs()[0].name]
        calls["\tprobe\tprofiled"] = lambda: probe.run(pnames, px)
        calls["\tprobe\tplain"] = lambda: probe_plain.run(pnames, px)
        bar: Any = _Rounds(target.protocol.rounds, on_progress) if on_progress is not None else None
        if progress and bar is None:
            from ..util.progress import progress as pbar

            bar = pbar(target.protocol.rounds, "profiling", "rounds")
        try:
            # a profiled run writes an event per kernel: 200 runs a round are plenty and keep the trace small
            samples, tags = interleave(calls, target.protocol, seed, budget_s, bar,
                                       caps={k: 200 for k in calls if k.endswith("\tprofiled")})
        finally:
            if bar is not None:
                bar.close()
        # the profiler's cost per kernel: the probe's kernels, profiled, less its whole plain run (an upper bound on
        # their real work), per kernel
        _, _, prounds = _kernel_runs(probe.end_profiling(), tags["\tprobe\tprofiled"])
        psum = stats([[sum(run.values()) for run in rr] for _, rr in sorted(prounds.items())])["median_ms"]
        overhead_ms = max(0.0, (psum - stats(samples["\tprobe\tplain"])["median_ms"]) / PROBE_OPS)
        results = {}
        for key, path in models.items():
            pfile = sess[key].end_profiling()
            order, args, rounds = _kernel_runs(pfile, tags["{}\tprofiled".format(key)])
            rows, facts = build_rows(*graphs[key], order, args)
            run_sum, raw_sum = _timed_rows(rows, rounds, overhead_ms)
            rows = [r for r in rows if r["kernels"]]
            e2e = stats(samples["{}\tplain".format(key)])
            profiled = stats(samples["{}\tprofiled".format(key)])
            total = sum(r["median_ms"] for r in rows) or 1e-12
            for r in rows:
                r["share_pct"] = round(100.0 * r["median_ms"] / total, 3)
            mapped = sum(r["median_ms"] for r in rows if r["onnx_nodes"])
            by_prec: Dict[str, float] = {}
            for r in rows:
                by_prec[r["precision"]] = round(by_prec.get(r["precision"], 0.0) + r["median_ms"] - r["layout_ms"], 5)
                by_prec["layout"] = round(by_prec.get("layout", 0.0) + r["layout_ms"], 5)
            results[key] = {
                "schema": SCHEMA, "model": {"path": str(path), "name": Path(str(path)).name,
                                            "inputs": {k: list(v.shape) for k, v in feeds.items()},
                                            "outputs": [o.name for o in sess[key].get_outputs()]},
                "target": target.name, "backend": "onnxruntime", "threads": target.threads,
                "graph_optimization": target.graph_optimization, "providers": list(target.providers),
                "software": {"onnxruntime": ort.__version__}, "device": fingerprint(),
                "protocol": {"rounds": target.protocol.rounds, "interleaved_with": sorted(models),
                             "profiled_runs": sum(len(v) for v in rounds.values()), "budget_s": budget_s},
                "e2e": e2e, "profiled_e2e": profiled,
                # per run, the sum of its kernels, against per run, the plain session's wall time: like with like (on a
                # busy CPU the sum of per-layer medians drops the preemptions every whole run pays)
                "kernel_sum_ms": round(run_sum, 5), "layer_median_sum_ms": round(total, 5),
                "raw_kernel_sum_ms": round(raw_sum, 5), "raw_sum_over_e2e": round(raw_sum / e2e["median_ms"], 4),
                "profiler_overhead_us_per_kernel": round(1000 * overhead_ms, 3),
                "sum_over_e2e": round(run_sum / e2e["median_ms"], 4), "overhead_ms": round(e2e["median_ms"] - run_sum, 5),
                "coverage": round(mapped / total, 4),
                "module_coverage": round(sum(r["median_ms"] for r in rows if r["module"]) / total, 4)
                if facts["torch_scopes"] else None,
                "layout_share": round(by_prec.get("layout", 0.0) / total, 4), "by_precision_ms": by_prec,
                "mapping": facts, "rows": rows}
    for r in results.values():
        r["seconds"] = round(time.time() - t0, 1)
    return results
