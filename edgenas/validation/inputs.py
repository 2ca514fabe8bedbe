"""A model's inputs and outputs as the ONNX file declares them, and validation inputs checked against them:
from an ``.npz`` (one array per input name, optional ``labels``), or random data. Several inputs, dynamic
dims (``--input-shape name:1x3x224x224``), opsets 13-20, external-data files. Board side: numpy + onnx
(read without the weights), Python 3.8."""

import re
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from ..errors import EdgenasError, suggest

OPSETS = (13, 20)  # the opsets validation and the own-model pipeline are tested on
Dim = Union[int, str, None]  # a static size, or a dynamic dim (its symbolic name, or None)


class Tensor(NamedTuple):
    name: str
    dims: List[Dim]
    dtype: np.dtype

    def dynamic(self) -> List[int]:
        return [i for i, d in enumerate(self.dims) if not (isinstance(d, int) and d > 0)]

    def show(self) -> str:
        return "[{}]".format(", ".join(str(d) if isinstance(d, int) and d > 0 else str(d or "?") for d in self.dims))


class ModelIO(NamedTuple):
    path: str
    inputs: List[Tensor]
    outputs: List[Tensor]
    opset: Optional[int] = None
    external_data: bool = False

    def input(self, name: str) -> Tensor:
        return next(t for t in self.inputs if t.name == name)

    @property
    def input_names(self) -> List[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> List[str]:
        return [t.name for t in self.outputs]


def _np_dtype(elem_type: int) -> np.dtype:
    import onnx

    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except (AttributeError, KeyError, TypeError, ValueError):
        mapping = getattr(getattr(onnx, "mapping", None), "TENSOR_TYPE_TO_NP_TYPE", {})
        return np.dtype(mapping.get(elem_type, np.float32))


def onnx_io(path) -> ModelIO:
    """Inputs (initializers left out), outputs, the default-domain opset and whether weights live in
    external files: read from the graph alone, so a multi-GB external-data model costs nothing here. Without
    the onnx package (a board may lack it) ONNX Runtime reads the I/O instead (opset unknown)."""
    try:
        import onnx
    except ImportError:
        return _ort_io(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise EdgenasError("ONNX file {} does not exist".format(path))
    except Exception as e:
        raise EdgenasError("{} is not a readable ONNX model ({}); re-export it".format(path, type(e).__name__))

    def tensors(values) -> List[Tensor]:
        out = []
        for v in values:
            tt = v.type.tensor_type
            dims: List[Dim] = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
                               for d in tt.shape.dim]
            out.append(Tensor(v.name, dims, _np_dtype(tt.elem_type)))
        return out

    if not len(model.graph.output) or not len(model.graph.node):
        raise EdgenasError("{} is not a readable ONNX model (no graph: empty or not ONNX); re-export it".format(path))
    inits = {i.name for i in model.graph.initializer}
    opset = next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    external = any(i.data_location == onnx.TensorProto.EXTERNAL for i in model.graph.initializer)
    return ModelIO(str(path), tensors(v for v in model.graph.input if v.name not in inits), tensors(model.graph.output),
                   opset, external)


def _ort_io(path) -> ModelIO:
    import onnxruntime as ort

    if not Path(str(path)).is_file():
        raise EdgenasError("ONNX file {} does not exist".format(path))
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        raise EdgenasError("ONNX Runtime cannot load {}: {}".format(
            path, (str(e).strip().splitlines() or [type(e).__name__])[0][:300]))

    class _Loaded:  # what runner_io reads of a runner
        def __init__(self) -> None:
            self.session, self.path = sess, str(path)

    return runner_io(_Loaded())


def check_opset(io: ModelIO) -> None:
    if io.opset is not None and not OPSETS[0] <= io.opset <= OPSETS[1]:
        raise EdgenasError("{} uses opset {}, outside the supported {}-{}; convert it: python -c \"import onnx; from onnx "
                           "import version_converter as v; onnx.save(v.convert_version(onnx.load('{}'), 17), 'model17.onnx')\"".format(
                               io.path, io.opset, OPSETS[0], OPSETS[1], io.path))


def runner_io(runner) -> ModelIO:
    """The I/O of a loaded runner (an engine on the board has no ONNX beside it): ONNX Runtime's session
    keeps dynamic dims; other runners report their fixed shapes."""
    sess = getattr(runner, "session", None)
    if sess is not None:
        from ..backends.onnxruntime.runner import _DTYPES

        def t(v):
            return Tensor(v.name, [d if isinstance(d, int) and d > 0 else (d if isinstance(d, str) else None) for d in v.shape],
                          np.dtype(_DTYPES.get(v.type, np.float32)))

        return ModelIO(runner.path, [t(v) for v in sess.get_inputs()], [t(v) for v in sess.get_outputs()])
    return ModelIO(runner.path, [Tensor(n, list(s), np.dtype(d)) for n, s, d in runner.input_specs()], [])


def parse_input_shapes(values, io: ModelIO) -> Dict[str, List[int]]:
    """``--input-shape name:1x3x224x224`` (repeatable; the name may be left out for a one-input model), a list
    of those, or a mapping {name: "1x3x224x224" or [1, 3, 224, 224]}: checked against the model's inputs."""
    if not values:
        return {}
    items: List[Tuple[str, Any]] = []
    if isinstance(values, dict):
        items = [(str(k), v) for k, v in values.items()]
    else:
        for v in (values if isinstance(values, (list, tuple)) else [values]):
            name, _, shape = str(v).rpartition(":")
            items.append((name, shape))
    out: Dict[str, List[int]] = {}
    names = io.input_names
    for name, raw in items:
        if not name:
            if len(names) != 1:
                raise EdgenasError("--input-shape {}: the model has inputs {}; name one: --input-shape {}:{}".format(
                    raw, ", ".join(names), names[0], raw))
            name = names[0]
        if name not in names:
            raise EdgenasError("--input-shape {}:{}: the model has no input '{}'{}; its inputs are {}".format(
                name, raw, name, suggest(name, names), ", ".join("{} {}".format(t.name, t.show()) for t in io.inputs)))
        text = "x".join(str(int(d)) for d in raw) if isinstance(raw, (list, tuple)) else str(raw)
        if not re.fullmatch(r"\s*\d+(\s*x\s*\d+)*\s*", text) or any(int(d) < 1 for d in text.split("x")):
            raise EdgenasError("--input-shape {}:{}: give positive sizes joined by x, e.g. {}:1x3x224x224".format(name, raw, name))
        dims = [int(d) for d in text.split("x")]
        t = io.input(name)
        if len(dims) != len(t.dims):
            raise EdgenasError("--input-shape {}:{} has {} dims but input '{}' is {} ({} dims); give all of them".format(
                name, text, len(dims), name, t.show(), len(t.dims)))
        clash = [(i, d, s) for i, (d, s) in enumerate(zip(dims, t.dims)) if isinstance(s, int) and s > 0 and d != s]
        if clash:
            i, d, s = clash[0]
            raise EdgenasError("--input-shape {}:{}: dim {} is {} but the model fixes it at {} (input '{}' is {}); "
                               "only its dynamic dims can be chosen".format(name, text, i, d, s, name, t.show()))
        out[name] = dims
    return out


def batch_size(io: ModelIO, shapes: Dict[str, List[int]]) -> int:
    """Samples per inference: the model's fixed batch, the one --input-shape chose, or 1 for a dynamic batch."""
    for t in io.inputs:
        if t.dims and isinstance(t.dims[0], int) and t.dims[0] > 0:
            return t.dims[0]
    for t in io.inputs:
        if t.name in shapes:
            return shapes[t.name][0]
    return 1


def _want(t: Tensor, shapes: Dict[str, List[int]]) -> List[Optional[int]]:
    """Per-sample dims an input must have (None: free)."""
    full = shapes.get(t.name)
    if full:
        return list(full[1:])
    return [d if isinstance(d, int) and d > 0 else None for d in t.dims[1:]]


def _show(dims) -> str:
    return "[{}]".format(", ".join("?" if d is None else str(d) for d in dims))


def check_feeds(feeds: Dict[str, np.ndarray], io: ModelIO, shapes: Dict[str, List[int]], where: str,
                labels: Optional[np.ndarray] = None) -> int:
    """Every input present, same number of samples, the model's dtype kind and per-sample shape, finite.
    Returns the number of samples."""
    counts = {}
    for t in io.inputs:
        x = feeds[t.name]
        label = "input '{}'".format(t.name) if len(io.inputs) > 1 else "inputs"
        if x.ndim != len(t.dims):
            hint = "; add the batch axis (x[None])" if x.ndim == len(t.dims) - 1 else ""
            raise EdgenasError("{}: {} has shape {} ({} dims) but the model takes {} ({} dims){}".format(
                where, label, list(x.shape), x.ndim, t.show(), len(t.dims), hint))
        if _kind(x.dtype) != _kind(t.dtype):
            raise EdgenasError("{}: {} is {} but the model takes {}; convert it (x.astype(np.{})), after preprocessing if "
                               "these are raw images".format(where, label, x.dtype, t.dtype, t.dtype))
        want = _want(t, shapes)
        if any(w is not None and w != s for w, s in zip(want, x.shape[1:])):
            per = "per image" if len(io.inputs) == 1 else "per sample"
            raise EdgenasError("{}: {} are {} {} but {} takes {}; preprocess them to the model's input".format(
                where, label, list(x.shape[1:]), per, io.path, _show(want)) if len(io.inputs) == 1 else
                "{}: {} is {} {} but {} takes {}; preprocess it to the model's input".format(
                    where, label, list(x.shape[1:]), per, io.path, _show(want)))
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise EdgenasError("{}: {} hold NaN or infinite values".format(where, label))
        counts[t.name] = len(x)
    ns = sorted(set(counts.values()))
    if len(ns) > 1:
        raise EdgenasError("{}: the inputs hold different numbers of samples ({}); give every input the same batch".format(
            where, ", ".join("{} {}".format(k, v) for k, v in counts.items())))
    n = ns[0] if ns else 0
    if n == 0:
        raise EdgenasError("{}: no inputs (0 images); give at least one, or a larger --limit".format(where))
    if labels is not None and np.ndim(labels) >= 1 and len(labels) != n:
        raise EdgenasError("{}: 'labels' holds {} entries for {} samples; give one per sample".format(where, len(labels), n))
    return n


def _kind(dtype) -> str:
    k = np.dtype(dtype).kind
    return {"u": "i", "c": "f"}.get(k, k)


def load_npz_inputs(path, io: ModelIO, shapes: Dict[str, List[int]], limit: Optional[int] = None
                    ) -> Tuple[Dict[str, np.ndarray], Optional[np.ndarray]]:
    """(feeds, labels) from an .npz holding one array per model input name (a one-input model may use the key
    'inputs') and optionally 'labels', cut to the first ``limit`` samples and checked against the model."""
    def unreadable(e: BaseException) -> EdgenasError:
        return EdgenasError("cannot read inputs {}: {}; give an .npz written with np.savez".format(
            path, (str(e).splitlines() or [type(e).__name__])[0]))

    try:
        z = np.load(str(path), allow_pickle=False)
    except Exception as e:  # absent, not a zip, truncated, pickled data
        raise unreadable(e)
    if not hasattr(z, "files"):
        raise EdgenasError("{} is a single .npy array, not an .npz; save it with np.savez({}, {}=x)".format(
            path, path, io.input_names[0] if io.inputs else "input"))
    with z:
        files = list(z.files)
        feeds: Dict[str, np.ndarray] = {}
        try:
            for t in io.inputs:
                if t.name in files:
                    feeds[t.name] = z[t.name]
                elif len(io.inputs) == 1 and "inputs" in files:
                    feeds[t.name] = z["inputs"]
                else:
                    raise EdgenasError("{} has no array for input '{}' (it holds: {}){}; save one array per model input, "
                                       "e.g. np.savez(path, {}, labels=y)".format(
                                           path, t.name, ", ".join(files) or "nothing", suggest(t.name, files),
                                           ", ".join("{}=...".format(n) if n.isidentifier() else "**{{'{}': ...}}".format(n)
                                                     for n in io.input_names)))
            labels = z["labels"] if "labels" in files else None
        except EdgenasError:
            raise
        except Exception as e:  # a truncated member, an object array
            raise unreadable(e)
    if limit is not None:
        feeds = {k: v[:limit] for k, v in feeds.items()}
        labels = labels[:limit] if labels is not None and np.ndim(labels) >= 1 else labels
    check_feeds(feeds, io, shapes, str(path), labels)
    return {t.name: np.ascontiguousarray(feeds[t.name].astype(t.dtype, copy=False)) for t in io.inputs}, labels


def random_inputs(io: ModelIO, shapes: Dict[str, List[int]], n: int, seed: int = 0, pipeline: bool = False
                  ) -> Dict[str, np.ndarray]:
    """Seeded random inputs (normal for float inputs, 0/1 for integer ones); dynamic dims other than the
    batch need --input-shape (``pipeline``: the pipeline file's input_shape:)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for t in io.inputs:
        want = _want(t, shapes)
        missing = [i + 1 for i, d in enumerate(want) if d is None]
        if missing:
            example = "x".join(["1"] + [str(d) if d is not None else ("224" if len(want) >= 2 else "16") for d in want])
            fix = "input_shape: {{{}: {}}} in the pipeline file (or inputs: an .npz)".format(t.name, example) if pipeline \
                else "--input-shape {}:{} (or --inputs an .npz)".format(t.name, example)
            raise EdgenasError("input '{}' is {}: dims {} are dynamic, so random inputs need their sizes; give {}".format(
                t.name, t.show(), missing, fix))
        shape = [n] + [int(d) for d in want]  # type: ignore[arg-type]
        if np.issubdtype(t.dtype, np.floating):
            feeds[t.name] = rng.standard_normal(shape).astype(t.dtype)
        elif t.dtype == np.bool_:
            feeds[t.name] = rng.integers(0, 2, size=shape).astype(np.bool_)
        else:
            feeds[t.name] = rng.integers(0, 2, size=shape).astype(t.dtype)
    return feeds


RANDOM_WARNING = ("random inputs: this proves only that the artifact computes the same function as its reference on "
                  "noise, not that it is accurate on your data; give --inputs file.npz (or --data / --images)")


def run_all(runner, feeds: Dict[str, np.ndarray], batch: int) -> Dict[str, np.ndarray]:
    """Every output of ``runner`` over all samples of ``feeds``, ``batch`` samples per inference (a short
    last chunk is padded with its last sample for a fixed-batch model, and cut again)."""
    n = len(next(iter(feeds.values())))
    outs: Dict[str, List[np.ndarray]] = {}
    for i in range(0, n, batch):
        chunk = {k: v[i:i + batch] for k, v in feeds.items()}
        m = len(next(iter(chunk.values())))
        if m < batch and batch > 1:
            chunk = {k: np.concatenate([v, np.repeat(v[-1:], batch - m, 0)]) for k, v in chunk.items()}
        for k, v in runner.infer(chunk).items():
            outs.setdefault(k, []).append(np.asarray(v)[:m])
    return {k: np.concatenate(v) for k, v in outs.items()}


def first_batch(feeds: Dict[str, np.ndarray], batch: int) -> Dict[str, np.ndarray]:
    """One inference's worth of real inputs (for timing), padded to ``batch``."""
    chunk = {k: v[:batch] for k, v in feeds.items()}
    m = len(next(iter(chunk.values())))
    if m < batch:
        chunk = {k: np.concatenate([v, np.repeat(v[-1:], batch - m, 0)]) for k, v in chunk.items()}
    return {k: np.ascontiguousarray(v) for k, v in chunk.items()}
