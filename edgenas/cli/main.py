"""``edgenas <command>``: one module per subcommand; user errors print one line and exit 1."""

import argparse
import importlib
import sys
from typing import List, Optional

from .. import __version__
from ..errors import EdgenasError

COMMANDS = {
    "targets": "edgenas.cli.targets_cmd",
    "space": "edgenas.cli.space_cmd",
    "profile": "edgenas.cli.profile_cmd",
    "predict": "edgenas.cli.predict_cmd",
    "inspect": "edgenas.cli.inspect_cmd",
    "supernet": "edgenas.cli.supernet_cmd",
    "search": "edgenas.cli.search_cmd",
    "extract": "edgenas.cli.model_cmd",
    "prune": "edgenas.cli.prune_cmd",
    "export": "edgenas.cli.compress_cmd",
    "validate": "edgenas.cli.validate_cmd",
    "build": "edgenas.cli.build_cmd",
    "run": "edgenas.cli.pipeline_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgenas", description="Hardware-aware NAS, compression and on-device "
                                     "validation for edge boards, measured on the board.")
    parser.add_argument("--version", action="version", version="edgenas " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True
    for module in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(module).add_parser(sub)
    return parser


def run_command(argv: List[str]) -> int:
    """Run one subcommand in-process and let user errors propagate (the pipeline wraps them)."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EdgenasError as e:
        sys.stderr.write("edgenas: error: {}\n".format(e))
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("edgenas: interrupted; measured work is checkpointed, run the same command to resume\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
