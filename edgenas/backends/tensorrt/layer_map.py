"""Engine layers -> ONNX nodes, and the per-layer table's arithmetic, for the TensorRT per-layer profile
(pure Python: testable without TensorRT; board side, no torch, Python 3.8). See layer_profile.py for how the
layers, their names and the inspector's Metadata come about."""

import json
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from ...errors import EdgenasError
from ...runtime.timing import stats

SCHEMA = "edgenas.model_profile/1"
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
_PROFILE = re.compile(r" \[profile \d+\]$")
_REFORMAT = re.compile(r"^Reformatting CopyNode for (?:Input|Output) Tensor \d+ to (.+)$")
_FOREIGN = re.compile(r"^\{ForeignNode\[(.*)\]\}$")
_ONNX_LAYER = re.compile(r"^\[ONNX Layer: (.*)\]$")
# pieces the ONNX parser / builder adds around one ONNX node X, named after it
_AROUND = ("reshape_before_", "reshape_after_", "squeeze_after_", "unsqueeze_after_", "unsqueeze_node_after_",
           "copied_squeeze_after_", "shuffle_before_", "shuffle_after_")


def strip_profile(name: str) -> str:
    """A layer name without the ``[profile N]`` suffix TensorRT gives the layers of profiles after the first."""
    return _PROFILE.sub("", name)


def reformat_target(name: str) -> Optional[str]:
    """The layer a reformat layer feeds (or reads from): ``Reformatting CopyNode for Input Tensor 0 to X`` -> X."""
    m = _REFORMAT.match(strip_profile(name))
    return m.group(1) if m else None


def metadata_nodes(meta: Optional[str]) -> List[str]:
    """ONNX node names in an inspector ``Metadata`` string: ``[ONNX Layer: a]<sep>[ONNX Layer: b]``, the
    separator U+001E (TensorRT 8.6) or U+001F (10.x); other frameworks' entries are skipped."""
    out = []
    for seg in re.split(r"[\x1e\x1f\n]", meta or ""):
        m = _ONNX_LAYER.match(seg.strip())
        if m and m.group(1):
            out.append(m.group(1))
    return out


def _split_top(text: str, sep: str) -> List[str]:
    """``text`` split on ``sep`` outside (), [] and {}."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def name_atoms(name: str) -> List[str]:
    """The names a fused layer name is made of: ``w + QuantizeLinear_7 + Conv_9 + PWN(Clip_13)`` ->
    [w, QuantizeLinear_7, Conv_9, Clip_13]; ``PWN(PWN(Sigmoid_5), Mul_6)`` -> [Sigmoid_5, Mul_6]; a Myelin
    ``{ForeignNode[A...B]}`` stays one atom."""
    out: List[str] = []
    for part in _split_top(strip_profile(name), " + "):
        if part.startswith("PWN(") and part.endswith(")"):
            for inner in _split_top(part[4:-1], ", "):
                out += name_atoms(inner)
        else:
            out.append(part)
    return out


class OnnxIndex:
    """What the mapping needs of an ONNX graph (no weights): node names in file (topological) order, op
    types, producers of tensors, and the nodes computed from constants alone (folded by the builder)."""

    def __init__(self, model) -> None:
        g = model.graph
        nodes = list(g.node)
        self.names = [n.name or "{}({})".format(n.op_type, n.output[0] if n.output else i) for i, n in enumerate(nodes)]
        self.ops = [n.op_type for n in nodes]
        self.by_name = {n.name: i for i, n in enumerate(nodes) if n.name}
        self.producer: Dict[str, int] = {t: i for i, n in enumerate(nodes) for t in n.output if t}
        self.consumers: Dict[int, Set[int]] = {}
        for i, n in enumerate(nodes):
            for t in n.input:
                if t in self.producer:
                    self.consumers.setdefault(self.producer[t], set()).add(i)
        consts = {t.name for t in g.initializer} | {t.name for t in g.sparse_initializer}
        self.folded: Set[int] = set()
        for i, n in enumerate(nodes):  # file order is topological: a node's producers come first
            if n.op_type.startswith("Random"):
                continue
            if all(not t or t in consts or (t in self.producer and self.producer[t] in self.folded) for t in n.input):
                self.folded.add(i)

    @classmethod
    def load(cls, path) -> "OnnxIndex":
        import onnx

        return cls(onnx.load(str(path), load_external_data=False))

    def resolve(self, atom: str) -> Optional[int]:
        """The ONNX node an atom of a layer name stands for: the node of that name, the node producing a
        tensor of that name, or the node a ``reshape_before_X``-style piece was made for; else None."""
        atom = strip_profile(atom)
        for cand in [atom] + [atom[len(p):] for p in _AROUND if atom.startswith(p)]:
            if cand in self.by_name:
                return self.by_name[cand]
            if cand in self.producer:
                return self.producer[cand]
        return None


def map_layers(layers: Sequence[Dict[str, Any]], idx: Optional[OnnxIndex]) -> List[Tuple[List[str], str]]:
    """Per layer: (ONNX node names, how they were found: metadata / name / range / none). Metadata wins;
    else the name's atoms; a Myelin range takes the nodes between its ends that no other layer names. Without
    an ONNX graph (``idx`` None) names are taken as written."""
    explicit: List[List[int]] = []
    ranges: List[List[Tuple[int, int]]] = []
    free: List[List[str]] = []
    how: List[str] = []
    for layer in layers:
        name = strip_profile(str(layer.get("Name", "")))
        meta = metadata_nodes(layer.get("Metadata"))
        mine: List[int] = []
        spans: List[Tuple[int, int]] = []
        raw: List[str] = []
        if reformat_target(name) is not None:
            how.append("layout")
        elif meta:
            how.append("metadata")
            for n in meta:
                i = idx.resolve(n) if idx else None
                if i is not None:
                    mine.append(i)
                elif idx is None:
                    raw.append(n)
        else:
            kind = "none"
            for atom in name_atoms(name):
                m = _FOREIGN.match(atom)
                ends = m.group(1).split("...", 1) if m else [atom]
                if idx is None:
                    good = [e for e in ends if e and not e.startswith("(Unnamed Layer")]
                    raw += good
                    kind = "name" if good else kind
                    continue
                # a range end may itself be fused (``onnx::MatMul_5 + (Unnamed Layer* 5) [Shuffle]``): its first
                # resolvable atom starts the range, the last one ends it
                found = [next((f for f in (idx.resolve(a) for a in (name_atoms(e)[::-1 if k else 1] if m else [e]))
                               if f is not None), None) for k, e in enumerate(ends)]
                hits = [f for f in found if f is not None]
                if m and len(hits) == 2:
                    spans.append((min(hits), max(hits)))
                    kind = "range" if kind == "none" else kind
                else:
                    mine += hits
                    kind = "name" if hits else kind
            how.append(kind)
        explicit.append(mine)
        ranges.append(spans)
        free.append(raw)
    claimed = {i for mine in explicit for i in mine}
    if idx is not None:  # a Q/DQ node no layer names, all of whose consumers one layer holds, was fused into it
        owner = {i: k for k, mine in enumerate(explicit) for i in mine}
        for i in sorted(set(range(len(idx.ops))) - claimed - idx.folded, reverse=True):
            holders = {owner.get(c) for c in idx.consumers.get(i, ())}
            if idx.ops[i] in QDQ_OPS and len(holders) == 1 and None not in holders:
                k = holders.pop()
                if k is not None:
                    explicit[k].append(i)
                    owner[i] = k
                    claimed.add(i)
    out: List[Tuple[List[str], str]] = []
    for mine, spans, raw, h in zip(explicit, ranges, free, how):
        nodes = list(mine)
        for lo, hi in spans:
            nodes += [i for i in range(lo, hi + 1) if i not in claimed and idx is not None and i not in idx.folded]
        nodes = sorted(set(nodes))
        if idx is None:
            out.append((list(dict.fromkeys(raw)), h if raw or h == "layout" else "none"))
        else:
            # the layer's own nodes first, then the Quantize/Dequantize nodes TensorRT folded into it
            order = [i for i in nodes if idx.ops[i] not in QDQ_OPS] + [i for i in nodes if idx.ops[i] in QDQ_OPS]
            out.append(([idx.names[i] for i in order], h if order or h == "layout" else "none"))
    return out


def _dtype_precision(fmt: str) -> Optional[str]:
    f = fmt.lower()
    for key, prec in (("int8", "int8"), ("fp8", "fp8"), ("bf16", "bf16"), ("fp16", "fp16"), ("half", "fp16"),
                      ("fp32", "fp32"), ("float", "fp32"), ("int32", "int32"), ("int64", "int64"), ("bool", "bool")):
        if key in f:
            return prec
    return None


def layer_precision(layer: Dict[str, Any], ops: Sequence[str]) -> str:
    """fp32 / fp16 / int8 / q/dq / layout for one engine layer, from the inspector's tensor formats and weight
    type; 'unknown' where the engine carries no details (built without DETAILED profiling verbosity)."""
    name = str(layer.get("Name", ""))
    if reformat_target(name) is not None or layer.get("Origin") == "REFORMAT":
        return "layout"
    if layer.get("Origin") == "QDQ" or (ops and all(o in QDQ_OPS for o in ops)):
        return "q/dq"
    weights = layer.get("Weights")
    if isinstance(weights, dict) and str(weights.get("Type", "")).lower() == "int8":
        return "int8"
    for io in list(layer.get("Inputs") or []) + list(layer.get("Outputs") or []):
        p = _dtype_precision(str(io.get("Format/Datatype", ""))) if isinstance(io, dict) else None
        if p in ("int8", "fp8", "fp16", "bf16", "fp32"):
            return p
    return "unknown"


def _shape(layer: Dict[str, Any], key: str) -> Optional[List[int]]:
    t = layer.get(key) or []
    return list(t[0].get("Dimensions") or []) or None if t and isinstance(t[0], dict) else None


def parse_engine_information(text: str) -> List[Dict[str, Any]]:
    """The inspector's engine JSON as a list of layer dicts. TensorRT writes the Metadata separators as raw
    control characters (json strict mode refuses them); a LAYER_NAMES_ONLY engine lists bare names."""
    try:
        data = json.loads(text, strict=False) if text and text.strip() else {}
    except ValueError as e:
        raise EdgenasError("TensorRT's engine inspector returned unreadable JSON ({}); rebuild the engine".format(e))
    layers = data.get("Layers", []) if isinstance(data, dict) else []
    return [dict(x, Name=strip_profile(str(x.get("Name", "")))) if isinstance(x, dict) else {"Name": strip_profile(str(x))}
            for x in layers]


def build_rows(layers: Sequence[Dict[str, Any]], idx: Optional[OnnxIndex],
               module_of: Callable[[str], Optional[str]] = lambda n: None) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Rows (one per engine layer that is not layout glue, in engine order) and mapping facts. A reformat layer
    joins the row of the layer it feeds as a glue kernel (layout time); one that feeds no known layer is a row
    of its own."""
    mapped = map_layers(layers, idx)
    rows: List[Dict[str, Any]] = []
    by_name: Dict[str, Dict[str, Any]] = {}
    glue: List[Tuple[Dict[str, Any], str]] = []
    for layer, (nodes, how) in zip(layers, mapped):
        name = str(layer["Name"])
        ops = [idx.ops[idx.by_name[n]] for n in nodes if n in idx.by_name] if idx else []
        if how == "layout" or layer.get("Origin") == "REFORMAT":
            glue.append((layer, reformat_target(name) or ""))
            continue
        mods = [m for m in (module_of(n) for n in nodes) if m]
        mods = [m for m in mods if m != "(root)"] or mods
        row: Dict[str, Any] = {"kernels": [name], "glue_kernels": [], "onnx_nodes": nodes, "op_types": list(dict.fromkeys(ops)),
               "kernel_op": str(layer.get("LayerType") or "?"), "precision": layer_precision(layer, ops),
               "module": mods[0] if mods else None, "input_shape": _shape(layer, "Inputs"),
               "output_shape": _shape(layer, "Outputs"), "mapped_by": how, "tactic": layer.get("TacticName")}
        rows.append(row)
        by_name[name] = row
    for layer, target in glue:
        grow = by_name.get(strip_profile(target))
        if grow is None:
            grow = {"kernels": [], "glue_kernels": [], "onnx_nodes": [], "op_types": [], "kernel_op": "Reformat",
                   "precision": "layout", "module": None, "input_shape": _shape(layer, "Inputs"),
                   "output_shape": _shape(layer, "Outputs"), "mapped_by": "layout", "tactic": None}
            rows.append(grow)
        grow["kernels"].append(layer["Name"])
        grow["glue_kernels"].append(layer["Name"])
    covered = {n for r in rows for n in r["onnx_nodes"]}
    lost = [n for i, n in enumerate(idx.names) if n not in covered and i not in idx.folded] if idx else []
    facts = {"onnx_nodes": len(idx.names) if idx else None, "folded_nodes": len(idx.folded - {
                 idx.by_name[n] for n in covered if n in idx.by_name}) if idx else None,
             "unmapped_nodes": lost, "unmapped_kernels": [r["kernels"][0] for r in rows if not r["onnx_nodes"]],
             "engine_layers": len(layers), "optimized_nodes": len(layers),
             "mapped_by": {h: sum(1 for _, x in mapped if x == h) for h in sorted({x for _, x in mapped})},
             "inspector_details": any("LayerType" in layer for layer in layers),
             "metadata": any(metadata_nodes(layer.get("Metadata")) for layer in layers),
             "torch_scopes": any(module_of(n) not in (None, "(root)") for n in (idx.names if idx else []))}
    return rows, facts


def timed_rows(rows: List[Dict[str, Any]], rounds: Dict[int, List[Dict[str, float]]]) -> float:
    """Fill each row's statistics from the per-run layer times; returns the median per-run layer sum."""
    ordered = [rounds[r] for r in sorted(rounds)]
    for row in rows:
        s = stats([[sum(run.get(k, 0.0) for k in row["kernels"]) for run in rr] for rr in ordered])
        row.update({k: round(v, 5) if isinstance(v, float) else v for k, v in s.items()})
        g = [[sum(run.get(k, 0.0) for k in row["glue_kernels"]) for run in rr] for rr in ordered]
        row["layout_ms"] = round(stats(g)["median_ms"], 5) if row["glue_kernels"] else 0.0
    return stats([[sum(run.values()) for run in rr] for rr in ordered])["median_ms"]


def summarize(rows: List[Dict[str, Any]], facts: Dict[str, Any], run_sum: float, e2e: Dict[str, float]) -> Dict[str, Any]:
    """The figures the report shows: shares, coverage (time mapped to ONNX nodes), layout share, by precision."""
    total = sum(r["median_ms"] for r in rows) or 1e-12
    for r in rows:
        r["share_pct"] = round(100.0 * r["median_ms"] / total, 3)
    by_prec: Dict[str, float] = {}
    for r in rows:
        by_prec[r["precision"]] = round(by_prec.get(r["precision"], 0.0) + r["median_ms"] - r["layout_ms"], 5)
        by_prec["layout"] = round(by_prec.get("layout", 0.0) + r["layout_ms"], 5)
    return {"kernel_sum_ms": round(run_sum, 5), "layer_median_sum_ms": round(total, 5),
            "raw_kernel_sum_ms": round(run_sum, 5), "raw_sum_over_e2e": round(run_sum / e2e["median_ms"], 4),
            "profiler_overhead_us_per_kernel": None, "sum_over_e2e": round(run_sum / e2e["median_ms"], 4),
            "overhead_ms": round(e2e["median_ms"] - run_sum, 5),
            "coverage": round(sum(r["median_ms"] for r in rows if r["onnx_nodes"]) / total, 4),
            "module_coverage": round(sum(r["median_ms"] for r in rows if r["module"]) / total, 4)
            if facts["torch_scopes"] else None,
            "layout_share": round(by_prec.get("layout", 0.0) / total, 4), "by_precision_ms": by_prec}


def rounds_of(runs: List[Dict[str, float]], tags: List[Tuple[int, bool]]) -> Dict[int, List[Dict[str, float]]]:
    """Per round, the timed profiled runs ({layer: ms}); ``tags`` (round, timed) come from the interleaving."""
    if len(runs) != len(tags):
        raise EdgenasError("TensorRT's profiler reported {} runs but {} were made; profile again".format(len(runs), len(tags)))
    out: Dict[int, List[Dict[str, float]]] = {}
    for (r, timed), run in zip(tags, runs):
        if timed:
            out.setdefault(r, []).append(run)
    return out
