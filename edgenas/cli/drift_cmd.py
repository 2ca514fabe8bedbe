"""edgenas drift TABLE [--target T] [--board NAME] [--out DIR]: is this table true on this board?"""

from .common import num


def add_parser(sub) -> None:
    p = sub.add_parser("drift", help="check a latency table against the board at hand (rescale or re-profile it)")
    p.add_argument("table", help="latency table JSON")
    p.add_argument("--target", help="target name or YAML (default: the table's own)")
    p.add_argument("--board", help="a board from `edgenas board list`: time the reference networks there over SSH")
    p.add_argument("--out", default="runs/drift", help="folder for the check, the rescaled or re-profiled table")
    num(p, "--networks", default=6, help="reference networks to time (default 6)")
    p.add_argument("--no-reprofile", action="store_true", help="refuse with the command instead of re-profiling")
    p.add_argument("--accept-new-host-key", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import api

    r = api.check_table(args.table, args.target, args.out, board=args.board, networks=args.networks,
                        reprofile=not args.no_reprofile, accept_new_host_key=args.accept_new_host_key, log=None)
    for line in r.summary():
        print(line)
    for n in r.networks:
        print("  {:<6} predicted {:8.4f} ms  measured {:8.4f} ms  ratio {:.3f}  noise {:.1f}%".format(
            n["name"], n["predicted_ms"], n["measured_ms"], n["ratio"], n["noise_pct"]))
    print("report: {}".format(r.report))
    return 0
