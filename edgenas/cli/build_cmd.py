"""edgenas check / build: static TensorRT check of an ONNX (anywhere), engine build (on the board, or from the
host with --board over SSH)."""

from .profile_cmd import board_args


def add_parser(sub) -> None:
    c = sub.add_parser("check", help="static check of an ONNX against a target's TensorRT (runs anywhere, no TensorRT)")
    c.add_argument("onnx")
    c.add_argument("--target", required=True, help="target name or YAML (its software.tensorrt version is checked)")
    c.add_argument("--dynamic-batch", metavar="MIN,OPT,MAX", help="the optimization profile the build will use")
    c.set_defaults(func=run_check)
    b = sub.add_parser("build", help="build a TensorRT engine (pure plan + .json sidecar) from ONNX, after the static check",
                       description="Builds here (TensorRT installed), or with --board on a board over SSH: the static "
                                   "check runs here, then the ONNX is uploaded, built there, and the engine and its "
                                   "sidecar are fetched.")
    b.add_argument("onnx")
    b.add_argument("--target", help="a tensorrt target, e.g. jetson-orin-nano-trt-int8 (with --board: default the board's)")
    b.add_argument("--out", required=True, help="engine path (a plan loadable by trtexec/DeepStream)")
    b.add_argument("--timing-cache", help="timing cache file, read and updated (default: <target>-trt<version>.timing.cache next to "
                   "--out; a board keeps its own)")
    b.add_argument("--dynamic-batch", metavar="MIN,OPT,MAX", help="optimization profile for a dynamic batch ONNX")
    b.add_argument("--check-only", action="store_true", help="only the static check (same as edgenas check)")
    b.add_argument("--board", help="build on this board over SSH (edgenas board list) and fetch the engine")
    board_args(b)
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=run_build)


def _print_check(r) -> int:
    from ..backends.tensorrt.compat import plan_build

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
    if not r.ok:
        from ..errors import EdgenasError

        raise EdgenasError("{} fails the TensorRT {} check for {}: {}{}".format(
            r.onnx, r.tensorrt, r.target, r.problems[0], " (+{} more: edgenas check {} --target {})".format(
                len(r.problems) - 1, r.onnx, r.target) if len(r.problems) > 1 else ""))
    return 0


def run_check(args) -> int:
    from .. import api

    r = api.check(args.onnx, args.target, args.dynamic_batch)
    if not r.ok and len(r.problems) > 1:
        for p in r.problems:
            print("problem: " + p)
    return _print_check(r)


def run_build(args) -> int:
    from .. import api
    from ..errors import EdgenasError

    if not args.target and not args.board:
        raise EdgenasError("edgenas build needs --target (or --board with a board that has one); see edgenas build --help")
    if args.check_only:
        if args.target is None:
            from ..tasks.deploy import board_target

            args.target = board_target(None, args.board, "a check")[0]
        return _print_check(api.check(args.onnx, args.target, args.dynamic_batch))
    if args.board:
        r = api.build(args.onnx, args.target, args.out, args.timing_cache, args.dynamic_batch, log=print, board=args.board,
                      accept_new_host_key=args.accept_new_host_key, fresh=args.fresh, progress=not args.quiet)
    else:
        if args.fresh or args.accept_new_host_key:
            raise EdgenasError("--fresh and --accept-new-host-key are for --board builds; add --board NAME")
        t = api.load_target(args.target)
        if t.backend != "tensorrt":
            raise EdgenasError("target '{}' uses {}, not TensorRT; nothing to build (deploy the ONNX as is)".format(
                t.name, t.backend))
        r = api.build(args.onnx, t, args.out, args.timing_cache, args.dynamic_batch, log=print)
    m = r.meta
    print("built      {} ({:.1f} MB) in {:.1f} s{}: TensorRT {}, {} ({}), {}, {} typing, {} layers; sidecar {}".format(
        r.engine, r.size_mb, r.seconds, " on board " + args.board if args.board else "", m["tensorrt"], m["gpu"],
        m["compute_capability"], m["precision"], m["build"]["typing"], m["layers"], r.sidecar))
    return 0
