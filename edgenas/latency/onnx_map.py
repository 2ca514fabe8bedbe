"""Map ONNX Runtime's kernels back to the nodes of the ONNX file they came from (board side: onnx, no torch).

ORT's profiler names the nodes of the *optimized* graph: with all optimizations on, only a few kernel
names equal an ONNX node name. Fused convolutions are named after a tensor plus ``_nchwc``
(``/relu/Relu_output_0_nchwc``), layout-transformed int8 ops after a node plus ``_token_N``, and layout
glue is new (``ReorderOutput``, ``Transpose_token_7``). Their tensors are renamed too (``reorder_token_N``),
so the mapping goes in two steps:

1. original -> extended-level graph (ORT's fusions without the layout stage), where tensors keep their
   ONNX names: every extended node covers the original nodes that produce its outputs and, walking
   back, every original node whose output vanished (fused away) until it reaches a tensor that still
   exists; constant subgraphs folded into initializers are ``folded``.
2. extended -> profiled graph (the layout stage): a node maps by name (exact, ``_token_N`` stripped, or
   ``<tensor>_nchwc``); an extended node the layout stage fused into a convolution (the residual Add and
   ReLU) joins the group of its latest-running producer; glue kernels (Reorder*, Transpose) are
   attributed to the neighbour they serve and counted as layout time.
"""

import re
from typing import Dict, List, Optional, Set, Tuple

GLUE_OPS = {"ReorderInput", "ReorderOutput", "Transpose"}
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
INT8_OPS = {"QGemm", "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool",
            "QLinearAveragePool", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearConcat", "QLinearSoftmax",
            "QLinearReduceMean", "QLinearWhere", "ConvInteger", "MatMulInteger", "MatMulIntegerToFloat",
            "DynamicQuantizeMatMul", "QAttention", "NhwcMaxPool", "QLinearConvTranspose"}


class Graph:
    """The parts of a GraphProto the mapping needs (no weights)."""

    def __init__(self, model) -> None:
        g = model.graph
        self.nodes = list(g.node)
        # an unnamed node (ORT inlines functions such as HardSwish into unnamed nodes) is shown by its output
        self.names = [n.name or "{}({})".format(n.op_type, n.output[0] if n.output else i) for i, n in enumerate(self.nodes)]
        self.by_name = {n.name: i for i, n in enumerate(self.nodes) if n.name}
        self.producer: Dict[str, int] = {}
        self.consumers: Dict[str, List[int]] = {}
        for i, n in enumerate(self.nodes):
            for t in n.output:
                if t:
                    self.producer[t] = i
            for t in n.input:
                if t:
                    self.consumers.setdefault(t, []).append(i)
        self.constants = {i.name for i in g.initializer} | {i.name for i in g.sparse_initializer}
        self.inputs = [i.name for i in g.input if i.name not in self.constants]
        self.outputs = [o.name for o in g.output]
        self.tensors: Set[str] = set(self.producer) | set(self.consumers) | self.constants | set(self.inputs)


def _folded(o: Graph) -> Set[int]:
    """Original nodes computed from constants alone (folded into initializers by the runtime)."""
    memo: Dict[int, bool] = {}

    def const(i: int, depth: int = 0) -> bool:
        if i in memo:
            return memo[i]
        if depth > 500:
            return False
        memo[i] = False
        ok = all(not t or t in o.constants or (t in o.producer and const(o.producer[t], depth + 1))
                 for t in o.nodes[i].input)
        memo[i] = ok and o.nodes[i].op_type not in ("RandomNormal", "RandomUniform", "RandomNormalLike",
                                                     "RandomUniformLike", "Multinomial")
        return memo[i]

    return {i for i in range(len(o.nodes)) if const(i)}


def map_extended(o: Graph, e: Graph) -> Tuple[Dict[int, List[int]], Set[int]]:
    """Step 1: {extended node index: original node indices it covers}, and the folded original nodes."""
    folded = _folded(o)
    claim: Dict[int, int] = {}
    cover: Dict[int, List[int]] = {}
    for ei, en in enumerate(e.nodes):
        seeds = [o.producer[t] for t in en.output if t in o.producer]
        if not seeds and e.names[ei] in o.by_name:
            seeds = [o.by_name[e.names[ei]]]
        stack, mine = list(seeds), []
        while stack:
            oi = stack.pop()
            if oi in claim or oi in folded and oi not in seeds:
                continue
            claim[oi] = ei
            mine.append(oi)
            for t in o.nodes[oi].input:
                if t and t not in e.tensors and t in o.producer:
                    stack.append(o.producer[t])
        cover[ei] = sorted(mine)
    return cover, folded


_TOKEN = re.compile(r"_token_\d+$")


def _match_layout(e: Graph, name: str, op: str, outputs: List[str]) -> Optional[int]:
    """The extended node a node of the profiled (layout-transformed) graph came from, or None for glue."""
    cands = [name, _TOKEN.sub("", name)]
    for c in cands:
        if c in e.by_name:
            ei = e.by_name[c]
            if op in GLUE_OPS and e.nodes[ei].op_type != op:
                return None
            return ei
    base = _TOKEN.sub("", name)
    if base.endswith("_nchwc") and base[:-6] in e.producer:
        return e.producer[base[:-6]]
    if op not in GLUE_OPS:
        for t in outputs:
            if t in e.producer:
                return e.producer[t]
    return None


def map_layout(e: Graph, l: Graph, order: Dict[int, int], covered: Set[int]
               ) -> Tuple[Dict[int, int], Dict[int, int], List[int]]:
    """Step 2: ({profiled node: group}, {extended node: group}, glue profiled nodes). A group is named by the index of its head
    extended node. ``order``: profiled node -> execution position (the profile's); ``covered``: extended nodes
    that cover original nodes (the others are pieces the runtime made, e.g. an inlined HardSwish's HardSigmoid)."""
    matched: Dict[int, int] = {}
    glue: List[int] = []
    for li, ln in enumerate(l.nodes):
        ei = _match_layout(e, ln.name, ln.op_type, list(ln.output))
        if ei is None:
            glue.append(li)
        else:
            matched[li] = ei
    e_group: Dict[int, int] = {ei: ei for ei in matched.values() if ei in covered}
    pos: Dict[int, int] = {}
    for li, ei in matched.items():  # the latest-running profiled node of each group
        if ei in e_group:
            pos[ei] = max(pos.get(ei, -1), order.get(li, li))
    changed = True
    while changed:  # a node the layout stage fused joins its latest-running producer; a made-up piece its consumer
        changed = False
        for ei, en in enumerate(e.nodes):
            if ei in e_group:
                continue
            prods = [e_group[e.producer[t]] for t in en.input if t in e.producer and e.producer[t] in e_group]
            cons = [e_group[c] for t in en.output for c in e.consumers.get(t, []) if c in e_group]
            pick = (cons or prods) if ei in matched.values() else (prods or cons)
            if pick:
                e_group[ei] = max(pick, key=lambda g: pos.get(g, -1))
                changed = True
    l_group = {li: e_group[ei] for li, ei in matched.items() if ei in e_group}
    attributed: Dict[int, int] = {}
    changed = True
    while changed:  # glue: the non-glue producer it reads from, else the non-glue consumer it feeds
        changed = False
        for li in glue:
            if li in attributed:
                continue
            ln = l.nodes[li]
            src = [l.producer[t] for t in ln.input[:1] if t in l.producer]
            dst = [c for t in ln.output for c in l.consumers.get(t, [])]
            for cand in src + dst:
                g = l_group.get(cand, attributed.get(cand))
                if g is not None:
                    attributed[li] = g
                    changed = True
                    break
    l_group.update(attributed)
    return l_group, e_group, glue


def kernel_nodes(order: List[str], ops: Dict[str, str], l: Graph) -> Dict[str, int]:
    """Kernel name -> profiled-graph node: by name, and for unnamed nodes (ORT names their kernels
    '<op>_<index>') the k-th unnamed kernel of an op in execution order is the k-th unnamed node of that op."""
    out: Dict[str, int] = {}
    unnamed: Dict[str, List[int]] = {}
    for i, n in enumerate(l.nodes):
        if not n.name:
            unnamed.setdefault(n.op_type, []).append(i)
    for k in order:
        if k in l.by_name:
            out[k] = l.by_name[k]
        elif unnamed.get(ops.get(k, "")):
            out[k] = unnamed[ops[k]].pop(0)
    return out


def torch_module(node_name: str) -> Optional[str]:
    """The torch module path a TorchScript-exported node name carries: '/layer1/layer1.0/conv1/Conv' ->
    'layer1.0.conv1'; '(root)' for an op of the model's own forward ('/Add'); None for a name without a scope."""
    parts = [p for p in node_name.split("/") if p]
    if not node_name.startswith("/") or not parts:
        return None
    if len(parts) == 1:
        return "(root)"
    full = prev = parts[0]
    for p in parts[1:-1]:  # a Sequential's child is scoped '<parent>.<index>'
        full = full + p[len(prev):] if p.startswith(prev + ".") else full + "." + p
        prev = p
    return full


def kernel_precision(op: str, input_types: List[str]) -> str:
    """fp32 / fp16 / int8 / q/dq for one kernel from its op and its input element types."""
    if op in QDQ_OPS:
        return "q/dq"
    if op in INT8_OPS or op.startswith("QLinear") or (input_types and input_types[0] in ("uint8", "int8")):
        return "int8"
    if input_types and input_types[0] in ("float16", "bfloat16"):
        return "fp16"
    return "fp32"
