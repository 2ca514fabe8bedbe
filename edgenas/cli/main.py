"""``edgenas <command>``: one module per subcommand that parses arguments, calls ``edgenas.api`` and
formats the result. User errors (bad flags included) print one line and exit 1; bugs print a
traceback and exit 2."""

import argparse
import errno
import importlib
import signal
import sys
from typing import List, Optional

from .._version import __version__
from ..errors import EdgenasError

COMMANDS = {
    "targets": "edgenas.cli.targets_cmd",
    "space": "edgenas.cli.space_cmd",
    "profile": "edgenas.cli.profile_cmd",
    "predict": "edgenas.cli.predict_cmd",
    "drift": "edgenas.cli.drift_cmd",
    "inspect": "edgenas.cli.inspect_cmd",
    "supernet": "edgenas.cli.supernet_cmd",
    "search": "edgenas.cli.search_cmd",
    "extract": "edgenas.cli.model_cmd",
    "prune": "edgenas.cli.prune_cmd",
    "export": "edgenas.cli.compress_cmd",
    "build": "edgenas.cli.build_cmd",
    "check": "edgenas.cli.build_cmd",
    "validate": "edgenas.cli.validate_cmd",
    "doctor": "edgenas.cli.doctor_cmd",
    "run": "edgenas.cli.pipeline_cmd",
    "board": "edgenas.cli.board_cmd",
}

_OS_FIXES = {errno.ENOSPC: "free disk space or choose another output folder",
             errno.EROFS: "the file system is read-only; choose another output folder",
             errno.EACCES: "fix the permissions or choose another path",
             errno.EPERM: "fix the permissions or choose another path",
             errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
             errno.EISDIR: "give a file path, not a folder",
             errno.EDQUOT: "the disk quota is exceeded; free space or choose another output folder",
             errno.ENAMETOOLONG: "use a shorter path"}


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 1), like every other user error."""

    def error(self, message: str):
        raise EdgenasError("{}: {}; see {} --help".format(self.prog, message, self.prog))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="edgenas", description="Hardware-aware NAS, compression and on-device "
                    "validation for edge boards, measured on the board.")
    parser.add_argument("--version", action="version", version="edgenas " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=Parser)
    sub.required = True
    for module in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(module).add_parser(sub)
    return parser


def _on_sigterm(signum, frame):  # run finally-blocks (temp files, locks) on `kill`, as on Ctrl-C
    raise KeyboardInterrupt


def os_error_line(e: OSError) -> str:
    where = " {}".format(e.filename) if e.filename else ""
    return "cannot use{}: {}; {}".format(where, e.strerror or str(e), _OS_FIXES.get(e.errno or 0, "check the path and try again"))


def main(argv: Optional[List[str]] = None) -> int:
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        previous = None
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: Optional[List[str]]) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except EdgenasError as e:
        sys.stderr.write("edgenas: error: {}\n".format(str(e).replace("\n", " ")))
        if getattr(e, "detail", None):  # the user's own code failed (a metric hook): its traceback, labelled
            sys.stderr.write(e.detail.rstrip("\n") + "\n")
        return 1
    except OSError as e:  # a full disk, a read-only folder, a path through a file: the user's to fix
        sys.stderr.write("edgenas: error: {}\n".format(os_error_line(e)))
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("edgenas: interrupted; measured work is checkpointed, run the same command to resume\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
