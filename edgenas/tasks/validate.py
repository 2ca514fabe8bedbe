"""Board side: an artifact against its FP32 reference (accuracy, agreement, latency vs the table's
prediction), or against reference outputs saved on the host. No torch; Python 3.8."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError
from ..util.checks import check_args, input_file, output_dir
from .common import PathLike, as_target


@dataclass
class ValidationResult:
    status: str
    report: Path
    markdown: Path
    rows: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


def _result(rep: Dict[str, Any], out: PathLike) -> ValidationResult:
    return ValidationResult(rep["status"], Path(out) / "report.json", Path(out) / "report.md", rep["rows"])


def _thresholds(max_acc_drop, min_agreement, min_cosine, max_latency_over_predicted):
    from ..validation.report import Thresholds

    check_args(dict(max_acc_drop=max_acc_drop, min_agreement=min_agreement, min_cosine=min_cosine,
                    max_latency_over_predicted=max_latency_over_predicted))
    return Thresholds(max_acc_drop, min_agreement, min_cosine, max_latency_over_predicted)


def predicted_latency(table: PathLike, sidecar: Dict[str, Any], target) -> float:
    """The table's prediction for the model described by an ONNX sidecar (its space and arch)."""
    from ..latency.predictor import Predictor
    from ..latency.table import LatencyTable
    from ..space import space_from_description

    if not sidecar.get("arch"):
        raise EdgenasError("a table prediction needs the model's arch from its .onnx.json sidecar; export with 'edgenas export'")
    lt = LatencyTable.load(table)
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


def _prepared_inputs(ref: PathLike, artifact: PathLike, data: Optional[str], inputs: Optional[PathLike], limit: int):
    """(inputs, labels, sidecar): ``limit`` images of ``data`` preprocessed as the model's sidecar says, or the
    first ``limit`` of a preprocessed ``inputs`` .npz; checked against the model's input contract."""
    from ..data.preprocess import check_inputs, dataset_inputs, load_inputs
    from ..modelio.model_export import read_sidecar

    side = read_sidecar(ref) or read_sidecar(artifact)
    if inputs:
        x, labels = load_inputs(inputs)
        x, labels = x[:limit], (labels[:limit] if labels is not None else None)
    else:
        x, labels = dataset_inputs(data, side, limit)
    check_inputs(x, side, str(inputs or data or "the dataset"))
    return x, labels, side


def validate(artifact: PathLike, ref: PathLike, target, out: PathLike, data: Optional[str] = None,
             inputs: Optional[PathLike] = None, limit: int = 2000, table: Optional[PathLike] = None,
             max_acc_drop: float = 1.0, min_agreement: float = 97.0, min_cosine: float = 0.99,
             max_latency_over_predicted: float = 1.10, save_outputs: Optional[PathLike] = None,
             load_outputs: Optional[PathLike] = None, board=None, accept_new_host_key: bool = False,
             fresh: bool = False, progress: bool = True) -> ValidationResult:
    """Run ``artifact`` on ``target`` and its FP32 reference ``ref`` (FP32 on the same backend) over
    ``limit`` images of ``data`` (or preprocessed ``inputs``), time both interleaved, and write
    report.json / report.md in ``out`` with PASS/FAIL against the thresholds.

    ``board``: run the artifact on that board over SSH instead (``target`` None = the board's target). The
    inputs are prepared here as above, the FP32 reference outputs are computed here with ONNX Runtime
    (the ground truth of the exported model, whatever runtime the board has), and the board compares the
    artifact with them (``validate_saved``); the report gets the reference's own row from the host and the
    artifact's row, latency included, from the board. Running the same call again re-attaches or fetches
    (``fresh`` runs it again)."""
    check_args(dict(limit=limit))
    if board is not None:
        return _validate_on_board(artifact, ref, target, out, data, inputs, limit, table, max_acc_drop, min_agreement,
                                  min_cosine, max_latency_over_predicted, save_outputs, load_outputs, board,
                                  accept_new_host_key, fresh, progress)
    from ..validation.run import validate as run

    t = as_target(target)
    th = _thresholds(max_acc_drop, min_agreement, min_cosine, max_latency_over_predicted)
    input_file(ref, "reference model")
    if load_outputs is None:
        input_file(artifact, "artifact")
    output_dir(out, "report folder")
    x, labels, side = _prepared_inputs(ref, artifact, data, inputs, limit)
    predicted = {"artifact": predicted_latency(table, side, t)} if table else None
    rep = run(artifact, ref, t, x, labels, out, predicted, th, save_outputs, load_outputs,
              context={"data": str(inputs or data or side.get("data")), "artifact": str(artifact), "reference": str(ref)})
    return _result(rep, out)


def validate_saved(artifact: PathLike, target, inputs: PathLike, ref_outputs: PathLike, out: PathLike,
                   max_acc_drop: float = 1.0, min_agreement: float = 97.0, min_cosine: float = 0.99,
                   predicted_ms: Optional[float] = None, max_latency_over_predicted: float = 1.10) -> ValidationResult:
    """Board: run ``artifact`` (engine or ONNX) on saved inputs and compare with host-saved FP32 outputs."""
    from ..data.preprocess import check_inputs, load_inputs
    from ..validation.run import validate_against_saved

    t = as_target(target)
    th = _thresholds(max_acc_drop, min_agreement, min_cosine, max_latency_over_predicted)
    input_file(artifact, "artifact")
    output_dir(out, "report folder")
    x, labels = load_inputs(inputs)
    check_inputs(x, None, str(inputs))
    rep = validate_against_saved(artifact, t, x, labels, ref_outputs, out, th, predicted_ms)
    return _result(rep, out)


def _validate_on_board(artifact, ref, target, out, data, inputs, limit, table, max_acc_drop, min_agreement, min_cosine,
                       max_latency_over_predicted, save_outputs, load_outputs, board, accept_new_host_key, fresh,
                       progress) -> ValidationResult:
    from ..backends.onnxruntime import OrtRunner
    from ..board.deploy import reference_row, remote_validate
    from ..validation.compare import run_batched
    from .deploy import board_target

    if save_outputs is not None or load_outputs is not None:
        raise EdgenasError("saved outputs are for running the artifact and the comparison on two machines by hand; "
                           "with a board, drop save_outputs/load_outputs (--save-outputs/--load-outputs)")
    t, entry = board_target(target, board, "a validation")
    th = _thresholds(max_acc_drop, min_agreement, min_cosine, max_latency_over_predicted)
    input_file(ref, "reference model")
    input_file(artifact, "artifact")
    output_dir(out, "report folder")
    x, labels, side = _prepared_inputs(ref, artifact, data, inputs, limit)
    predicted = predicted_latency(table, side, t) if table else None
    with OrtRunner(ref) as r:  # FP32 on the host, as edgenas export saves its .ref_outputs.npz
        ref_out = run_batched(r, x, r.input_specs()[0][1][0])
    context = {"data": str(inputs or data or side.get("data")), "artifact": str(artifact),
               "reference": "{} (FP32, ONNX Runtime on the host)".format(ref)}
    rep = remote_validate(entry, artifact, t, x, labels, ref_out, out, th, predicted, [reference_row(ref, ref_out, labels)],
                          context, accept_new_host_key=accept_new_host_key, fresh=fresh, show_progress=progress)
    return _result(rep, out)
