"""Host side: a pure-Python wheel of this edgenas for a board, built from the package's own files.

No build backend, no network, no torch dependency, and the same bytes for the same sources, so its
sha256 names an exact build (a board re-installs only when the code changed). It works from a checkout
and from an installed edgenas alike. The wheel is standard: ``pip install`` accepts it too.
"""

import base64
import hashlib
import io
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import List, Tuple

from .._version import __version__

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the edgenas package this module belongs to
SKIP_DIRS = {"__pycache__"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".tmp")
# The shipped latency tables are the host's search inputs; a board times its own (targets ship: doctor --target).
SKIP_PREFIXES = ("edgenas/shipped/latency_tables/",)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def edgenas_version() -> str:
    return __version__


def _package_files() -> List[Tuple[str, bytes]]:
    root = PACKAGE_DIR
    files = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root.parent)
        if p.is_file() and not SKIP_DIRS.intersection(rel.parts) and not p.name.endswith(SKIP_SUFFIXES) \
                and not p.name.startswith(".") and not rel.as_posix().startswith(SKIP_PREFIXES):
            files.append((rel.as_posix(), p.read_bytes()))
    return files


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@lru_cache(maxsize=1)
def build_wheel() -> Tuple[str, bytes, int]:
    """(file name, wheel bytes, installed size in bytes) for the running edgenas."""
    version = edgenas_version()
    files = _package_files()
    info = "edgenas-{}.dist-info".format(version)
    meta = ("Metadata-Version: 2.1\nName: edgenas\nVersion: {}\nSummary: edgenas board side (numpy + onnxruntime or "
            "TensorRT; never torch)\nRequires-Python: >=3.8\nRequires-Dist: numpy>=1.20\n").format(version)
    wheel = "Wheel-Version: 1.0\nGenerator: edgenas.board.wheel\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files += [(info + "/METADATA", meta.encode()), (info + "/WHEEL", wheel.encode())]
    record = "".join("{},{},{}\n".format(n, _record_hash(d), len(d)) for n, d in files) + info + "/RECORD,,\n"
    files.append((info + "/RECORD", record.encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zi = zipfile.ZipInfo(name, ZIP_DATE)
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
    return "edgenas-{}-py3-none-any.whl".format(version), buf.getvalue(), sum(len(d) for _, d in files)


def build_id() -> str:
    """``<version>-<12 hex of the wheel's sha256>``: the board's install directory name."""
    _, data, _ = build_wheel()
    return "{}-{}".format(edgenas_version(), hashlib.sha256(data).hexdigest()[:12])
