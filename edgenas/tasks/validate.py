"""Board side: an artifact against its FP32 reference (accuracy, agreement, latency vs the table's
prediction), or against reference outputs saved on the host. No torch; Python 3.8."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError
from ..util.checks import check_args, input_file, output_dir
from ..validation.report import Thresholds
from .common import PathLike, as_target

TH = Thresholds()  # the defaults, declared once (edgenas/validation/report.py)


@dataclass
class ValidationResult:
    status: str
    report: Path
    markdown: Path
    rows: List[Dict[str, Any]] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)  # e.g. random inputs, which prove little

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    @property
    def failures(self) -> List[str]:
        """'stage: check: reason' for every failing or inconclusive check."""
        return ["{}: {}: {}".format(r["stage"], c["check"], c["message"]) for r in self.rows
                for c in r.get("failures", []) + r.get("inconclusive", [])]


def _result(rep: Dict[str, Any], out: PathLike) -> ValidationResult:
    return ValidationResult(rep["status"], Path(out) / "report.json", Path(out) / "report.md", rep["rows"],
                            list(rep.get("context", {}).get("warnings") or []))


def _thresholds(max_acc_drop, min_agreement, min_cosine, max_latency_over_predicted, atol=None, rtol=None, error_stat=None,
                error_quantile: float = 0.99, max_metric_drop: float = 1.0, max_latency_ms: Optional[float] = None):
    from ..validation.outputs import per_output
    from ..validation.report import Thresholds

    check_args(dict(max_acc_drop=max_acc_drop, min_agreement=min_agreement, min_cosine=min_cosine,
                    max_latency_over_predicted=max_latency_over_predicted, error_quantile=error_quantile,
                    max_metric_drop=max_metric_drop, max_latency_ms=max_latency_ms))
    return Thresholds(max_acc_drop, min_agreement, min_cosine, max_latency_over_predicted, per_output(atol, "--atol"),
                      per_output(rtol, "--rtol"), per_output(error_stat, "--error-stat", "stat"), error_quantile,
                      max_metric_drop, max_latency_ms)


def predicted_latency(table: PathLike, sidecar: Dict[str, Any], target, here: bool = True) -> float:
    """The table's prediction for the model described by an ONNX sidecar (its space and arch). ``here``: this
    machine runs the model, so a table measured on another machine is warned about."""
    from ..latency.predictor import Predictor
    from ..latency.table import LatencyTable
    from ..space import space_from_description

    if not sidecar.get("arch"):
        raise EdgenasError("a table prediction needs the model's arch from its .onnx.json sidecar; export with 'edgenas export'")
    lt = LatencyTable.load(table)
    if here:
        from ..latency.drift import warn_foreign

        warn_foreign(lt)
    lt.check_matches(target=target)
    space = space_from_description(sidecar["space"])
    plan = sidecar.get("precision_plan")
    if lt.header["space"].get("precisions"):  # a mixed table: the model's precision plan decides each op's entry
        from ..space.mixed import MixedSpace

        if not plan:
            plan = ["fp32" if sidecar.get("precision", "fp32") == "fp32" else "int8"] * len(space.ops(space.from_string(sidecar["arch"])))
        mixed = MixedSpace(space)
        return Predictor(lt, mixed).predict_arch(mixed.with_plan(sidecar["arch"], plan))[0]
    return Predictor(lt, space).predict_arch(space.from_string(sidecar["arch"]))[0]


def _prepared_inputs(ref: PathLike, artifact: PathLike, data: Optional[str], inputs: Optional[PathLike], limit: int,
                     images: Optional[PathLike] = None, preprocess=None, io=None, shapes=None, seed: int = 0):
    """(feeds {input name: array}, labels, sidecar, description, warnings), checked against the model's inputs:
    the first ``limit`` samples of an ``inputs`` .npz (one array per input name, or 'inputs'), of an ``images``
    folder with its declared ``preprocess``ing, or of ``data`` preprocessed as the model's sidecar says; with
    none of them and no sidecar, seeded random inputs and a warning that they prove little."""
    from ..modelio.model_export import read_sidecar
    from ..validation.inputs import RANDOM_WARNING, check_feeds, load_npz_inputs, onnx_io, random_inputs

    io = io or onnx_io(ref)
    shapes = shapes or {}
    side = read_sidecar(ref) or (read_sidecar(artifact) if Path(str(artifact) + ".json").is_file() and
                                 str(artifact).endswith(".onnx") else {})
    given = [k for k, v in (("inputs", inputs), ("images", images), ("data", data)) if v]
    if len(given) > 1:
        raise EdgenasError("give one source of inputs, not {} (--{})".format(" and ".join(given), " and --".join(given)))
    warnings: List[str] = []
    if inputs:
        input_file(inputs, "inputs file")
        feeds, labels = load_npz_inputs(inputs, io, shapes, limit)
        return feeds, labels, side, str(inputs), warnings
    if images:
        from ..data.images import image_inputs

        if len(io.inputs) != 1:
            raise EdgenasError("--images feeds one input but the model has {} ({}); give --inputs file.npz with one array "
                               "per input".format(len(io.inputs), ", ".join(io.input_names)))
        t = io.inputs[0]
        dims = [d if isinstance(d, int) and d > 0 else None for d in (shapes.get(t.name) or t.dims)][1:]
        x, labels = image_inputs(images, preprocess, dims, t.dtype, limit)
        feeds = {t.name: x}
    elif data or side.get("data"):
        from ..data.preprocess import dataset_inputs

        if len(io.inputs) != 1:
            raise EdgenasError("--data feeds one input but the model has {} ({}); give --inputs file.npz".format(
                len(io.inputs), ", ".join(io.input_names)))
        x, labels = dataset_inputs(data, side, limit)
        feeds = {io.inputs[0].name: x}
    else:
        feeds, labels = random_inputs(io, shapes, min(limit, 32), seed), None
        warnings.append(RANDOM_WARNING)
        return feeds, labels, side, "random (seed {}, {} samples)".format(seed, min(limit, 32)), warnings
    check_feeds(feeds, io, shapes, str(images or data or side.get("data")), labels)
    return feeds, labels, side, str(images or data or side.get("data")), warnings


def _in_profiles(opts: Dict[str, Any], io, shapes, feeds) -> List[str]:
    """With ``shapes`` (the deployment's profiles): every inference's input shape must lie in one, as the TensorRT
    runner will demand; the shapes are stated in the report (as a note among the warnings)."""
    if not opts.get("shapes"):
        return []
    from ..runtime import shapes as S
    from ..validation.inputs import batch_size

    profiles = S.resolve(opts["shapes"], io)
    b = batch_size(io, shapes)
    S.select_profile(profiles, {k: (b,) + tuple(v.shape[1:]) for k, v in feeds.items()}, "--shapes ({})".format(
        "validation inputs"))
    return ["validated at {} within the --shapes ranges ({})".format(
        ", ".join("{} {}".format(k, S.show((b,) + tuple(v.shape[1:]))) for k, v in feeds.items()), S.describe(profiles))]


def _plan(ref: PathLike, artifact: PathLike, opts: Dict[str, Any]):
    """The reference's I/O, the chosen input shapes, the thresholds (tolerances checked against the output
    names) and the metric hook, loaded: every user mistake is found before anything runs or is written."""
    from ..validation.inputs import onnx_io, parse_input_shapes
    from ..validation.outputs import check_names

    io = onnx_io(ref)
    shapes = parse_input_shapes(opts.get("input_shape"), io)
    if opts.get("shapes") and not shapes:  # random inputs at the opt shape of the first profile
        from ..runtime import shapes as S

        profiles = S.resolve(opts["shapes"], io)
        shapes = {k: list(v) for k, v in S.at(profiles[0], "opt").items()} if profiles else {}
    th = opts["thresholds"]
    for flag, mapping in (("--atol", th.atol), ("--rtol", th.rtol), ("--error-stat", th.error_stat)):
        check_names(mapping, io.output_names, flag)
    classes = opts.get("class_outputs") or None
    if classes and classes != ["none"]:
        check_names({n: 1 for n in classes}, io.output_names, "--class-outputs")
    metric = None
    if opts.get("metric"):
        from ..validation.metric import load_metric

        metric = (opts["metric"], load_metric(opts["metric"]))
    return io, shapes, th, classes, metric


def validate(artifact: PathLike, ref: PathLike, target, out: PathLike, data: Optional[str] = None,
             inputs: Optional[PathLike] = None, limit: int = 2000, table: Optional[PathLike] = None,
             max_acc_drop: float = TH.max_acc_drop, min_agreement: float = TH.min_agreement, min_cosine: float = TH.min_cosine,
             max_latency_over_predicted: float = TH.max_latency_over_predicted, save_outputs: Optional[PathLike] = None,
             load_outputs: Optional[PathLike] = None, board=None, accept_new_host_key: bool = False,
             fresh: bool = False, progress: bool = True, *, images: Optional[PathLike] = None, preprocess=None,
             input_shape=None, atol=None, rtol=None, error_stat=None, error_quantile: float = 0.99,
             class_outputs: Optional[List[str]] = None, metric: Optional[str] = None, max_metric_drop: float = 1.0,
             max_latency_ms: Optional[float] = None, seed: int = 0, warnings: Optional[List[str]] = None,
             shapes=None) -> ValidationResult:
    """Run ``artifact`` on ``target`` and its FP32 reference ``ref`` (an ONNX file, FP32 on the same backend) over
    ``limit`` samples, compare every output by name, time both interleaved, and write report.json / report.md
    in ``out`` with PASS / FAIL / INCONCLUSIVE and the reason of every failing check.

    Inputs: ``inputs`` (.npz, one array per input name, optional 'labels'), ``images`` (a folder, with its
    ``preprocess``ing), ``data`` (a dataset, preprocessed as the model's sidecar says), or random data with a
    warning. ``input_shape`` ("name:1x3x224x224", or a list / mapping) fixes dynamic dims.
    Checks: per output, mean cosine similarity >= ``min_cosine`` and, where ``atol`` / ``rtol`` name it (a
    number for every output, "name:value" or {name: value}), Polygraphy's tolerance rule on ``error_stat``
    (elemwise, max, mean, median, quantile at ``error_quantile``); top-1 agreement for the ``class_outputs``
    (default: a lone (N, classes) output) and accuracy against labels; the ``metric`` hook
    ("module:function", called with the outputs and labels) may drop at most ``max_metric_drop``; latency vs
    the ``table``'s prediction and vs ``max_latency_ms`` (INCONCLUSIVE where the miss is within the run's noise).

    ``board``: run the artifact on that board over SSH instead (``target`` None = the board's target). The
    inputs are prepared here as above, the FP32 reference outputs are computed here with ONNX Runtime
    (the ground truth of the exported model, whatever runtime the board has), and the board compares the
    artifact with them (``validate_saved``); the report gets the reference's own row from the host and the
    artifact's row, latency included, from the board. Running the same call again re-attaches or fetches
    (``fresh`` runs it again)."""
    check_args(dict(limit=limit, seed=seed))
    th = _thresholds(max_acc_drop, min_agreement, min_cosine, max_latency_over_predicted, atol, rtol, error_stat,
                     error_quantile, max_metric_drop, max_latency_ms)
    opts = dict(images=images, preprocess=preprocess, input_shape=input_shape, class_outputs=class_outputs, metric=metric,
                seed=seed, thresholds=th, warnings=list(warnings or []), shapes=shapes)
    if board is not None:
        return _validate_on_board(artifact, ref, target, out, data, inputs, limit, table, save_outputs, load_outputs, board,
                                  accept_new_host_key, fresh, progress, opts)
    from ..validation.run import validate as run

    t = as_target(target)
    input_file(ref, "reference model")
    if load_outputs is None:
        input_file(artifact, "artifact")
    output_dir(out, "report folder")
    io, shapes, th, classes, hook = _plan(ref, artifact, opts)
    if opts.get("shapes") and not opts.get("input_shape") and (inputs or images):
        shapes = {}  # given inputs keep their own sizes; --shapes then only bounds them (_in_profiles)
    feeds, labels, side, desc, found = _prepared_inputs(ref, artifact, data, inputs, limit, images, preprocess, io, shapes, seed)
    warnings = opts["warnings"] + found + _in_profiles(opts, io, shapes, feeds)
    predicted = {"artifact": predicted_latency(table, side, t)} if table else None
    rep = run(artifact, ref, t, feeds, labels, out, predicted, th, save_outputs, load_outputs,
              context={"data": desc, "artifact": str(artifact), "reference": str(ref), "warnings": warnings},
              shapes=shapes, classes=classes, metric=hook)
    return _result(rep, out)


def validate_saved(artifact: PathLike, target, inputs: PathLike, ref_outputs: PathLike, out: PathLike,
                   max_acc_drop: float = TH.max_acc_drop, min_agreement: float = TH.min_agreement, min_cosine: float = TH.min_cosine,
                   predicted_ms: Optional[float] = None, max_latency_over_predicted: float = TH.max_latency_over_predicted, *,
                   thresholds=None, class_outputs: Optional[List[str]] = None,
                   save_outputs: Optional[PathLike] = None) -> ValidationResult:
    """Board: run ``artifact`` (engine or ONNX) on saved inputs and compare every output with host-saved FP32
    outputs. ``thresholds`` (a Thresholds, or its dict) replaces the four numbers, tolerances included;
    ``save_outputs`` also saves the artifact's outputs (a host-side metric hook reads them)."""
    from ..validation.report import Thresholds
    from ..validation.run import validate_against_saved

    t = as_target(target)
    if thresholds is None:
        th = _thresholds(max_acc_drop, min_agreement, min_cosine, max_latency_over_predicted)
    elif isinstance(thresholds, Thresholds):
        th = thresholds
    else:
        from ..util.config import from_dict

        th = from_dict(Thresholds, thresholds, where="thresholds")
    input_file(artifact, "artifact")
    input_file(inputs, "inputs file")
    output_dir(out, "report folder")
    rep = validate_against_saved(artifact, t, inputs, None, ref_outputs, out, th, predicted_ms, class_outputs, save_outputs)
    return _result(rep, out)


def _board_provenance(entry, table, target, accept_new_host_key: bool) -> List[str]:
    """The table's provenance against the board's own fingerprint: one warning naming every field that differs."""
    import sys

    from ..board.remote import connect
    from ..latency.drift import has_fingerprint, provenance_mismatches
    from ..latency.table import LatencyTable

    lt = LatencyTable.load(table)
    env = connect(entry, accept_new_host_key).call(["doctor"])["env"]
    if not env.get("device") or not has_fingerprint(lt.header):
        return []
    diffs = provenance_mismatches(lt.header, env["device"], env.get("software") or {}, target.threads)
    if not diffs:
        return []
    w = ("table {} was measured on another machine than board '{}' ({}): its prediction may not hold there; check it "
         "with: edgenas drift {} --board {}".format(lt.name, entry.name, "; ".join(diffs), table, entry.name))
    sys.stderr.write("edgenas: warning: {}\n".format(w))
    return [w]


def _validate_on_board(artifact, ref, target, out, data, inputs, limit, table, save_outputs, load_outputs, board,
                       accept_new_host_key, fresh, progress, opts) -> ValidationResult:
    from ..backends.onnxruntime import OrtRunner
    from ..board.deploy import reference_row, remote_validate
    from ..validation.inputs import batch_size, run_all
    from .deploy import board_target

    if save_outputs is not None or load_outputs is not None:
        raise EdgenasError("saved outputs are for running the artifact and the comparison on two machines by hand; "
                           "with a board, drop save_outputs/load_outputs (--save-outputs/--load-outputs)")
    t, entry = board_target(target, board, "a validation")
    input_file(ref, "reference model")
    input_file(artifact, "artifact")
    output_dir(out, "report folder")
    io, shapes, th, classes, hook = _plan(ref, artifact, opts)
    feeds, labels, side, desc, found = _prepared_inputs(ref, artifact, data, inputs, limit, opts["images"],
                                                        opts["preprocess"], io, shapes, opts["seed"])
    warnings = opts["warnings"] + found
    predicted = predicted_latency(table, side, t, here=False) if table else None
    if table:
        warnings = warnings + _board_provenance(entry, table, t, accept_new_host_key)
    with OrtRunner(ref) as r:  # FP32 on the host, as edgenas export saves its .ref_outputs.npz
        ref_out = run_all(r, feeds, batch_size(io, shapes))
    context = {"data": desc, "artifact": str(artifact), "reference": "{} (FP32, ONNX Runtime on the host)".format(ref),
               "warnings": warnings}
    rep = remote_validate(entry, artifact, t, feeds, labels, ref_out, out, th, predicted,
                          [reference_row(ref, ref_out, labels, classes)], context, accept_new_host_key=accept_new_host_key,
                          fresh=fresh, show_progress=progress, classes=classes, metric=hook)
    return _result(rep, out)
