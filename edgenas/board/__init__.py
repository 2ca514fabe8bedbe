"""Drive a board over the system's OpenSSH: describe it once, install the board side, move files by
content hash, run resumable remote jobs and fetch what they write. The files stay the contract.

Host API (lazy, so the board-side ``edgenas.agent`` imports nothing host-only):
``remote_profile``, ``remote_build``, ``remote_validate``, ``setup_board``, ``clean_board``, ``board_jobs``,
``remote_for`` + ``run_job``/``JobSpec``, ``board_out_paths``.
"""

_API = {"remote_profile": "api", "setup_board": "api", "clean_board": "api", "board_jobs": "api", "remote_for": "api",
        "resolve_boards": "api", "board_out_paths": "api", "run_job": "job", "JobSpec": "job",
        "remote_build": "deploy", "remote_validate": "deploy"}


def __getattr__(name):
    if name in _API:
        import importlib

        return getattr(importlib.import_module("." + _API[name], __name__), name)
    raise AttributeError("module {!r} has no attribute {!r}".format(__name__, name))


__all__ = sorted(_API)
