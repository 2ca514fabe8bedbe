"""edgenas profile [plan|board]: plan an ops bundle on the host, time it on the board, or both here;
with --board NAME[,NAME...], plan here and time it on boards over SSH."""

import argparse
from pathlib import Path

from .common import num, parse_space_opts


class _ModelOrCommand(argparse._SubParsersAction):
    """``edgenas profile model.onnx ...`` means ``edgenas profile model model.onnx ...``: a first word that is
    not a sub-command is your own model."""

    class _Any(dict):
        def __contains__(self, key) -> bool:  # argparse checks the choice before the action sees it
            return True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.choices = self._Any()

    def __call__(self, parser, namespace, values, option_string=None):
        if values and values[0] not in self._name_parser_map:
            values = ["model"] + list(values)
        super().__call__(parser, namespace, values, option_string)


def board_args(p) -> None:
    """--accept-new-host-key and --fresh: the options every command that runs a job on a board takes."""
    p.add_argument("--accept-new-host-key", action="store_true",
                   help="first contact: trust and record the board's host key (a changed key is still refused)")
    p.add_argument("--fresh", action="store_true", help="run the board job again even if the board has a finished one")


def upload_cap(p) -> None:
    num(p, "--max-upload-mb", default=2048.0, help="refuse uploads to a board over this many MB (default 2048)")


def space_args(p) -> None:
    p.add_argument("--target", help="target name (edgenas targets list) or YAML path")
    p.add_argument("--space", default="mbv3-small", help="search space (default: mbv3-small)")
    num(p, "--resolution", help="input resolution (default: the space's)")
    p.add_argument("--space-opt", action="append", metavar="KEY=VALUE", help="space option, e.g. width=0.75")
    num(p, "--networks", default=32, help="reference networks for calibration (default 32)")
    num(p, "--seed", default=0)
    p.add_argument("--precision", choices=["mixed"], help="mixed: a table for precision-aware search (every op at int8 "
                   "and fp32 plus the precision boundaries; ONNX Runtime int8 targets)")


def add_parser(sub) -> None:
    p = sub.add_parser("profile", help="profile every op of a search space on this machine into a latency table",
                       description="Without a sub-command: plan the bundle and time it here, or with --board on "
                                   "boards over SSH (edgenas board add/setup). By hand for an air-gapped board: "
                                   "'profile plan' on the host, then 'profile board' (or tools/profile_board.py) there. "
                                   "Your own ONNX model instead of a search space: edgenas profile MODEL.onnx --target T "
                                   "(options: edgenas profile model --help).")
    space_args(p)
    p.add_argument("--out", help="latency table JSON to write (several boards: put {board} in it, or get T.<board>.json)")
    p.add_argument("--bundle", help="bundle directory (default: .edgenas/bundles/<space>-r<res>-<backend>-<precision>-<hash>"
                                    ", the hash of everything the bundle depends on)")
    p.add_argument("--board", help="profile on this board over SSH, or several in parallel: orin,xavier "
                                   "(--target defaults to each board's)")
    board_args(p)
    upload_cap(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_all)
    psub = p.add_subparsers(dest="profile_cmd", metavar="<plan|board|MODEL.onnx>", action=_ModelOrCommand)
    model_parser(psub)
    plan = psub.add_parser("plan", help="host: write the ops bundle (ONNX per op + manifest + reference nets)")
    space_args(plan)
    plan.add_argument("--bundle", required=True, help="directory to write the bundle into")
    plan.add_argument("--quiet", action="store_true")
    plan.set_defaults(func=run_plan)
    board = psub.add_parser("board", help="board: time a bundle and write the table (no torch needed)")
    board.add_argument("bundle", help="bundle directory")
    board.add_argument("--target", required=True)
    board.add_argument("--out", required=True)
    num(board, "--seed", default=0)
    num(board, "--max-active", help="engines/sessions kept activated at once (default: the backend's)")
    board.add_argument("--quiet", action="store_true")
    board.set_defaults(func=run_board)


def model_parser(psub) -> None:
    keep = argparse.SUPPRESS  # options the parent parser also has keep a value given before the model
    m = psub.add_parser("model", help="your own ONNX model: per-layer profile in context (edgenas profile MODEL.onnx "
                        "--target T)", description="Per-layer profile of your own ONNX model, taken in context: every "
                        "kernel mapped back to its ONNX nodes (and torch modules), with the end-to-end time measured in "
                        "the same interleaved run. Writes JSON, Markdown and a PNG.")
    m.add_argument("model", help="ONNX file (external data, several inputs and outputs, opsets 13-20), or a TensorRT "
                   "engine built by edgenas for a TensorRT target")
    m.add_argument("--target", default=keep, help="an ONNX Runtime or TensorRT target (default: cpu-x86-ort-fp32)")
    m.add_argument("--out", default=keep, help="profile JSON (default: MODEL.profile.json; .md and .png beside it)")
    m.add_argument("--input-shape", action="append", metavar="NAME:1x3x224x224",
                   help="sizes for the dynamic dims of an input (repeat per input)")
    m.add_argument("--inputs", help=".npz with one array per model input to feed (default: seeded random data)")
    m.add_argument("--shapes", action="append", metavar="NAME:MIN,OPT,MAX",
                   help="a dynamic input's range (as edgenas check --shapes): the per-layer profile runs at OPT, and a "
                        "latency table at --at shapes is measured in one interleaved run")
    m.add_argument("--at", default="min,opt,max", help="shapes of the latency table with --shapes (default min,opt,max)")
    m.add_argument("--layers-at", default="opt",
                   help="with --shapes: the per-layer profile at these shapes (default opt; e.g. min,opt,max)")
    num(m, "--seed", default=keep)
    num(m, "--budget-s", default=90.0, help="seconds of timing (default 90; rounds come from the target)")
    m.add_argument("--board", default=keep, help="measure on this board over SSH (edgenas board add/setup; --target "
                   "defaults to the board's); the profile files are written here")
    m.add_argument("--accept-new-host-key", action="store_true", default=keep,
                   help="first contact: trust and record the board's host key (a changed key is still refused)")
    m.add_argument("--fresh", action="store_true", default=keep,
                   help="profile on the board again even if the board has a finished job")
    num(m, "--max-upload-mb", default=keep, help="refuse uploads to a board over this many MB (default 2048)")
    m.add_argument("--quiet", action="store_true", default=keep)
    m.set_defaults(func=run_model)


def run_model(args) -> int:
    from .. import api

    if getattr(args, "shapes", None):
        return run_model_shapes(args)
    r = api.profile_model(args.model, getattr(args, "target", None), getattr(args, "out", None),
                          args.input_shape, args.inputs, getattr(args, "seed", 0) or 0, args.budget_s,
                          progress=not getattr(args, "quiet", False), board=getattr(args, "board", None),
                          accept_new_host_key=getattr(args, "accept_new_host_key", False),
                          fresh=getattr(args, "fresh", False), max_upload_mb=getattr(args, "max_upload_mb", 2048.0))
    print("\n".join(r.summary()))
    print("wrote {} ({} rows), {}{} in {:.0f} s".format(r.profile, r.rows, r.markdown,
                                                       " and " + str(r.plot) if r.plot else "", r.seconds))
    return 0


def run_model_shapes(args) -> int:
    """--shapes: the per-layer profile at the opt shape, then the min / opt / max latency table."""
    from .. import api
    from ..errors import EdgenasError
    from ..tasks.shape_profile import opt_input_shapes, profile_shapes

    if args.input_shape:
        raise EdgenasError("give --shapes or --input-shape, not both (--shapes NAME:SHAPE fixes one size)")
    if getattr(args, "board", None):
        raise EdgenasError("--shapes is not yet supported with --board; profile on the board at one shape with "
                           "--input-shape NAME:1x3x224x224 instead")
    target = getattr(args, "target", None) or "cpu-x86-ort-fp32"
    layers_at = [w.strip() for w in args.layers_at.split(",") if w.strip()]
    bad = [w for w in layers_at if w not in ("min", "opt", "max")]
    if bad or not layers_at:
        raise EdgenasError("--layers-at {!r}: name shapes among min, opt, max (e.g. --layers-at min,opt,max)".format(args.layers_at))
    base = getattr(args, "out", None) or str(Path(args.model).with_suffix("")) + ".profile.json"
    for which in ["opt"] + [w for w in layers_at if w != "opt"]:  # opt first: the latency table's name comes from it
        out = base if which == "opt" else base.replace(".json", "") + ".{}.json".format(which)
        r = api.profile_model(args.model, target, out, opt_input_shapes(args.model, args.shapes, which),
                              args.inputs if which == "opt" else None, getattr(args, "seed", 0) or 0, args.budget_s,
                              progress=not getattr(args, "quiet", False), board=getattr(args, "board", None))
        print("\n".join(r.summary()))
        print("wrote {} ({} rows, at the {} shape), {}".format(r.profile, r.rows, which, r.markdown))
        if which == "opt":
            first = r
    r = first
    s = profile_shapes(args.model, target, args.shapes, [w.strip() for w in args.at.split(",") if w.strip()],
                       out=Path(str(r.profile).replace(".profile.json", "") + ".shapes.json"),
                       budget_s=max(10.0, args.budget_s / 3), seed=getattr(args, "seed", 0) or 0)
    print("\n".join(s.table()))
    print("wrote {} and {}".format(s.json, s.markdown))
    return 0


def _need(args, *names) -> None:
    from ..errors import EdgenasError

    missing = ["--" + n for n in names if getattr(args, n) in (None, "")]
    if missing:
        raise EdgenasError("edgenas profile needs {}; see edgenas profile --help".format(", ".join(missing)))


def run_plan(args) -> int:
    from .. import api

    _need(args, "target")
    r = api.plan_bundle(args.target, args.bundle, args.space, args.resolution, parse_space_opts(args.space_opt),
                        args.networks, args.seed, progress=not args.quiet, precision=args.precision)
    m = r.manifest
    print("bundle {}: {} ops + {} reference networks for {} @ {}px, {} ({:.1f} s)".format(
        r.bundle, r.ops, r.networks, m["space"]["name"], m["resolution"], m["precision"], r.seconds))
    print("next, on the board: python tools/profile_board.py {} --target {} --out TABLE.json".format(r.bundle, m["target"]["name"]))
    return 0


def run_board(args) -> int:
    from .. import api

    r = api.profile_bundle(args.bundle, args.target, args.out, seed=args.seed, progress=not args.quiet,
                           max_active=args.max_active)
    print("\n".join(r.summary()))
    return 0


def run_all(args) -> int:
    from .. import api

    if getattr(args, "board", None):
        return run_on_boards(args)
    if args.fresh or args.accept_new_host_key:
        from ..errors import EdgenasError

        raise EdgenasError("--fresh and --accept-new-host-key are for --board runs; add --board NAME")
    _need(args, "target", "out")
    r = api.profile(args.target, args.out, args.space, args.resolution, parse_space_opts(args.space_opt), args.networks,
                    args.bundle, args.seed, progress=not args.quiet, precision=args.precision)
    print("\n".join(r.summary()))
    print("wrote {} ({} entries) in {:.0f} s".format(r.table, r.entries, r.seconds))
    return 0


def run_on_boards(args) -> int:
    """edgenas profile --board NAMES (and its alias edgenas board profile NAMES)."""
    from .. import api

    _need(args, "out")
    r = api.profile(args.target, args.out, args.space, args.resolution, parse_space_opts(args.space_opt), args.networks,
                    args.bundle, args.seed, progress=not args.quiet, board=args.board,
                    accept_new_host_key=args.accept_new_host_key, fresh=args.fresh, max_upload_mb=args.max_upload_mb,
                    precision=args.precision)
    results = r if isinstance(r, list) else [r]
    for one in results:
        if len(results) == 1:
            print("\n".join(one.summary()))
        print("{}: wrote {} ({} entries)".format(one.board, one.table, one.entries))
    print("done in {:.0f} s".format(max(one.seconds for one in results)))
    return 0
