"""edgenas predict --table T --arch ARCH"""

from ..latency.predictor import Predictor
from ..latency.table import LatencyTable
from ..tasks.common import read_arch


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="predict an architecture's latency from a table")
    p.add_argument("--table", required=True, help="latency table JSON")
    p.add_argument("--arch", required=True, help="arch string, or JSON file with {\"arch\": ...}")
    p.add_argument("--breakdown", action="store_true", help="print each op's table latency")
    p.set_defaults(func=run)


def run(args) -> int:
    table = LatencyTable.load(args.table)
    pred = Predictor(table)
    arch = read_arch(pred.space, args.arch)
    total, parts = pred.predict_arch(arch)
    params, macs = pred.space.cost(arch)
    if args.breakdown:
        for key, ms in parts:
            kind = "boundary" if key.split("_", 1)[0] in ("quant", "dequant") else (
                "fp32" if key.startswith("fp32:") else table.header["precision"])
            print("  {:<48} {:<8} {:8.4f} ms".format(key.replace("fp32:", ""), kind, ms))
    print("arch       {}".format(pred.space.to_string(arch)))
    print("params     {:.3f} M   MACs {:.2f} M".format(params / 1e6, macs / 1e6))
    print("predicted  {:.4f} ms on {} ({}, {} ops; calibration LOO MAPE {:.1f}%)".format(
        total, table.target_name, table.header["precision"], len(parts), table.calibration["loo_mape_pct"]))
    return 0
