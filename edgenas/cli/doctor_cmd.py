"""edgenas doctor --target T: is this board ready? (also tools/doctor.py, torch-free)"""


def add_parser(sub) -> None:
    d = sub.add_parser("doctor", help="check this board for a target and run a tiny model on it (exit 0 = ready)")
    d.add_argument("--target", required=True, help="target name or YAML path")
    d.set_defaults(func=run)


def run(args) -> int:
    from .. import api
    from ..tasks.doctor import format_report

    r = api.doctor(args.target)
    print("\n".join(format_report(r)))
    return 0 if r.ready else 1
