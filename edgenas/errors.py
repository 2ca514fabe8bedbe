"""User errors versus bugs.

An ``EdgenasError`` is a mistake the user can fix (bad file, unknown name, impossible budget): the CLI
prints its one-line message and exits 1. Anything else is a bug: traceback, exit 2.
"""

import difflib
from typing import Iterable, Optional


class EdgenasError(Exception):
    """A user-facing error with a one-line message that says what is wrong and how to fix it."""


class UserCodeError(EdgenasError):
    """The user's own code (a metric hook) failed: the one-line message says so, and ``detail`` holds that
    code's traceback, labelled as the user's, which the CLI prints below the message."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def suggest(name: str, candidates: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest candidate, or ''."""
    match = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return " (did you mean '{}'?)".format(match[0]) if match else ""


def unknown(kind: str, name: str, candidates: Iterable[str], hint: Optional[str] = None) -> EdgenasError:
    candidates = sorted(candidates)
    msg = "unknown {} '{}'{}; known: {}".format(kind, name, suggest(name, candidates), ", ".join(candidates))
    if hint:
        msg += "; " + hint
    return EdgenasError(msg)
