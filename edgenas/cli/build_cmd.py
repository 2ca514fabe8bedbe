"""edgenas check / build: static TensorRT check of an ONNX (anywhere), engine build (on the board, or from the
host with --board over SSH)."""

from .profile_cmd import board_args


SHAPES_HELP = ("optimization profile of a dynamic input: NAME:MIN,OPT,MAX with shapes like 1x3x32x32 (trtexec's --minShapes/"
               "--optShapes/--maxShapes in one), or NAME:SHAPE for one size; repeat for more inputs, and name an input "
               "again to start another profile")


def add_parser(sub) -> None:
    c = sub.add_parser("check", help="static check of an ONNX against a target's TensorRT (runs anywhere, no TensorRT)")
    c.add_argument("onnx")
    c.add_argument("--target", required=True, help="target name or YAML (its software.tensorrt version is checked)")
    c.add_argument("--dynamic-batch", metavar="MIN,OPT,MAX", help="the optimization profile the build will use")
    c.add_argument("--shapes", action="append", metavar="NAME:MIN,OPT,MAX", help=SHAPES_HELP)
    c.add_argument("--print-plan", action="store_true", help="also print the TensorRT calls a build would make")
    c.set_defaults(func=run_check)
    b = sub.add_parser("build", help="build a TensorRT engine (pure plan + .json sidecar) from ONNX, after the static check",
                       description="Builds here (TensorRT installed), or with --board on a board over SSH: the static "
                                   "check runs here, then the ONNX is uploaded, built there, and the engine and its "
                                   "sidecar are fetched.")
    b.add_argument("onnx")
    b.add_argument("--target", help="a tensorrt target, e.g. jetson-orin-nano-trt-int8 (with --board: default the board's)")
    b.add_argument("--out", help="engine path (a plan loadable by trtexec/DeepStream); required unless --check-only / "
                   "--print-plan")
    b.add_argument("--timing-cache", help="timing cache file, read and updated (default: <target>-trt<version>.timing.cache next to "
                   "--out; a board keeps its own)")
    b.add_argument("--dynamic-batch", metavar="MIN,OPT,MAX", help="optimization profile for a dynamic batch ONNX")
    b.add_argument("--shapes", action="append", metavar="NAME:MIN,OPT,MAX", help=SHAPES_HELP)
    b.add_argument("--check-only", action="store_true", help="only the static check (same as edgenas check)")
    b.add_argument("--print-plan", action="store_true", help="print the TensorRT flags and optimization-profile calls the "
                   "build makes, after the static check, and stop (no TensorRT needed)")
    b.add_argument("--board", help="build on this board over SSH (edgenas board list) and fetch the engine")
    board_args(b)
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=run_build)


def _print_check(r, print_plan: bool = False) -> int:
    from ..backends.tensorrt.compat import plan_build, profile_calls

    if r.backend == "tensorrt" and r.ok:
        plan = plan_build(r.precision, r.facts, r.tensorrt)
        flavour = r.facts.get("qdq_flavour")
        print("ok: opset {}, {} op types, Q/DQ {}{}; TensorRT {} build: network {} builder {} ({} typing)".format(
            r.facts["opset"], len(r.facts["ops"]), r.facts["qdq"], " ({} flavour)".format(flavour) if flavour else "",
            r.tensorrt, plan.network_flags or "-", plan.builder_flags or "-", plan.typing))
    elif r.ok:
        print("ok: " + "; ".join(r.notes))
    for n in r.notes if r.backend == "tensorrt" else []:
        print("note: " + n)
    if print_plan and r.ok and r.backend == "tensorrt":
        from ..runtime.shapes import from_json

        plan = plan_build(r.precision, r.facts, r.tensorrt)
        print("plan: network flags {} builder flags {} ({} typing)".format(plan.network_flags or "-", plan.builder_flags or "-",
                                                                          plan.typing))
        for line in profile_calls(from_json(r.facts.get("profiles")), r.tensorrt) if r.facts.get("profiles") else []:
            print("plan: " + line)
    if not r.ok:
        from ..errors import EdgenasError

        raise EdgenasError("{} fails the TensorRT {} check for {}: {}{}".format(
            r.onnx, r.tensorrt, r.target, r.problems[0], " (+{} more: edgenas check {} --target {})".format(
                len(r.problems) - 1, r.onnx, r.target) if len(r.problems) > 1 else ""))
    return 0


def run_check(args) -> int:
    from .. import api

    r = api.check(args.onnx, args.target, args.dynamic_batch, shapes=args.shapes)
    if not r.ok and len(r.problems) > 1:
        for p in r.problems:
            print("problem: " + p)
    return _print_check(r, args.print_plan)


def run_build(args) -> int:
    from .. import api
    from ..errors import EdgenasError

    if not args.target and not args.board:
        raise EdgenasError("edgenas build needs --target (or --board with a board that has one); see edgenas build --help")
    if args.check_only or args.print_plan:
        if args.target is None:
            from ..tasks.deploy import board_target

            args.target = board_target(None, args.board, "a check")[0]
        return _print_check(api.check(args.onnx, args.target, args.dynamic_batch, shapes=args.shapes), args.print_plan)
    if not args.out:
        raise EdgenasError("edgenas build needs --out ENGINE (or --check-only / --print-plan); see edgenas build --help")
    if args.board:
        r = api.build(args.onnx, args.target, args.out, args.timing_cache, args.dynamic_batch, log=print, board=args.board,
                      shapes=args.shapes,
                      accept_new_host_key=args.accept_new_host_key, fresh=args.fresh, progress=not args.quiet)
    else:
        if args.fresh or args.accept_new_host_key:
            raise EdgenasError("--fresh and --accept-new-host-key are for --board builds; add --board NAME")
        t = api.load_target(args.target)
        if t.backend != "tensorrt":
            raise EdgenasError("target '{}' uses {}, not TensorRT; nothing to build (deploy the ONNX as is)".format(
                t.name, t.backend))
        r = api.build(args.onnx, t, args.out, args.timing_cache, args.dynamic_batch, log=print, shapes=args.shapes)
    m = r.meta
    print("built      {} ({:.1f} MB) in {:.1f} s{}: TensorRT {}, {} ({}), {}, {} typing, {} layers; sidecar {}".format(
        r.engine, r.size_mb, r.seconds, " on board " + args.board if args.board else "", m["tensorrt"], m["gpu"],
        m["compute_capability"], m["precision"], m["build"]["typing"], m["layers"], r.sidecar))
    return 0
