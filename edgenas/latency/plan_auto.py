"""Which layers of your own model should run INT8 on ONNX Runtime: a per-group precision plan chosen from
measurements of this model on this board (board side: numpy, onnx, onnxruntime; no torch).

A group is one fused kernel of the FP32 model as ORT runs it (Conv+BN+ReLU, Conv+Add+ReLU, ...: a row of
its in-context profile). From one interleaved profile of the all-FP32 and the all-INT8 model each group gets
its FP32 time and its INT8 time (the INT8 kernels mapped back to its nodes, with the Quantize/Dequantize
kernels of the tensors it produces), and a switch between precisions on a tensor of N elements costs what
the INT8 model's own Quantize/Dequantize kernels cost per element. Every group also gets its measured error:
the SQNR of its output in the all-INT8 model against FP32 on the calibration data, and how much of it the
group itself loses (output SQNR minus input SQNR).

Candidates: all-FP32, all-INT8, and mixed plans found greedily on that cost model (from all-INT8 and from
all-FP32, flipping one group at a time while the predicted latency falls) and the plan of groups that gain
on their own; a candidate outside the accuracy tolerance is repaired by keeping its most damaging groups in
float. Every candidate is then built and timed whole, all of them interleaved in one run, and checked on
the calibration data: the fastest one inside the tolerance ships, and a mixed plan only when it beats the
faster pure one by more than the noise margin. The cost model only proposes; the measurement decides.
"""

import math
from collections import Counter
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np

from ..errors import EdgenasError

WEIGHTED = ("Conv", "ConvTranspose", "MatMul", "Gemm")
QDQ = ("QuantizeLinear", "DequantizeLinear")
PLAN_FORMAT = "edgenas.node_plan/1"


def check_quantizable(model, path) -> None:
    """An FP32 model with at least one float Conv/ConvTranspose/MatMul/Gemm weight, not already quantized."""
    import onnx

    ops = Counter(n.op_type for n in model.graph.node)
    done = sum(v for k, v in ops.items() if k in QDQ or k.startswith("QLinear") or k in ("ConvInteger", "MatMulInteger"))
    if done:
        raise EdgenasError("{} is already quantized ({} Q/DQ or integer ops); give its FP32 model to quantize".format(path, done))
    floats = {i.name for i in model.graph.initializer if i.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16,
                                                                          onnx.TensorProto.DOUBLE)}
    weighted = [n for n in model.graph.node if n.op_type in WEIGHTED and any(t in floats for t in n.input[1:])]
    if not weighted:
        raise EdgenasError("{} has no float ops to quantize (no Conv, ConvTranspose, MatMul or Gemm with float weights; its "
                           "ops: {}); INT8 would change nothing, deploy it as FP32".format(
                               path, ", ".join(sorted(ops)) or "none"))


def check_plan_nodes(plan: Dict[str, Any], model, path) -> List[str]:
    """The FP32 node names of a stored node plan, each checked against the model."""
    if not isinstance(plan, dict) or not isinstance(plan.get("fp32_nodes"), list):
        raise EdgenasError("a node precision plan is a JSON object with an 'fp32_nodes' list (the sidecar quantize --plan "
                           "auto writes); got {}".format(type(plan).__name__))
    names = {n.name for n in model.graph.node}
    bad = [n for n in plan["fp32_nodes"] if n not in names]
    if bad:
        from ..errors import suggest

        raise EdgenasError("the precision plan names {} node(s) {} does not have: {}{}; it was made for another model".format(
            len(bad), path, ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else ""), suggest(str(bad[0]), names)))
    return [str(n) for n in plan["fp32_nodes"]]


def tensor_sizes(model, feeds: Dict[str, np.ndarray]) -> Dict[str, int]:
    """Elements of every tensor shape inference can size, with the inputs at the fed shapes."""
    import copy

    import onnx

    m = copy.deepcopy(model)
    for i in m.graph.input:
        if i.name in feeds:
            dims = i.type.tensor_type.shape.dim
            for d, s in zip(dims, feeds[i.name].shape):
                d.ClearField("dim_param")
                d.dim_value = int(s)
    try:
        m = onnx.shape_inference.infer_shapes(m)
    except Exception:
        pass
    out = {}
    for v in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input):
        dims = [d.dim_value for d in v.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            out[v.name] = int(np.prod(dims))
    return out


class CostModel:
    """Predicted latency of a plan: each group at its measured FP32 or INT8 time, plus a Quantize or
    Dequantize on every tensor where the precision changes."""

    def __init__(self, groups: List[Dict[str, Any]], fp32_model, int8_prof: Dict[str, Any], int8_model,
                 sizes: Dict[str, int]) -> None:
        self.groups = groups
        node_group = {n: gi for gi, g in enumerate(groups) for n in g["nodes"]}
        nodes = list(fp32_model.graph.node)
        producer = {t: n.name for n in nodes for t in n.output}
        consumers: Dict[str, List[str]] = {}
        for n in nodes:
            for t in n.input:
                consumers.setdefault(t, []).append(n.name)
        # the FP32 tensor each Q/DQ node of the INT8 model converts
        q_src = {n.output[0]: n.input[0] for n in int8_model.graph.node if n.op_type == "QuantizeLinear"}
        qdq_tensor = {}
        for n in int8_model.graph.node:
            if n.op_type == "QuantizeLinear":
                qdq_tensor[n.name] = n.input[0]
            elif n.op_type == "DequantizeLinear":
                qdq_tensor[n.name] = q_src.get(n.input[0], n.input[0])

        def group_of_tensor(t: str) -> Optional[int]:
            if t in producer and producer[t] in node_group:
                return node_group[producer[t]]
            return next((node_group[c] for c in consumers.get(t, []) if c in node_group), None)

        self.f = np.array([g["fp32_ms"] for g in groups], dtype=float)
        self.q = np.zeros(len(groups))
        per_elem: Dict[str, List[float]] = {"QuantizeLinear": [], "DequantizeLinear": []}
        for row in int8_prof["rows"]:
            real = [n for n in row["onnx_nodes"] if n in node_group]
            if real:
                gs = Counter(node_group[n] for n in real)
                for gi, c in gs.items():
                    self.q[gi] += row["median_ms"] * c / len(real)
                continue
            tensors = [qdq_tensor[n] for n in row["onnx_nodes"] if n in qdq_tensor]
            targets = [g for g in (group_of_tensor(t) for t in tensors) if g is not None]
            if targets:
                for gi in targets:
                    self.q[gi] += row["median_ms"] / len(targets)
            if row["kernel_op"] in per_elem and row["output_shape"]:
                per_elem[row["kernel_op"]].append((max(1, int(np.prod(row["output_shape"]))), row["median_ms"]))
        self.q = np.where(self.q > 0, self.q, self.f)  # a group with no INT8 kernel of its own runs as it did
        self.c_q = self._fit(per_elem["QuantizeLinear"])
        self.c_dq = self._fit(per_elem["DequantizeLinear"])
        # edges between groups: (producer group, consumer groups, elements)
        self.edges: List[Tuple[int, List[int], int]] = []
        for n in nodes:
            if n.name not in node_group:
                continue
            a = node_group[n.name]
            for t in n.output:
                cons = sorted({node_group[c] for c in consumers.get(t, []) if c in node_group and node_group[c] != a})
                if cons:
                    self.edges.append((a, cons, sizes.get(t, 0) or int(np.prod(groups[a].get("output_shape") or [1]))))
        self.by_group: Dict[int, List[int]] = {}
        for ei, (a, cons, _) in enumerate(self.edges):
            for g in [a] + cons:
                self.by_group.setdefault(g, []).append(ei)

    @staticmethod
    def _fit(points: List[Tuple[int, float]]) -> Tuple[float, float]:
        """(ms per kernel, ms per element) of a Quantize or Dequantize, from the INT8 model's own standalone ones
        (a fixed cost per kernel dominates small tensors); a guess where it has none."""
        if not points:
            return 0.004, 2e-7
        n = np.array([p[0] for p in points], dtype=float)
        ms = np.array([p[1] for p in points], dtype=float)
        fixed = float(ms.min()) if len(ms) > 1 else 0.0
        big = n > 4 * n.min() if len(n) > 1 else np.ones(len(n), dtype=bool)
        per = float(np.median(np.maximum(ms[big] - fixed, 0.0) / n[big])) if big.any() else 2e-7
        return fixed, per

    def _edge(self, ei: int, int8: np.ndarray) -> float:
        a, cons, n = self.edges[ei]
        if int8[a] and any(not int8[c] for c in cons):
            return self.c_dq[0] + self.c_dq[1] * n
        if not int8[a] and any(int8[c] for c in cons):
            return self.c_q[0] + self.c_q[1] * n
        return 0.0

    def predict(self, int8: np.ndarray) -> float:
        return float(np.where(int8, self.q, self.f).sum() + sum(self._edge(e, int8) for e in range(len(self.edges))))

    def greedy(self, start: np.ndarray, frozen: Set[int]) -> np.ndarray:
        """Flip the single group that lowers the prediction most, until none does (``frozen`` stay FP32)."""
        plan = start.copy()
        for _ in range(4 * len(plan)):
            best, best_d = None, -1e-9
            for g in range(len(plan)):
                if g in frozen and not plan[g]:
                    continue
                es = self.by_group.get(g, [])
                before = sum(self._edge(e, plan) for e in es) + (self.q[g] if plan[g] else self.f[g])
                plan[g] = not plan[g]
                after = sum(self._edge(e, plan) for e in es) + (self.q[g] if plan[g] else self.f[g])
                plan[g] = not plan[g]
                if after - before < best_d:
                    best, best_d = g, after - before
            if best is None:
                break
            plan[best] = not plan[best]
        return plan


def groups_from_profile(prof: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [{"nodes": list(r["onnx_nodes"]), "fp32_ms": r["median_ms"], "module": r["module"], "op_types": r["op_types"],
             "output_shape": r["output_shape"]} for r in prof["rows"] if r["onnx_nodes"]]


def group_errors(groups: List[Dict[str, Any]], fp32_model, sqnr: Dict[str, float]) -> None:
    """Each group's output SQNR in the all-INT8 model (dB; lower is worse) and the SQNR it loses itself."""
    node_group = {n: gi for gi, g in enumerate(groups) for n in g["nodes"]}
    nodes = {n.name: n for n in fp32_model.graph.node}
    producer = {t: n.name for n in fp32_model.graph.node for t in n.output}
    for gi, g in enumerate(groups):
        outs = [t for n in g["nodes"] for t in nodes[n].output if t in sqnr]
        ins = [t for n in g["nodes"] for t in nodes[n].input if t in sqnr and node_group.get(producer.get(t, ""), -1) != gi]
        s_out = min((sqnr[t] for t in outs), default=None)
        s_in = min((sqnr[t] for t in ins), default=60.0)
        g["sqnr_db"] = None if s_out is None else round(float(s_out), 2)
        g["sqnr_loss_db"] = None if s_out is None else round(float(max(0.0, min(s_in, 60.0) - s_out)), 2)


def candidates(cost: CostModel, frozen: Set[int]) -> Dict[str, np.ndarray]:
    n = len(cost.groups)
    all8 = np.array([g not in frozen for g in range(n)])
    none = np.zeros(n, dtype=bool)
    out = {"fp32": none, "int8": all8}
    for name, plan in (("greedy-from-int8", cost.greedy(all8, frozen)), ("greedy-from-fp32", cost.greedy(none, frozen)),
                       ("gainers", np.array([cost.q[g] < cost.f[g] and g not in frozen for g in range(n)]))):
        if not any(np.array_equal(plan, p) for p in out.values()):
            out[name] = plan
    return out


def repaired(plan: np.ndarray, groups: List[Dict[str, Any]], frac: float) -> np.ndarray:
    """``plan`` with its most damaging INT8 groups (largest SQNR loss) kept in float: ``frac`` of them."""
    q = [g for g in range(len(plan)) if plan[g] and groups[g].get("sqnr_loss_db") is not None]
    k = max(1, int(math.ceil(frac * len(q))))
    worst = sorted(q, key=lambda g: -groups[g]["sqnr_loss_db"])[:k]
    out = plan.copy()
    out[worst] = False
    return out


def output_errors(ref: Dict[str, np.ndarray], out: Dict[str, np.ndarray]) -> Dict[str, Dict[str, float]]:
    """Per output: relative L2 error ||out - ref|| / ||ref|| over all samples, max abs error, min cosine."""
    res = {}
    for k, r in ref.items():
        o = out[k].astype(np.float64).reshape(len(out[k]), -1)
        rr = r.astype(np.float64).reshape(len(r), -1)
        den = float(np.linalg.norm(rr)) or 1.0
        cos = np.sum(o * rr, 1) / (np.linalg.norm(o, axis=1) * np.linalg.norm(rr, axis=1) + 1e-30)
        res[k] = {"rel_l2": round(float(np.linalg.norm(o - rr)) / den, 6), "max_abs": round(float(np.abs(o - rr).max()), 6),
                  "cosine_min": round(float(cos.min()), 6)}
    return res


def within(errors: Dict[str, Dict[str, float]], tolerance: Dict[str, float]) -> bool:
    """Every output's relative L2 error within its tolerance ({output or '': max rel L2})."""
    return all(e["rel_l2"] <= tolerance.get(k, tolerance.get("", float("inf"))) for k, e in errors.items())
