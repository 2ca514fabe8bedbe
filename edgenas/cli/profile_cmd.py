"""edgenas profile [plan|board]: plan an ops bundle on the host, time it on the board, or both here."""

import sys
import time
from pathlib import Path

from ..errors import EdgenasError
from ..targets import load_target
from .common import space_from_args


def _space_args(p) -> None:
    p.add_argument("--target", help="target name (edgenas targets list) or YAML path")
    p.add_argument("--space", default="mbv3-small", help="search space (default: mbv3-small)")
    p.add_argument("--resolution", type=int, help="input resolution (default: the space's)")
    p.add_argument("--space-opt", action="append", metavar="KEY=VALUE", help="space option, e.g. width=0.75")
    p.add_argument("--networks", type=int, default=32, help="reference networks for calibration (default 32)")
    p.add_argument("--seed", type=int, default=0)


def add_parser(sub) -> None:
    p = sub.add_parser("profile", help="profile every op of a search space on this machine into a latency table",
                       description="Without a sub-command: plan the bundle and time it here. Split for a real "
                                   "board: 'profile plan' on the host, then 'profile board' (or "
                                   "tools/profile_board.py) on the board.")
    _space_args(p)
    p.add_argument("--out", help="latency table JSON to write")
    p.add_argument("--bundle", help="bundle directory (default: .edgenas/bundles/<space>-<res>-<precision>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_all)
    psub = p.add_subparsers(dest="profile_cmd", metavar="<plan|board>")
    plan = psub.add_parser("plan", help="host: write the ops bundle (ONNX per op + manifest + reference nets)")
    _space_args(plan)
    plan.add_argument("--bundle", required=True, help="directory to write the bundle into")
    plan.add_argument("--quiet", action="store_true")
    plan.set_defaults(func=run_plan)
    board = psub.add_parser("board", help="board: time a bundle and write the table (no torch needed)")
    board.add_argument("bundle", help="bundle directory")
    board.add_argument("--target", required=True)
    board.add_argument("--out", required=True)
    board.add_argument("--seed", type=int, default=0)
    board.add_argument("--quiet", action="store_true")
    board.set_defaults(func=run_board)


def _need(args, *names) -> None:
    missing = ["--" + n for n in names if getattr(args, n) in (None, "")]
    if missing:
        raise EdgenasError("edgenas profile needs {}; see edgenas profile --help".format(", ".join(missing)))


def run_plan(args) -> int:
    from ..profile.bundle import plan_bundle

    _need(args, "target")
    target, space = load_target(args.target), space_from_args(args.space, args)
    t0 = time.time()
    m = plan_bundle(space, target, args.bundle, n_networks=args.networks, seed=args.seed, show_progress=not args.quiet)
    print("bundle {}: {} ops + {} reference networks for {} @ {}px, {} ({:.1f} s)".format(
        args.bundle, len(m["ops"]), len(m["networks"]), space.name, space.resolution, target.precision, time.time() - t0))
    print("next, on the board: python tools/profile_board.py {} --target {} --out TABLE.json".format(args.bundle, target.name))
    return 0


def run_board(args) -> int:
    from ..profile.board import profile_bundle

    target = load_target(args.target)
    table = profile_bundle(args.bundle, target, args.out, seed=args.seed, show_progress=not args.quiet)
    print("\n".join(table.summary()))
    return 0


def run_all(args) -> int:
    from ..profile.board import profile_bundle
    from ..profile.bundle import plan_bundle

    _need(args, "target", "out")
    target, space = load_target(args.target), space_from_args(args.space, args)
    bundle = Path(args.bundle or Path(".edgenas") / "bundles" / "{}-r{}-{}-{}".format(
        space.name, space.resolution, target.precision, space.sha256[:8]))
    t0 = time.time()
    if not (bundle / "manifest.json").is_file():
        plan_bundle(space, target, bundle, n_networks=args.networks, seed=args.seed, show_progress=not args.quiet)
    else:
        sys.stderr.write("edgenas: reusing bundle {}\n".format(bundle))
    table = profile_bundle(bundle, target, args.out, seed=args.seed, show_progress=not args.quiet)
    table.header["total_time_s"] = round(time.time() - t0, 1)
    table.save(args.out)
    print("\n".join(table.summary()))
    print("wrote {} ({} entries) in {:.0f} s".format(args.out, len(table.entries), time.time() - t0))
    return 0
