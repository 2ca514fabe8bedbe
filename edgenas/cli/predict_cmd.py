"""edgenas predict --table T --arch ARCH"""


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="predict an architecture's latency from a table")
    p.add_argument("--table", required=True, help="latency table JSON")
    p.add_argument("--arch", required=True, help="arch string, or JSON file with {\"arch\": ...}")
    p.add_argument("--breakdown", action="store_true", help="print each op's table latency")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import api

    r = api.predict(args.table, args.arch)
    if args.breakdown:
        for key, ms in r.ops:
            kind = "boundary" if key.split("_", 1)[0] in ("quant", "dequant") else ("fp32" if key.startswith("fp32:") else r.precision)
            print("  {:<48} {:<8} {:8.4f} ms".format(key.replace("fp32:", ""), kind, ms))
    print("arch       {}".format(r.arch))
    print("params     {:.3f} M   MACs {:.2f} M".format(r.params / 1e6, r.macs / 1e6))
    print("predicted  {:.4f} ms on {} ({}, {} ops; calibration LOO MAPE {:.1f}%)".format(
        r.latency_ms, r.target, r.precision, len(r.ops), r.loo_mape_pct))
    return 0
