"""edgenas inspect table T"""

from .common import num


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="summarise an artifact")
    isub = p.add_subparsers(dest="inspect_cmd", metavar="<table>")
    isub.required = True
    t = isub.add_parser("table", help="provenance, entry count, noise and calibration error of a latency table")
    t.add_argument("path")
    num(t, "--top", default=5, help="also list the N slowest and noisiest entries")
    t.set_defaults(func=run_table)


def run_table(args) -> int:
    from .. import api

    info = api.inspect_table(args.path, top=args.top)
    print("\n".join(info.summary))
    if args.top > 0:
        print("slowest    " + "; ".join("{} {:.4f} ms".format(k, ms) for k, ms in info.slowest))
        print("noisiest   " + "; ".join("{} {:.1f}%".format(k, pct) for k, pct in info.noisiest))
    return 0
