"""Pipeline options: typed, from YAML or flags, with typo suggestions for unknown keys."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional

from ..errors import EdgenasError
from ..util.checks import check
from ..util.config import from_dict, read_yaml
from ..tasks.search_options import SearchSection
from ..validation.report import Thresholds


@dataclass
class SupernetOpts:
    train_subset: Optional[int] = 4000
    val_size: int = 1000
    epochs: int = 1
    batch_size: int = 128
    lr: float = 0.05
    schedule: Literal["sandwich", "progressive"] = "sandwich"


# The search: section's keys, defaults and ranges come from the search stage's one declaration (the options not
# set from the pipeline's own keys: latency_ms, data, seed, device, and the supernet's val_size).
SearchOpts = SearchSection


@dataclass
class FinetuneOpts:
    epochs: int = 1
    train_subset: Optional[int] = 4000


@dataclass
class QuantizeOpts:
    method: Literal["minmax", "entropy", "percentile"] = "minmax"
    calib_size: int = 256
    min_sqnr_db: float = 15.0
    # with model: on ONNX Runtime int8 targets, "auto" (the default there) measures FP32, INT8 and mixed plans on
    # this machine (edgenas quantize --plan auto) and keeps the fastest whose outputs stay within max_rel_error
    # (relative L2 per output: a number or {output: number}); "none" quantizes every layer it can
    plan: Optional[Literal["auto", "none"]] = None
    max_rel_error: Any = 0.1


@dataclass
class ValidateOpts(Thresholds):
    limit: int = 2000
    # per output: {name: value} ("*": every other output), or one number for all
    atol: Any = field(default_factory=dict)
    rtol: Any = field(default_factory=dict)
    error_stat: Any = field(default_factory=dict)
    class_outputs: List[str] = field(default_factory=list)  # class-score outputs (default: a lone (N, K) one; [none]: no output)
    metric: Optional[str] = None  # "module:function" or "path/to/file.py:function": f(outputs, labels) -> float

    def check_loaded(self, where: str) -> None:
        from ..validation.outputs import per_output

        self.atol = per_output(self.atol, where + ".atol")
        self.rtol = per_output(self.rtol, where + ".rtol")
        self.error_stat = per_output(self.error_stat, where + ".error_stat", "stat")


@dataclass
class PipelineConfig:
    target: str = "cpu-x86-ort-int8"
    latency_ms: Optional[float] = 0.25  # the budget; with model: optional (left out: no budget check)
    data: Optional[str] = None
    space: str = "mbv3-small"
    # Your own model instead of a search: an ONNX file (opset 13-20, external data allowed) that the pipeline
    # profiles, quantizes, checks / builds, validates output by output and reports on, cached like the rest
    model: Optional[str] = None
    inputs: Optional[str] = None  # with model: an .npz, one array per input name (+ 'labels'); none: random, warned
    input_shape: Dict[str, Any] = field(default_factory=dict)  # with model: {input: "1x3x224x224"} for dynamic dims
    # with model: TensorRT optimization profiles, "NAME:MIN,OPT,MAX" (a list; a repeated name starts another profile);
    # the other stages run, and the budget applies, at the opt shape of the first profile unless input_shape says otherwise
    shapes: Optional[Any] = None
    resolution: Optional[int] = None
    table: Optional[str] = None
    search_table: Optional[str] = None
    out: str = "runs/pipeline"
    seed: int = 0
    device: str = "auto"
    supernet: SupernetOpts = field(default_factory=SupernetOpts)
    search: SearchOpts = field(default_factory=SearchOpts)
    finetune: FinetuneOpts = field(default_factory=FinetuneOpts)
    prune: bool = True
    quantize: QuantizeOpts = field(default_factory=QuantizeOpts)
    validate: ValidateOpts = field(default_factory=ValidateOpts)
    board: Optional[str] = None  # a board from `edgenas board list`: the engine build and the validation run there
    # auto: mixed-precision search (int8 only where the table says it pays) for ONNX Runtime int8 targets
    precision: Literal["auto", "single", "mixed"] = "auto"
    # Check a reused table against the board at hand before trusting it (edgenas drift): use it, rescale it,
    # or re-profile the board (reprofile: false refuses with the command instead)
    drift_check: bool = True
    reprofile: bool = True

    def check_loaded(self, where: str) -> None:
        check("latency_ms", self.latency_ms, label=where + ".latency_ms")
        if self.latency_ms is None and self.model is None:
            raise EdgenasError("{}.latency_ms is required: the latency budget in ms".format(where))
        if self.model is not None:
            if not Path(self.model).is_file():
                raise EdgenasError("{}.model: {} does not exist; give the path of your ONNX file".format(where, self.model))
            if Path(self.model).suffix.lower() != ".onnx":
                raise EdgenasError("{}.model: {} is not an .onnx file; export your model to ONNX first (torch.onnx.export)"
                                   .format(where, self.model))
            if self.inputs is not None and not Path(self.inputs).is_file():
                raise EdgenasError("{}.inputs: {} does not exist; give an .npz with one array per model input, or drop "
                                   "inputs: for random data".format(where, self.inputs))
        elif self.quantize.plan is not None:
            raise EdgenasError("{}.quantize.plan is for your own model (model: path.onnx); a search plans its precision "
                               "itself (precision: auto|single|mixed)".format(where))
        elif self.inputs is not None or self.input_shape or self.shapes:
            raise EdgenasError("{}: inputs, input_shape and shapes are for your own model; add model: path.onnx, or drop them "
                               "(a search validates on its dataset)".format(where))
        if self.board is not None:
            from ..board.registry import get_board

            try:
                get_board(str(self.board))
            except EdgenasError as e:
                raise EdgenasError("{}.board: {}".format(where, e))

    def validate_values(self) -> None:
        self.check_loaded("pipeline")


def load_pipeline(path) -> PipelineConfig:
    p = Path(path)
    if not p.is_file():
        raise EdgenasError("pipeline file {} does not exist".format(p))
    data = read_yaml(p)
    if data is None or data == {}:
        raise EdgenasError("pipeline file {} is empty; start from examples/cpu-demo.yaml (an empty file would silently "
                           "run every default)".format(p))
    return from_mapping(data, p.name)


def from_mapping(data: Any, where: str) -> PipelineConfig:
    """A config from YAML keys; with ``model:`` and no ``latency_ms:`` there is no budget (not the search's default)."""
    if isinstance(data, dict) and data.get("model") is not None and "latency_ms" not in data:
        data = dict(data, latency_ms=None)
    return from_dict(PipelineConfig, data, where=where)


def config_dict(cfg: PipelineConfig) -> Dict[str, Any]:
    from dataclasses import asdict

    return asdict(cfg)
