"""edgenas targets list | show NAME"""

import yaml

from ..targets import list_targets, load_target


def add_parser(sub) -> None:
    p = sub.add_parser("targets", help="list and show board targets")
    tsub = p.add_subparsers(dest="targets_cmd", metavar="<list|show>")
    tsub.required = True
    tsub.add_parser("list", help="list the shipped targets").set_defaults(func=run_list)
    show = tsub.add_parser("show", help="show one target, validated")
    show.add_argument("name", help="target name or path to a YAML file")
    show.set_defaults(func=run_show)


def run_list(args) -> int:
    rows = [load_target(n) for n in list_targets()]
    print("{:<28} {:<12} {:<6} {:<22} {}".format("NAME", "BACKEND", "PREC", "BOARD", "DESCRIPTION"))
    for t in rows:
        print("{:<28} {:<12} {:<6} {:<22} {}".format(t.name, t.backend, t.precision, t.board.name, t.description))
    return 0


def run_show(args) -> int:
    t = load_target(args.name)
    print("# {} (sha256 {})".format(t.name, t.sha256[:12]))
    print(yaml.safe_dump(t.to_dict(), sort_keys=False).rstrip())
    return 0
