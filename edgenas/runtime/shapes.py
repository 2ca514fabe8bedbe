"""Input shape ranges for models with dynamic dims: TensorRT optimization profiles, and the shapes every
other stage (ONNX Runtime timing, calibration, validation) runs at. Board side: numpy + onnx, Python 3.8.

Syntax (the ``--shapes`` flag, a pipeline file's ``shapes:``; trtexec's --minShapes/--optShapes/--maxShapes
in one)::

    x:1x3x32x32,1x3x640x640,1x3x1536x1536     min, opt, max of input x
    x:1x3x640x640                             min = opt = max (the --input-shape form)
    1x3x32x32,1x3x640x640,1x3x1536x1536       the name left out: a one-input model

Repeat the flag for more inputs; naming an input a second time starts a new profile (TensorRT picks, per
inference, the first profile whose ranges cover the input). A mapping {name: "MIN,OPT,MAX" or [min, opt,
max]} is one profile, a list of mappings several.

``check_profiles`` checks coverage (every dynamic dim has a range in every profile), min <= opt <= max and
the model's fixed dims; ``infer_problems`` runs ONNX shape inference with the inputs fixed at min, opt and
max and names the node that rejects a size (a broadcast of mismatched dims, a Reshape to a fixed size, a
dim that shrinks to zero). Shape inference only sees those three points: a size between them that a
model rejects (an odd size under a 2x upsample + Add) is found at run time.
"""

import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import EdgenasError, suggest

Dim = Union[int, str, None]              # a fixed size, or a dynamic dim (its symbol, None, -1 or 0)
Shape = Tuple[int, ...]
Range = Tuple[Shape, Shape, Shape]       # min, opt, max
Profile = "OrderedDict[str, Range]"      # input name -> range (every dynamic input of the model)
WHICH = ("min", "opt", "max")


def is_dynamic(d: Dim) -> bool:
    return not (isinstance(d, int) and d > 0)


def show(shape: Sequence[Any]) -> str:
    return "x".join("?" if is_dynamic(d) else str(int(d)) for d in shape)  # type: ignore[arg-type]


def show_dims(dims: Sequence[Dim]) -> str:
    return "[{}]".format(", ".join(str(d) if not is_dynamic(d) else str(d or "?") for d in dims))


def model_inputs(model) -> "OrderedDict[str, List[Dim]]":
    """{input name: dims} of an ONNX model (a ModelProto or a path; initializers left out), dynamic dims
    as their symbol or None. A ModelIO-like object (``.inputs`` of (name, dims, ...)) or a mapping pass through."""
    if isinstance(model, Mapping):
        return OrderedDict((str(k), list(v)) for k, v in model.items())
    if hasattr(model, "inputs") and not hasattr(model, "graph"):
        return OrderedDict((t[0], list(t[1])) for t in model.inputs)
    if not hasattr(model, "graph"):
        model = _load(model)
    inits = {i.name for i in model.graph.initializer}
    out: "OrderedDict[str, List[Dim]]" = OrderedDict()
    for v in model.graph.input:
        if v.name in inits:
            continue
        out[v.name] = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
                       for d in v.type.tensor_type.shape.dim]
    return out


def _load(path):
    try:
        import onnx
    except ImportError:
        raise EdgenasError("reading a model's input shapes needs the onnx package: pip install onnx")
    try:
        return onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise EdgenasError("ONNX file {} does not exist".format(path))
    except Exception as e:
        raise EdgenasError("{} is not a readable ONNX model ({}); re-export it".format(path, type(e).__name__))


def dynamic_dims(inputs: Mapping[str, Sequence[Dim]]) -> "OrderedDict[str, List[int]]":
    """{input: [indices of its dynamic dims]} for the inputs that have any."""
    out: "OrderedDict[str, List[int]]" = OrderedDict()
    for name, dims in inputs.items():
        dyn = [i for i, d in enumerate(dims) if is_dynamic(d)]
        if dyn:
            out[name] = dyn
    return out


def _dims(text: str, item: str, flag: str) -> Shape:
    if not re.fullmatch(r"\s*\d+(\s*x\s*\d+)*\s*", text) or any(int(d) < 1 for d in text.split("x")):
        raise EdgenasError("{} {}: give positive sizes joined by x, e.g. x:1x3x32x32,1x3x640x640,1x3x1536x1536 "
                           "(MIN,OPT,MAX) or x:1x3x640x640".format(flag, item))
    return tuple(int(d) for d in text.split("x"))


def _range(raw: Any, item: str, flag: str) -> Range:
    if isinstance(raw, (list, tuple)) and raw and all(isinstance(v, int) for v in raw):
        raw = "x".join(str(v) for v in raw)  # one shape as a list of ints
    if isinstance(raw, (list, tuple)):
        parts = ["x".join(str(v) for v in p) if isinstance(p, (list, tuple)) else str(p) for p in raw]
    else:
        parts = str(raw).split(",")
    if len(parts) not in (1, 3):
        raise EdgenasError("{} {}: give one shape or three (MIN,OPT,MAX), not {}".format(flag, item, len(parts)))
    shapes = [_dims(p, item, flag) for p in parts]
    if len(shapes) == 1:
        shapes *= 3
    if len({len(s) for s in shapes}) > 1:
        raise EdgenasError("{} {}: MIN, OPT and MAX have different numbers of dims ({}); give all dims in each".format(
            flag, item, ", ".join(str(len(s)) for s in shapes)))
    return shapes[0], shapes[1], shapes[2]


def parse_shapes(values, inputs, flag: str = "--shapes") -> List["OrderedDict[str, Range]"]:
    """Profiles from ``values`` (see the module docstring), names checked against the model's ``inputs``
    (anything model_inputs reads). Only syntax and names are checked here; check_profiles does the rest."""
    if values in (None, "", [], {}):
        return []
    ins = model_inputs(inputs)
    names = list(ins)
    groups: List[List[Tuple[str, Any, str]]] = []  # one list of (name, raw range, shown item) per profile given as such
    if isinstance(values, Mapping):
        groups = [[(str(k), v, "{}:{}".format(k, v)) for k, v in values.items()]]
    else:
        flat: List[Tuple[str, Any, str]] = []
        for v in (values if isinstance(values, (list, tuple)) else [values]):
            if isinstance(v, Mapping):
                groups.append([(str(k), r, "{}:{}".format(k, r)) for k, r in v.items()])
                continue
            name, _, raw = str(v).rpartition(":")
            flat.append((name, raw, str(v)))
        if flat:
            groups.append(flat)
    profiles: List["OrderedDict[str, Range]"] = []
    for group in groups:
        current: "OrderedDict[str, Range]" = OrderedDict()
        for name, raw, item in group:
            if not name:
                if len(names) != 1:
                    raise EdgenasError("{} {}: the model has inputs {}; name one: {} {}:{}".format(
                        flag, item, ", ".join(names), flag, names[0], raw))
                name = names[0]
            if name not in ins:
                raise EdgenasError("{} {}: the model has no input '{}'{}; its inputs are {}".format(
                    flag, item, name, suggest(name, names), ", ".join("{} {}".format(n, show_dims(d)) for n, d in ins.items())))
            if name in current:  # a repeated name starts the next profile
                profiles.append(current)
                current = OrderedDict()
            current[name] = _range(raw, item, flag)
        if current:
            profiles.append(current)
    return profiles


def check_profiles(profiles: Sequence[Mapping[str, Range]], inputs, flag: str = "--shapes") -> List[str]:
    """One-line problems: a dynamic dim without a range (in any profile), min > opt or opt > max, a range on a
    fixed dim that differs from it, a wrong number of dims."""
    ins = model_inputs(inputs)
    dyn = dynamic_dims(ins)
    problems: List[str] = []
    if not profiles:
        for name, idx in dyn.items():
            problems.append("input '{}' {} has dynamic dims {} and no range; give {} {}:MIN,OPT,MAX, e.g. {}:{}".format(
                name, show_dims(ins[name]), idx, flag, name, name, _example(ins[name])))
        return problems
    for p, prof in enumerate(profiles):
        where = " in profile {}".format(p) if len(profiles) > 1 else ""
        for name, idx in dyn.items():
            if name not in prof:
                problems.append("input '{}' {} has dynamic dims {} and no range{}; give {} {}:MIN,OPT,MAX, e.g. {}:{}".format(
                    name, show_dims(ins[name]), idx, where, flag, name, name, _example(ins[name])))
        for name, (lo, opt, hi) in prof.items():
            dims = ins[name]
            item = "{} {}:{},{},{}".format(flag, name, show(lo), show(opt), show(hi))
            if len(lo) != len(dims):
                problems.append("{}: input '{}' is {} ({} dims) but the range has {} dims; give all of them".format(
                    item, name, show_dims(dims), len(dims), len(lo)))
                continue
            for i, d in enumerate(dims):
                if not is_dynamic(d) and not lo[i] == opt[i] == hi[i] == d:
                    problems.append("{}: dim {} is fixed at {} in the model (input '{}' is {}); only its dynamic dims {} "
                                    "can range".format(item, i, d, name, show_dims(dims), dyn.get(name, [])))
            bad = [(i, "min", lo[i], "opt", opt[i]) for i in range(len(lo)) if lo[i] > opt[i]]
            bad += [(i, "opt", opt[i], "max", hi[i]) for i in range(len(lo)) if opt[i] > hi[i]]
            for i, a, av, b, bv in bad[:1]:
                problems.append("{}{}: {} > {} at dim {} ({} > {}); give MIN <= OPT <= MAX in every dim".format(
                    item, where, a, b, i, av, bv))
    return problems


def _example(dims: Sequence[Dim]) -> str:
    def at(size: int) -> str:
        return "x".join(str(d) if not is_dynamic(d) else ("1" if i == 0 else str(size)) for i, d in enumerate(dims))
    return "{},{},{}".format(at(32), at(640), at(1536)) if len(dims) >= 3 else "{},{},{}".format(at(1), at(16), at(64))


def require_ok(profiles, inputs, flag: str = "--shapes") -> None:
    problems = check_profiles(profiles, inputs, flag)
    if problems:
        raise EdgenasError(problems[0] + (" (+{} more)".format(len(problems) - 1) if len(problems) > 1 else ""))


def resolve(values, inputs, flag: str = "--shapes") -> List["OrderedDict[str, Range]"]:
    """parse_shapes + require_ok; inputs with only fixed dims are filled in (min = opt = max = their shape)."""
    ins = model_inputs(inputs)
    profiles = parse_shapes(values, ins, flag)
    require_ok(profiles, ins, flag)
    for prof in profiles:
        for name, dims in ins.items():
            if name not in prof and not any(is_dynamic(d) for d in dims):
                s = tuple(int(d) for d in dims)  # type: ignore[arg-type]
                prof[name] = (s, s, s)
    return profiles


def at(profile: Mapping[str, Range], which: str) -> Dict[str, Shape]:
    """{input: shape} of a profile at 'min', 'opt' or 'max'."""
    return {n: r[WHICH.index(which)] for n, r in profile.items()}


def covers(r: Range, shape: Sequence[int]) -> bool:
    lo, _, hi = r
    return len(shape) == len(lo) and all(a <= s <= b for a, s, b in zip(lo, shape, hi))


def describe(profiles: Sequence[Mapping[str, Range]]) -> str:
    """'profile 0: x 1x3x32x32..1x3x1536x1536 (opt 1x3x640x640)' for every profile, joined by '; '."""
    return "; ".join("profile {}: {}".format(i, ", ".join("{} {}..{} (opt {})".format(n, show(r[0]), show(r[2]), show(r[1]))
                                                          for n, r in p.items())) for i, p in enumerate(profiles))


def select_profile(profiles: Sequence[Mapping[str, Range]], shapes: Mapping[str, Sequence[int]], where: str = "the engine") -> int:
    """Index of the first profile covering every input's shape in ``shapes``; an EdgenasError naming the
    ranges when none does."""
    for i, prof in enumerate(profiles):
        if all(covers(r, shapes[n]) for n, r in prof.items() if n in shapes):
            return i
    got = ", ".join("{} {}".format(n, show(s)) for n, s in shapes.items())
    raise EdgenasError("input {} is outside every optimization profile of {} ({}); resize the input into a range, or "
                       "rebuild with a --shapes range that covers it".format(got, where, describe(profiles)))


def to_json(profiles: Sequence[Mapping[str, Range]]) -> List[Dict[str, Dict[str, List[int]]]]:
    """[{input: {"min": [...], "opt": [...], "max": [...]}}] (the engine sidecar's ``build.profiles``)."""
    return [{n: {w: list(r[i]) for i, w in enumerate(WHICH)} for n, r in p.items()} for p in profiles]


def from_json(data) -> List["OrderedDict[str, Range]"]:
    return [OrderedDict((n, (tuple(r["min"]), tuple(r["opt"]), tuple(r["max"]))) for n, r in p.items()) for p in data or []]


# ---- ONNX shape inference at the extremes ----------------------------------------------------------------

def _fixed_copy(model, shapes: Mapping[str, Sequence[int]]):
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for v in m.graph.input:
        if v.name in shapes:
            dims = v.type.tensor_type.shape.dim
            for d, s in zip(dims, shapes[v.name]):
                d.Clear()
                d.dim_value = int(s)
    for v in list(m.graph.value_info):  # stale symbolic shapes would be merged with the new ones
        m.graph.value_info.remove(v)
    for o in m.graph.output:
        for d in o.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.Clear()
    return m


def _known(shapes: Dict[str, List[Optional[int]]], name: str) -> Optional[List[int]]:
    s = shapes.get(name)
    return [int(d) for d in s] if s is not None and all(d is not None for d in s) else None  # type: ignore[misc]


def _shape_table(model) -> Dict[str, List[Optional[int]]]:
    out: Dict[str, List[Optional[int]]] = {}
    for v in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        t = v.type.tensor_type
        if t.HasField("shape"):
            out[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return out


def _const_ints(model) -> Dict[str, List[int]]:
    from onnx import numpy_helper

    out = {}
    for i in model.graph.initializer:
        if i.data_type == 7 and len(i.dims) == 1 and (i.raw_data or i.int64_data):
            out[i.name] = [int(x) for x in numpy_helper.to_array(i)]
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value" and a.t.data_type == 7 and len(a.t.dims) == 1:
                    out[n.output[0]] = [int(x) for x in numpy_helper.to_array(a.t)]
    return out


def infer_at(model, shapes: Mapping[str, Sequence[int]]) -> Optional[str]:
    """The first problem ONNX shape inference finds with the inputs fixed at ``shapes`` (None: none), naming the
    node: a shape error in strict mode, a dim <= 0, a Reshape whose fixed target holds another number of values."""
    import onnx
    from onnx import shape_inference

    m = _fixed_copy(model, shapes)
    try:
        m = shape_inference.infer_shapes(m, check_type=False, strict_mode=True, data_prop=True)
    except Exception as e:  # onnx raises InferenceError / ValidationError with the op and node name in the text
        text = " ".join(str(e).split())
        hit = re.search(r"\(op_type:(\w+), node name: ([^)]*)\):\s*(.*)", text)
        if hit:
            msg = re.sub(r"^\[\w+\]\s*", "", hit.group(3))
            return "node '{}' ({}) rejects it: {}".format(hit.group(2), hit.group(1), msg[:200])
        return "ONNX shape inference fails: {}".format(text[:240])
    table = _shape_table(m)
    consts = _const_ints(m)
    for n in m.graph.node:
        for o in n.output:
            s = table.get(o)
            if s and any(d is not None and d <= 0 for d in s):
                return "node '{}' ({}) gives '{}' the shape {}: the input is too small for it".format(
                    n.name, n.op_type, o, show_dims([d if d is not None and d > 0 else 0 for d in s]))
        if n.op_type == "Reshape" and len(n.input) > 1 and n.input[1] in consts:
            src, target = _known(table, n.input[0]), list(consts[n.input[1]])
            if src is None:
                continue
            total = 1
            for d in src:
                total *= d
            zero_copies = not any(a.name == "allowzero" and a.i for a in n.attribute)
            tgt = [src[i] if (d == 0 and zero_copies and i < len(src)) else d for i, d in enumerate(target)]
            known = 1
            for d in tgt:
                known *= d if d > 0 else 1
            ok = total % known == 0 if -1 in tgt else total == known
            if not ok:
                return "node '{}' (Reshape) reshapes {} ({} values) to the fixed shape {}: the model works only at the " \
                       "size it was exported for".format(n.name, show_dims(list(src)), total, target)
    del onnx
    return None


def infer_problems(model, profiles: Sequence[Mapping[str, Range]], which: Sequence[str] = WHICH) -> List[str]:
    """infer_at at min / opt / max of every profile, as one-line problems naming the shape and the node."""
    if not hasattr(model, "graph"):
        model = _load(model)
    problems = []
    for p, prof in enumerate(profiles):
        for w in which:
            shapes = at(prof, w)
            bad = infer_at(model, shapes)
            if bad:
                problems.append("at the {} shape {}{}: {}; narrow the range (--shapes) to sizes the model takes".format(
                    w, ", ".join("{}:{}".format(n, show(s)) for n, s in shapes.items()),
                    " (profile {})".format(p) if len(profiles) > 1 else "", bad))
    return problems


def coverage(feed_shapes: Sequence[Mapping[str, Sequence[int]]], profiles: Sequence[Mapping[str, Range]],
             what: str = "calibration input") -> List[str]:
    """Check that every shape in ``feed_shapes`` lies in a profile (an EdgenasError naming the ranges otherwise),
    and say, per profile and dynamic dim, which part of the declared range the shapes span (a note per dim that
    does not reach both ends)."""
    spans: Dict[Tuple[int, str, int], List[int]] = {}
    for i, shapes in enumerate(feed_shapes):
        p = select_profile(profiles, shapes, "the --shapes ranges ({} {})".format(what, i))
        for name, r in profiles[p].items():
            for d, (lo, hi) in enumerate(zip(r[0], r[2])):
                if lo != hi and name in shapes:
                    spans.setdefault((p, name, d), []).append(int(shapes[name][d]))
    notes = []
    for p, prof in enumerate(profiles):
        for name, r in prof.items():
            for d, (lo, hi) in enumerate(zip(r[0], r[2])):
                if lo == hi:
                    continue
                seen = spans.get((p, name, d))
                if not seen:
                    notes.append("no {} falls in profile {} ({} {}..{}): its INT8 scales come from other sizes".format(
                        what, p, name, show(r[0]), show(r[2])))
                    break
                if min(seen) > lo or max(seen) < hi:
                    notes.append("{}s span {} dim {} = {}..{} of the declared {}..{}{}".format(
                        what, name, d, min(seen), max(seen), lo, hi, " (profile {})".format(p) if len(profiles) > 1 else ""))
    return notes
