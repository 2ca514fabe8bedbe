"""edgenas validate: artifact vs FP32 reference on the target's runtime (here, or with --board on a board over
SSH), every output compared by name, with a PASS / FAIL / INCONCLUSIVE report that states its reasons."""

from ..validation.report import Thresholds, threshold_help
from .common import num
from .profile_cmd import board_args

TH = Thresholds()  # the defaults, declared once
EXIT = {"PASS": 0, "FAIL": 3, "INCONCLUSIVE": 4}


def add_parser(sub) -> None:
    v = sub.add_parser("validate", help="compare every output of an artifact with the FP32 reference; report.json + "
                                        "report.md (exit 0 PASS, 3 FAIL, 4 INCONCLUSIVE)")
    v.add_argument("artifact", help="artifact to validate (e.g. model.int8.onnx, or a TensorRT engine)")
    v.add_argument("--ref", required=True, help="FP32 reference ONNX (run at FP32 on the target's backend)")
    v.add_argument("--target", help="target name or YAML (with --board: default the board's target)")
    src = v.add_argument_group("inputs (one of them; none: random data, with a warning that it proves little)")
    src.add_argument("--inputs", help=".npz with one preprocessed array per model input name ('inputs' for a one-input "
                                      "model) and optional 'labels'")
    src.add_argument("--images", help="a folder of images (or of class folders) to preprocess with --preprocess")
    src.add_argument("--preprocess", help="the images' preprocessing, YAML text or file: \"{resize: 224, mean: [0.485, "
                                          "0.456, 0.406], std: [0.229, 0.224, 0.225]}\" (also scale, color, layout)")
    src.add_argument("--data", help="dataset, preprocessed as the model's .onnx.json sidecar says (default: the model's)")
    src.add_argument("--input-shape", action="append", metavar="NAME:1x3x224x224",
                     help="fix a dynamic input's shape (repeat per input)")
    src.add_argument("--shapes", action="append", metavar="NAME:MIN,OPT,MAX",
                     help="the deployment's ranges (as edgenas check --shapes): the inputs must lie in one (random inputs "
                          "run at OPT)")
    num(v, "--limit", default=2000, help="samples to compare (default 2000; random inputs: at most 32)")
    num(v, "--seed", default=0, help="seed of random inputs")
    chk = v.add_argument_group("checks (per output; Polygraphy's tolerance rule)")
    chk.add_argument("--atol", action="append", metavar="[OUTPUT:]TOL",
                     help="absolute tolerance for every output, or OUTPUT:TOL for one (repeat); none: no tolerance check")
    chk.add_argument("--rtol", action="append", metavar="[OUTPUT:]TOL", help="relative tolerance, as --atol")
    chk.add_argument("--error-stat", action="append", metavar="[OUTPUT:]STAT",
                     help="what the tolerances judge: elemwise (default: every element), max, mean, median or quantile")
    num(chk, "--error-quantile", default=0.99, help="the quantile reported and judged by 'quantile' (default 0.99)")
    chk.add_argument("--class-outputs", help="comma-separated outputs that hold class scores (top-1 agreement; default: a "
                                             "lone (N, classes) output; none: no output)")
    chk.add_argument("--metric", metavar="MODULE:FUNCTION",
                     help="your metric hook, called as FUNCTION(outputs by name, labels) -> float (higher is better) on "
                          "the reference's and the artifact's outputs, e.g. a detector's mAP; or path/to/file.py:FUNCTION")
    num(chk, "--max-metric-drop", default=1.0, help="largest allowed drop of the metric (its own units; default 1.0)")
    num(chk, "--max-acc-drop", default=TH.max_acc_drop, help=threshold_help("max_acc_drop"))
    num(chk, "--min-agreement", default=TH.min_agreement, help=threshold_help("min_agreement"))
    num(chk, "--min-cosine", default=TH.min_cosine, help=threshold_help("min_cosine"))
    num(chk, "--max-latency-over-predicted", default=TH.max_latency_over_predicted, help=threshold_help("max_latency_over_predicted"))
    num(chk, "--max-latency-ms", help="a latency budget for the artifact's measured p50")
    v.add_argument("--table", help="latency table for the artifact's target: adds the predicted latency")
    v.add_argument("--save-outputs", help="save the artifact's outputs here (run on the board)")
    v.add_argument("--load-outputs", help="compare outputs saved on another machine instead of running the artifact")
    v.add_argument("--out", required=True, help="report directory")
    v.add_argument("--board", help="run the artifact on this board over SSH: inputs and the FP32 reference outputs are "
                                   "computed here (ONNX Runtime), the comparison and timing run there")
    board_args(v)
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=run)


def run(args) -> int:
    import sys

    from .. import api
    from ..errors import EdgenasError

    if not args.target and not args.board:
        raise EdgenasError("edgenas validate needs --target (or --board with a board that has one); see edgenas validate --help")
    if not args.board and (args.fresh or args.accept_new_host_key):
        raise EdgenasError("--fresh and --accept-new-host-key are for --board runs; add --board NAME")
    if args.preprocess and not args.images:
        raise EdgenasError("--preprocess describes the images of --images; add --images FOLDER (an .npz is preprocessed already)")
    board = dict(board=args.board, accept_new_host_key=args.accept_new_host_key, fresh=args.fresh,
                 progress=not args.quiet) if args.board else {}
    classes = [c.strip() for c in (args.class_outputs or "").split(",") if c.strip()] or None
    r = api.validate(args.artifact, args.ref, args.target, args.out, args.data, args.inputs, args.limit, args.table,
                     args.max_acc_drop, args.min_agreement, args.min_cosine, args.max_latency_over_predicted,
                     args.save_outputs, args.load_outputs, **board, images=args.images, preprocess=args.preprocess,
                     input_shape=args.input_shape, atol=args.atol, rtol=args.rtol, error_stat=args.error_stat,
                     error_quantile=args.error_quantile, class_outputs=classes, metric=args.metric,
                     max_metric_drop=args.max_metric_drop, max_latency_ms=args.max_latency_ms, seed=args.seed,
                     shapes=args.shapes)
    for w in r.warnings:
        sys.stderr.write("edgenas: warning: {}\n".format(w))
    print(r.markdown.read_text())
    return EXIT.get(r.status, 3)
