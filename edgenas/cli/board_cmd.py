"""edgenas board add|list|show|remove|setup|profile|jobs|clean: drive boards over SSH. (Building, validating and
profiling on a board are also --board options of edgenas build / validate / profile.)"""

from ..errors import EdgenasError
from .profile_cmd import board_args, space_args, upload_cap


def add_parser(sub) -> None:
    p = sub.add_parser("board", help="describe boards once, set them up and profile on them over SSH",
                       description="Boards live in ~/.config/edgenas/boards.yaml (or $EDGENAS_BOARDS). SSH keys, agent, "
                                   "ProxyJump and ports come from your ~/.ssh/config.")
    bsub = p.add_subparsers(dest="board_cmd", metavar="<add|list|show|remove|setup|profile|jobs|clean>")
    bsub.required = True
    add = bsub.add_parser("add", help="describe a board: edgenas board add orin ssh://nvidia@10.0.0.7 --target T")
    add.add_argument("name", help="board name: letters, digits, '_', '.', '-'")
    add.add_argument("url", help="ssh://[user@]host[:port] (host may be a Host alias from ~/.ssh/config)")
    add.add_argument("--target", help="the board's target (edgenas targets list)")
    add.add_argument("--python", default="python3", help="Python on the board (default python3; >= 3.8)")
    add.add_argument("--workdir", default="~/.edgenas", help="where edgenas keeps its files on the board")
    add.add_argument("--ssh-option", action="append", default=[], metavar="KEY=VALUE", help="extra ssh -o option")
    add.add_argument("--connect-timeout", type=int, default=10, help="seconds (default 10)")
    add.add_argument("--transfer", choices=["auto", "rsync", "scp"], default="auto",
                     help="file copies: rsync where both ends have it (auto), or always rsync / scp")
    add.add_argument("--force", action="store_true", help="replace an existing board of that name")
    add.set_defaults(func=run_add)
    bsub.add_parser("list", help="list boards").set_defaults(func=run_list)
    for name, func, text in (("show", run_show, "show a board's entry and how to log in"),
                             ("remove", run_remove, "forget a board (its files stay; clean them first)")):
        sp = bsub.add_parser(name, help=text)
        sp.add_argument("name")
        sp.set_defaults(func=func)
    setup = bsub.add_parser("setup", help="check the board, install edgenas's board side there, run its doctor")
    setup.add_argument("name")
    setup.add_argument("--reinstall", action="store_true", help="install again even if this build is there")
    _conn_args(setup)
    setup.set_defaults(func=run_setup)
    prof = bsub.add_parser("profile", help="same as edgenas profile --board NAMES: plan a bundle here, profile it on the "
                                           "board(s), fetch the table(s)")
    prof.add_argument("names", help="board name, or several: orin,xavier (profiled in parallel)")
    prof.add_argument("--out", required=True, help="table JSON; with several boards '{board}' in it, or T.<board>.json")
    space_args(prof)
    prof.add_argument("--bundle", help="a planned bundle to use as it is (default: plan into .edgenas/bundles/)")
    board_args(prof)
    upload_cap(prof)
    prof.add_argument("--quiet", action="store_true")
    prof.set_defaults(func=run_profile)
    jobs = bsub.add_parser("jobs", help="list the board's remote jobs")
    jobs.add_argument("name")
    _conn_args(jobs)
    jobs.set_defaults(func=run_jobs)
    clean = bsub.add_parser("clean", help="remove edgenas's jobs, uploaded files and older builds on the board")
    clean.add_argument("name")
    clean.add_argument("--all", action="store_true", help="also remove the installed board-side package")
    clean.add_argument("--kill", action="store_true", help="stop running jobs instead of keeping them")
    _conn_args(clean)
    clean.set_defaults(func=run_clean)


def _conn_args(p) -> None:
    p.add_argument("--accept-new-host-key", action="store_true",
                   help="first contact: trust and record the board's host key (a changed key is still refused)")


def run_add(args) -> int:
    from ..board.registry import BoardEntry, add_board, check_name
    from ..targets import load_target

    check_name(args.name)
    if args.target:
        load_target(args.target)
    entry = BoardEntry(args.name, args.url, args.target, args.python, args.workdir, list(args.ssh_option),
                       args.connect_timeout, args.transfer)
    path = add_board(entry, replace=args.force)
    print("board {} -> {} (target {}) saved in {}".format(entry.name, entry.url, entry.target or "-", path))
    print("next: edgenas board setup {}".format(entry.name))
    return 0


def run_list(args) -> int:
    from ..board.registry import boards_path, load_boards

    boards = load_boards()
    if not boards:
        print("no boards in {}; add one with: edgenas board add NAME ssh://user@host --target T".format(boards_path()))
        return 0
    print("{:<16} {:<36} {}".format("NAME", "URL", "TARGET"))
    for b in boards.values():
        print("{:<16} {:<36} {}".format(b.name, b.url, b.target or "-"))
    return 0


def run_show(args) -> int:
    import yaml

    from ..board.registry import boards_path, get_board
    from ..board.ssh import Connection

    b = get_board(args.name)
    print("# board {} in {}".format(b.name, boards_path()))
    print(yaml.safe_dump({b.name: dict(b.to_yaml_dict(), python=b.python, workdir=b.workdir)}, sort_keys=False).rstrip())
    print("# log in: {}".format(Connection(b).login_hint()))
    return 0


def run_remove(args) -> int:
    from ..board.registry import boards_path, remove_board

    b = remove_board(args.name)
    print("removed board {} ({}) from {}; its files on the board stay under {}".format(b.name, b.url, boards_path(), b.workdir))
    return 0


def run_setup(args) -> int:
    from ..board.api import setup_board

    r = setup_board(args.name, args.accept_new_host_key, reinstall=args.reinstall)
    e = r["env"]
    rows = [("python", "{} ({})".format(e["python"], e["executable"])), ("edgenas", "{} in {}".format(e["edgenas"], r["lib"])),
            ("numpy", e["numpy"]), ("onnxruntime", e["onnxruntime"] and "{} ({})".format(
                e["onnxruntime"], ", ".join(e.get("ort_providers", [])))),
            ("tensorrt", e["tensorrt"]), ("cuda", e["cuda"] or e["cudart"]),
            ("disk", "{:.1f} GB free in {}".format(e["free_bytes"] / 1e9, r["workdir"])), ("transfer", r["transfer"])]
    for k, v in rows:
        print("{:<12} {}".format(k, v or "-"))
    if r["doctor"]:
        print("\n".join(r["doctor"]["lines"]))
    if not r["ready"]:
        raise EdgenasError("board '{}' is not ready: {}".format(args.name, "; ".join(r["problems"])))
    print("board {} is ready".format(args.name))
    return 0


def run_profile(args) -> int:
    from .profile_cmd import run_on_boards

    args.board = args.names
    return run_on_boards(args)


def run_jobs(args) -> int:
    from ..board.api import board_jobs

    jobs = board_jobs(args.name, args.accept_new_host_key)
    for j in jobs:
        print("{:<18} {:<12} {}".format(j["id"], j["state"] + (" pid {}".format(j["pid"]) if j["pid"] else ""), j["title"]))
    if not jobs:
        print("no jobs on board {}".format(args.name))
    return 0


def run_clean(args) -> int:
    from ..board.api import clean_board

    out = clean_board(args.name, everything=args.all, kill=args.kill, accept_new_host_key=args.accept_new_host_key)
    counts = {}
    for item in out["removed"]:
        counts[item.split("/")[0]] = counts.get(item.split("/")[0], 0) + 1
    words = {"jobs": "jobs", "incoming": "partial uploads", "blobs": "stored files", "lib": "installed builds",
             "cache": "timing caches"}
    print("board {}: removed {} under {}".format(args.name, ", ".join("{} {}".format(n, words[k]) for k, n in counts.items())
                                                 or "nothing", out["workdir"]))
    return 0
