"""The boards a user has described once: ``~/.config/edgenas/boards.yaml`` (or ``$EDGENAS_BOARDS``).

Host side. The file is plain YAML the user may edit; ``edgenas board add/remove`` rewrite it atomically.
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Literal, Optional, Tuple

from ..errors import EdgenasError, unknown
from ..util.config import from_dict, to_dict
from ..util.io import atomic_write_text

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# ssh://[user@]host[:port]; host is a DNS name, an IPv4 address or a bracketed IPv6 address.
URL_RE = re.compile(r"^ssh://(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9_.-]*)@)?"
                    r"(?P<host>[A-Za-z0-9][A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?/?$")
OPTION_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*=\S.*$")


@dataclass
class BoardEntry:
    """One board: how to reach it (``url``), what it is (``target``), and where edgenas lives on it."""

    name: str
    url: str
    target: Optional[str] = None
    python: str = "python3"
    workdir: str = "~/.edgenas"
    ssh_options: List[str] = field(default_factory=list)
    connect_timeout: int = 10
    transfer: Literal["auto", "rsync", "scp"] = "auto"  # auto: rsync where both ends have it, else scp

    def check_loaded(self, where: str) -> None:
        check_name(self.name)
        parse_url(self.url, where + ".url")
        for opt in self.ssh_options:
            if not OPTION_RE.match(opt):
                raise EdgenasError("{}.ssh_options: '{}' is not Key=Value (e.g. IdentityFile=~/.ssh/id_orin)".format(where, opt))
        if self.connect_timeout < 1:
            raise EdgenasError("{}.connect_timeout: must be >= 1 second".format(where))
        for key in ("python", "workdir"):
            value = getattr(self, key)
            if not value or value.startswith("-") or "\n" in value or "\x00" in value:
                raise EdgenasError("{}.{}: {!r} is not a usable path".format(where, key, value))
        if self.workdir.rstrip("/") in ("", "~", "$HOME", "/root", "/home") or self.workdir.rstrip("/") == os.path.expanduser("~"):
            raise EdgenasError("{}.workdir: {!r} would mix edgenas's files with yours; use a folder of its own, e.g. "
                               "~/.edgenas".format(where, self.workdir))

    @property
    def user(self) -> Optional[str]:
        return parse_url(self.url)[0]

    @property
    def host(self) -> str:
        return parse_url(self.url)[1]

    @property
    def port(self) -> Optional[int]:
        return parse_url(self.url)[2]

    def to_yaml_dict(self) -> Dict[str, object]:
        d = to_dict(self)
        d.pop("name")
        defaults = BoardEntry(self.name, self.url)
        return {k: v for k, v in d.items() if k in ("url", "target") or v != getattr(defaults, k)}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise EdgenasError("board name {!r} is not allowed: use letters, digits, '_', '.' and '-' only, starting with a "
                           "letter or digit (e.g. orin-01)".format(name))
    return name


def parse_url(url: str, where: str = "board url") -> Tuple[Optional[str], str, Optional[int]]:
    """``ssh://user@host:port`` -> (user, host, port). Anything else (a shell word, an option) is refused."""
    m = URL_RE.match(url or "")
    if not m:
        raise EdgenasError("{}: {!r} is not ssh://[user@]host[:port] (e.g. ssh://nvidia@10.0.0.7 or ssh://orin when "
                           "~/.ssh/config has a Host orin entry)".format(where, url))
    port = int(m.group("port")) if m.group("port") else None
    if port is not None and not 0 < port < 65536:
        raise EdgenasError("{}: port {} in {!r} is out of range (1-65535)".format(where, port, url))
    return m.group("user"), m.group("host").strip("[]"), port


def boards_path() -> Path:
    env = os.environ.get("EDGENAS_BOARDS")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "edgenas" / "boards.yaml"


def load_boards(path: Optional[Path] = None) -> Dict[str, BoardEntry]:
    import yaml

    path = path or boards_path()
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise EdgenasError("cannot read {}: {}".format(path, e.strerror))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise EdgenasError("{}: malformed YAML{}; fix it or remove it".format(
            path, " at line {}".format(mark.line + 1) if mark is not None else ""))
    boards = data.get("boards") if isinstance(data, dict) else None
    if not isinstance(boards, dict):
        raise EdgenasError("{}: expected a 'boards:' mapping of name -> {{url, target, ...}}".format(path))
    out = {}
    for name, entry in boards.items():
        check_name(str(name))
        out[str(name)] = from_dict(BoardEntry, dict(entry or {}, name=str(name)), "{}: boards.{}".format(path, name))
    return out


def save_boards(boards: Dict[str, BoardEntry], path: Optional[Path] = None) -> Path:
    import yaml

    path = path or boards_path()
    body = yaml.safe_dump({"boards": {n: b.to_yaml_dict() for n, b in sorted(boards.items())}}, sort_keys=False)
    header = ("# edgenas boards: edit freely. Keys: url (ssh://user@host[:port]), target, python, workdir,\n"
              "# ssh_options (list of Key=Value), connect_timeout, transfer (auto|rsync|scp). SSH keys and ProxyJump\n"
              "# come from ~/.ssh/config.\n")
    return atomic_write_text(path, header + body)


def get_board(name: str, path: Optional[Path] = None) -> BoardEntry:
    check_name(name)
    boards = load_boards(path)
    hint = "add it with: edgenas board add {} ssh://user@host --target T".format(name)
    if not boards:
        raise EdgenasError("unknown board '{}': no boards in {}; {}".format(name, path or boards_path(), hint))
    if name not in boards:
        raise unknown("board", name, boards, hint)
    return boards[name]


def add_board(entry: BoardEntry, replace: bool = False, path: Optional[Path] = None) -> Path:
    entry.check_loaded("board '{}'".format(entry.name))
    boards = load_boards(path)
    if entry.name in boards and not replace:
        raise EdgenasError("board '{}' already exists ({}); use --force to replace it or edgenas board remove {}".format(
            entry.name, boards[entry.name].url, entry.name))
    boards[entry.name] = entry
    return save_boards(boards, path)


def remove_board(name: str, path: Optional[Path] = None) -> BoardEntry:
    entry = get_board(name, path)
    boards = load_boards(path)
    del boards[name]
    save_boards(boards, path)
    return entry
