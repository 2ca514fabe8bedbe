"""edgenas validate: artifact vs FP32 reference on the target's runtime, with a PASS/FAIL report."""

from pathlib import Path


def add_parser(sub) -> None:
    v = sub.add_parser("validate", help="compare an artifact with the FP32 reference; report.json + report.md")
    v.add_argument("artifact", help="ONNX artifact to validate (e.g. model.int8.onnx)")
    v.add_argument("--ref", required=True, help="FP32 reference ONNX")
    v.add_argument("--target", required=True)
    v.add_argument("--data", help="dataset (default: the model's, test split)")
    v.add_argument("--inputs", help=".npz with preprocessed 'inputs' and optional 'labels' instead of --data")
    v.add_argument("--limit", type=int, default=2000, help="images to compare (default 2000)")
    v.add_argument("--table", help="latency table for the artifact's target: adds the predicted latency")
    v.add_argument("--save-outputs", help="save the artifact's outputs here (run on the board)")
    v.add_argument("--load-outputs", help="compare outputs saved on another machine instead of running the artifact")
    v.add_argument("--max-acc-drop", type=float, default=1.0)
    v.add_argument("--min-agreement", type=float, default=97.0)
    v.add_argument("--min-cosine", type=float, default=0.99)
    v.add_argument("--max-latency-over-predicted", type=float, default=1.10)
    v.add_argument("--out", required=True, help="report directory")
    v.set_defaults(func=run)


def run(args) -> int:
    from ..data.preprocess import dataset_inputs, load_inputs
    from ..export.model_export import read_sidecar
    from ..targets import load_target
    from ..validate.report import Thresholds
    from ..validate.run import validate

    target = load_target(args.target)
    side = read_sidecar(args.ref) or read_sidecar(args.artifact)
    if args.inputs:
        inputs, labels = load_inputs(args.inputs)
        inputs, labels = inputs[: args.limit], (labels[: args.limit] if labels is not None else None)
    else:
        inputs, labels = dataset_inputs(args.data, side, args.limit)
    predicted = None
    if args.table:
        predicted = {"artifact": _predict(args.table, side, target)}
    th = Thresholds(args.max_acc_drop, args.min_agreement, args.min_cosine, args.max_latency_over_predicted)
    report = validate(args.artifact, args.ref, target, inputs, labels, args.out, predicted, th,
                      args.save_outputs, args.load_outputs, context={"data": args.inputs or args.data or side.get("data"),
                                                                     "artifact": args.artifact, "reference": args.ref})
    print(Path(args.out, "report.md").read_text())
    return 0 if report["status"] == "PASS" else 3


def _predict(table_path, side, target):
    from ..errors import EdgenasError
    from ..profile.predictor import Predictor
    from ..profile.table import LatencyTable
    from ..space import space_from_description

    if not side.get("arch"):
        raise EdgenasError("--table needs the model's arch, read from its .onnx.json sidecar; export with 'edgenas export'")
    table = LatencyTable.load(table_path)
    table.check_matches(target=target)
    space = space_from_description(side["space"])
    total, _ = Predictor(table, space).predict_arch(space.from_string(side["arch"]))
    return total
