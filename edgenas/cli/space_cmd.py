"""edgenas space list | show NAME | sample NAME"""

import numpy as np

from ..space import get_space, list_spaces
from .common import num, space_from_args


def add_parser(sub) -> None:
    p = sub.add_parser("space", help="list, describe and sample search spaces")
    ssub = p.add_subparsers(dest="space_cmd", metavar="<list|show|sample>")
    ssub.required = True
    ssub.add_parser("list", help="registered spaces").set_defaults(func=run_list)
    for name, func, hlp in (("show", run_show, "genes, op count and size range"), ("sample", run_sample, "random arch strings")):
        s = ssub.add_parser(name, help=hlp)
        s.add_argument("name")
        num(s, "--resolution")
        s.add_argument("--space-opt", action="append", metavar="KEY=VALUE")
        if name == "sample":
            num(s, "--n", default=3)
            num(s, "--seed", default=0)
        s.set_defaults(func=func)


def run_list(args) -> int:
    for name in list_spaces():
        s = get_space(name)
        print("{:<12} {} genes, {} ops at {}px".format(name, len(s.genes), len(s.all_ops()), s.resolution))
    return 0


def run_show(args) -> int:
    s = space_from_args(args.name, args)
    print("space      {} (hash {})".format(s.name, s.sha256[:12]))
    for k, v in s.config.items():
        print("  {:<14} {}".format(k, v))
    sizes = np.prod([float(len(g.choices)) for g in s.genes])
    print("genes      {} (raw genotype space {:.2e})".format(len(s.genes), sizes))
    print("ops        {} unique at {}px".format(len(s.all_ops()), s.resolution))
    lo = s.decode(np.zeros(len(s.genes), dtype=np.int64))
    hi = s.decode(np.array([len(g.choices) - 1 for g in s.genes]))
    for label, arch in (("smallest", lo), ("largest", hi)):
        p, m = s.cost(arch)
        print("{:<10} {:.3f} M params, {:.1f} M MACs: {}".format(label, p / 1e6, m / 1e6, s.to_string(arch)))
    return 0


def run_sample(args) -> int:
    s = space_from_args(args.name, args)
    for g in s.sample(np.random.default_rng(args.seed), args.n):
        print(s.to_string(s.decode(g)))
    return 0
