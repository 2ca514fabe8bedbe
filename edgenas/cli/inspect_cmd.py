"""edgenas inspect table T"""

from ..latency.table import LatencyTable
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
    table = LatencyTable.load(args.path)
    print("\n".join(table.summary()))
    if args.top > 0:
        by_lat = sorted(table.entries.items(), key=lambda kv: -kv[1]["median_ms"])[: args.top]
        by_noise = sorted(table.entries.items(), key=lambda kv: -kv[1].get("noise_pct", 0.0))[: args.top]
        print("slowest    " + "; ".join("{} {:.4f} ms".format(k, e["median_ms"]) for k, e in by_lat))
        print("noisiest   " + "; ".join("{} {:.1f}%".format(k, e.get("noise_pct", 0.0)) for k, e in by_noise))
    return 0
