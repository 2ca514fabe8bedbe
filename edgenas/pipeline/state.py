"""The pipeline's state file (``pipeline.json``: one record per finished stage, for caching and resuming).

A state file that cannot be used is never ignored silently: the run says why and starts over (every stage
runs again, which only costs time; outputs are rewritten atomically)."""

import json
from pathlib import Path
from typing import Any, Callable, Dict


def load_state(path: Path, log: Callable[[str], None]) -> Dict[str, Any]:
    """The stage records in ``path``; {} (with a logged reason) when it is absent, unreadable or not a state file."""
    if not path.exists():
        return {}
    why = None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # a directory, no permission, binary, truncated or torn JSON
        data, why = None, (e.strerror if isinstance(e, OSError) and e.strerror else str(e).split(":")[0])
    if why is None and not isinstance(data, dict):
        why = "a JSON {}, not an object of stage records".format(type(data).__name__)
    if why is None:
        bad = sorted(k for k, v in data.items() if not (isinstance(v, dict) and isinstance(v.get("key"), str)))
        if bad:
            log("[pipeline ] state file {}: record(s) {} unreadable; those stages run again".format(path, ", ".join(bad)))
        return {k: v for k, v in data.items() if k not in bad}
    log("[pipeline ] state file {} is unreadable ({}); starting over: every stage runs again".format(path, why))
    return {}
