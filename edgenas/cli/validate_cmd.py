"""edgenas validate: artifact vs FP32 reference on the target's runtime (here, or with --board on a board over
SSH), with a PASS/FAIL report."""

from .common import num
from .profile_cmd import board_args


def add_parser(sub) -> None:
    v = sub.add_parser("validate", help="compare an artifact with the FP32 reference; report.json + report.md")
    v.add_argument("artifact", help="artifact to validate (e.g. model.int8.onnx, or a TensorRT engine)")
    v.add_argument("--ref", required=True, help="FP32 reference ONNX (run at FP32 on the target's backend)")
    v.add_argument("--target", help="target name or YAML (with --board: default the board's target)")
    v.add_argument("--data", help="dataset (default: the model's, test split)")
    v.add_argument("--inputs", help=".npz with preprocessed 'inputs' and optional 'labels' instead of --data")
    num(v, "--limit", default=2000, help="images to compare (default 2000)")
    v.add_argument("--table", help="latency table for the artifact's target: adds the predicted latency")
    v.add_argument("--save-outputs", help="save the artifact's outputs here (run on the board)")
    v.add_argument("--load-outputs", help="compare outputs saved on another machine instead of running the artifact")
    num(v, "--max-acc-drop", default=1.0)
    num(v, "--min-agreement", default=97.0)
    num(v, "--min-cosine", default=0.99)
    num(v, "--max-latency-over-predicted", default=1.10)
    v.add_argument("--out", required=True, help="report directory")
    v.add_argument("--board", help="run the artifact on this board over SSH: inputs and the FP32 reference outputs are "
                                   "computed here (ONNX Runtime), the comparison and timing run there")
    board_args(v)
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=run)


def run(args) -> int:
    from .. import api
    from ..errors import EdgenasError

    if not args.target and not args.board:
        raise EdgenasError("edgenas validate needs --target (or --board with a board that has one); see edgenas validate --help")
    if not args.board and (args.fresh or args.accept_new_host_key):
        raise EdgenasError("--fresh and --accept-new-host-key are for --board runs; add --board NAME")
    board = dict(board=args.board, accept_new_host_key=args.accept_new_host_key, fresh=args.fresh,
                 progress=not args.quiet) if args.board else {}
    r = api.validate(args.artifact, args.ref, args.target, args.out, args.data, args.inputs, args.limit, args.table,
                     args.max_acc_drop, args.min_agreement, args.min_cosine, args.max_latency_over_predicted,
                     args.save_outputs, args.load_outputs, **board)
    print(r.markdown.read_text())
    return 0 if r.passed else 3
