"""Board-side entry point that the host runs over ssh: ``python -m edgenas.agent --workdir P <command>``.

Commands answer with one JSON object on stdout (``job-wait`` streams JSON lines); a user error is one
line on stderr and exit 1. torch and onnx are blocked before anything else is imported (edgenas/agent/__main__.py):
the board side never needs them, and a board that lacks them must behave the same as one that has them.
Python 3.8, stdlib + numpy + the backend's runtime.
"""

import argparse
import json
import os
import platform
import sys
import time
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError
from ..util.checks import cli_type
from . import jobs as agent_jobs, store as agent_store

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../lib/<build>/edgenas on a board


def _stdin_json() -> Any:
    try:
        return json.loads(sys.stdin.read() or "null")
    except ValueError:
        raise EdgenasError("expected JSON on stdin")


def _version(module: str) -> Optional[str]:
    try:
        m = __import__(module)
    except Exception:  # absent, or broken (a wrong CUDA, a missing library): both mean "not usable"
        return None
    return str(getattr(m, "__version__", "unknown"))


def _found(module: str) -> bool:
    """Whether ``module`` is installed, without importing it (the agent blocks onnx until a command needs it)."""
    from importlib.machinery import PathFinder

    try:
        return PathFinder.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def doctor(workdir: str, target: Any = None) -> Dict[str, Any]:
    """{"env": what this board has; "doctor": with a target, edgenas's own doctor for it (a tiny model built,
    run and compared on the target's runtime), or None}."""
    report: Dict[str, Any] = {"env": environment(workdir), "doctor": None}
    if target is not None:
        from ..targets import target_from_dict
        from ..tasks.doctor import doctor as run_doctor, format_report

        r = run_doctor(target_from_dict(target, where="target"))
        report["doctor"] = {"ready": r.ready, "lines": format_report(r),
                            "failures": ["{}: {}".format(c.name, c.fix or c.detail) for c in r.failures]}
    return report


def environment(workdir: str) -> Dict[str, Any]:
    """What this board can run: Python, numpy, ONNX Runtime, TensorRT, CUDA, disk, and which edgenas."""
    from .._version import __version__

    info: Dict[str, Any] = {"python": platform.python_version(), "executable": sys.executable,
                            "machine": platform.machine(), "platform": platform.platform(),
                            "edgenas": __version__, "edgenas_path": PACKAGE_DIR,
                            "torch_blocked": sys.modules.get("torch", 0) is None,
                            "numpy": _version("numpy"), "onnxruntime": _version("onnxruntime"),
                            "tensorrt": _version("tensorrt"), "free_bytes": agent_store.free_bytes(workdir),
                            "onnx_found": _found("onnx")}
    if info["onnxruntime"]:
        import onnxruntime

        info["ort_providers"] = list(onnxruntime.get_available_providers())
    try:
        from ..runtime.device import cuda_version

        info["cuda"] = cuda_version()
    except Exception:
        info["cuda"] = None
    import ctypes.util
    import importlib.util

    info["cudart"] = ctypes.util.find_library("cudart")
    info["cuda_python"] = any(importlib.util.find_spec(m) is not None for m in ("cuda", "pycuda"))
    try:  # compared with a table's provenance; a board without numpy still answers the rest
        from ..runtime.device import fingerprint, software_versions

        info["device"], info["software"] = fingerprint(), software_versions()
    except Exception:
        info["device"], info["software"] = None, None
    return info


def _progress_writer(path: str):
    """on_progress(done, total) -> JSON lines in ``path``, at most ~5 a second (and always the last)."""
    f = open(path, "a", encoding="utf-8")
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.2 or done >= total:
            last[0] = now
            f.write(json.dumps({"done": int(done), "total": int(total)}) + "\n")
            f.flush()

    return report


def profile(args) -> int:
    from ..latency.board import profile_bundle
    from ..targets import target_from_dict

    with open(args.target_json, "r", encoding="utf-8") as f:
        target = target_from_dict(json.load(f), where=args.target_json)
    report = _progress_writer(args.progress) if args.progress else None
    profile_bundle(args.bundle, target, args.out, seed=args.seed, show_progress=False, on_progress=report)
    return 0


def _target(path: str):
    from ..targets import target_from_dict

    with open(path, "r", encoding="utf-8") as f:
        return target_from_dict(json.load(f), where=path)


def _say(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")  # job.log
    sys.stderr.flush()


def _allow_onnx() -> None:
    """Building a TensorRT engine reads the ONNX with onnx first (the static check before TensorRT parses it)."""
    if "onnx" in sys.modules and sys.modules["onnx"] is None:
        del sys.modules["onnx"]


def build(args) -> int:
    """A TensorRT engine + sidecar (edgenas.tasks.deploy.build); with --board-cache, the timing cache is kept
    per target and TensorRT version under <workdir>/cache/ so later builds on this board reuse it."""
    import re

    from ..tasks.deploy import build as build_engine

    _allow_onnx()
    target = _target(args.target_json)
    cache = None
    if args.board_cache:
        name = "{}-trt{}".format(target.name, _version("tensorrt") or "none")
        cache = os.path.join(args.workdir, "cache", re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".timing.cache")
    r = build_engine(args.onnx, target, args.out, cache, args.dynamic_batch, log=_say)
    _say("built {} ({:.1f} MB) in {:.1f} s".format(r.engine, r.size_mb, r.seconds))
    return 0


def validate(args) -> int:
    """The artifact against host-saved FP32 outputs (edgenas.tasks.validate.validate_saved); a FAIL is a
    report, not an error: the job succeeds and the host fetches the report."""
    from ..tasks.validate import validate_saved

    from ..backends.registry import get_backend

    target = _target(args.target_json)
    if get_backend(target.backend).builds_engine and args.artifact.endswith(".onnx"):
        _allow_onnx()  # an ONNX on an engine-building target (TensorRT) is built into an engine first
    r = validate_saved(args.artifact, target, args.inputs, args.ref_outputs, args.out,
                       args.max_acc_drop, args.min_agreement, args.min_cosine, args.predicted_ms,
                       max_latency_over_predicted=args.max_latency_over_predicted,
                       thresholds=json.loads(args.thresholds_json) if args.thresholds_json else None,
                       class_outputs=[c for c in (args.class_outputs or "").split(",") if c] or None,
                       save_outputs=args.save_outputs)
    _say(r.markdown.read_text(encoding="utf-8"))
    return 0


def _own_copies(folder: str) -> None:
    """Give every file under ``folder`` its own copy: uploads are placed as hard links to the file store, and onnx
    refuses external data with several links (its guard against hard-link attacks)."""
    import shutil

    for root, _, names in os.walk(folder):
        for n in names:
            p = os.path.join(root, n)
            if os.path.isfile(p) and os.stat(p).st_nlink > 1:
                shutil.copyfile(p, p + ".copy")
                os.replace(p + ".copy", p)


def profile_model(args) -> int:
    """Per-layer profile of a user's ONNX model in context (edgenas.latency.model_profile.profile_models) on the
    host-saved feeds; writes the profile JSON (the host writes the Markdown and the plot)."""
    import numpy as np

    from ..latency.model_profile import profile_models
    from ..util.io import atomic_write_json

    _allow_onnx()  # the profile maps kernels back to the model's ONNX nodes: it reads the graph with onnx
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise EdgenasError("onnx is not installed on this board: {} -m pip install --user onnx".format(sys.executable))
    _own_copies(os.path.dirname(os.path.abspath(args.model)))
    target = _target(args.target_json)
    with np.load(args.feeds, allow_pickle=False) as z:
        feeds = {k[len("feed:"):] if k.startswith("feed:") else k: np.ascontiguousarray(z[k]) for k in z.files}
    report = _progress_writer(args.progress) if args.progress else None
    prof = profile_models({"model": args.model}, target, feeds, args.seed, args.budget_s, on_progress=report)["model"]
    atomic_write_json(args.out, prof)
    _say("profiled {}: end-to-end {:.4f} ms, {} rows, in {:.1f} s".format(args.model, prof["e2e"]["median_ms"],
                                                                         len(prof["rows"]), prof["seconds"]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m edgenas.agent", description=__doc__.splitlines()[0])
    p.add_argument("--workdir", required=True, help="the board's edgenas work dir (absolute)")
    sub = p.add_subparsers(dest="cmd", metavar="<command>")
    sub.required = True
    sub.add_parser("doctor", help="stdin: a target as JSON, or nothing; report runtimes, CUDA, disk (+ doctor)")
    sub.add_parser("need", help="stdin: JSON list of sha256; stdout: the ones the store lacks")
    st = sub.add_parser("stage", help="stdin: {relative name: sha256}; verify uploads and lay them out in DIR")
    st.add_argument("dir", help="directory relative to the work dir")
    js = sub.add_parser("job-start", help="stdin: job spec; start the job in DIR unless it runs or has finished")
    js.add_argument("dir")
    js.add_argument("--fresh", action="store_true", help="discard a finished job's result and run it again")
    for name in ("job-wait", "job-run", "job-kill"):
        sub.add_parser(name).add_argument("dir")
    sub.add_parser("jobs", help="list jobs and their states")
    cl = sub.add_parser("clean", help="remove jobs, uploads, the store and older builds (running jobs stay unless --kill)")
    cl.add_argument("--all", action="store_true", help="also remove the installed package")
    cl.add_argument("--kill", action="store_true", help="stop running jobs first")
    pr = sub.add_parser("profile", help="time an ops bundle (wraps edgenas.latency.board.profile_bundle)")
    pr.add_argument("bundle")
    pr.add_argument("--target-json", required=True, help="the target as JSON (the board needs no targets/ folder)")
    pr.add_argument("--out", required=True)
    pr.add_argument("--progress", help="append progress events (JSON lines) to this file")
    pr.add_argument("--seed", type=int, default=0)
    bd = sub.add_parser("build", help="build a TensorRT engine + sidecar (wraps edgenas.tasks.deploy.build)")
    bd.add_argument("onnx")
    bd.add_argument("--target-json", required=True)
    bd.add_argument("--out", required=True)
    bd.add_argument("--dynamic-batch", metavar="MIN,OPT,MAX")
    bd.add_argument("--board-cache", action="store_true", help="keep the timing cache under <workdir>/cache/")
    va = sub.add_parser("validate", help="artifact vs saved FP32 outputs (wraps edgenas.tasks.validate.validate_saved)")
    va.add_argument("artifact")
    va.add_argument("--target-json", required=True)
    va.add_argument("--inputs", required=True)
    va.add_argument("--ref-outputs", required=True)
    va.add_argument("--out", required=True)
    from ..validation.report import Thresholds

    th = Thresholds()  # the defaults, declared once
    for name in ("max_acc_drop", "min_agreement", "min_cosine", "max_latency_over_predicted"):
        flag = "--" + name.replace("_", "-")
        va.add_argument(flag, type=cli_type(name, flag), default=getattr(th, name))
    va.add_argument("--predicted-ms", type=cli_type("latency_ms", "--predicted-ms"))
    va.add_argument("--thresholds-json", help="every threshold as JSON (tolerances per output too); replaces the four above")
    va.add_argument("--class-outputs", help="comma-separated outputs that hold class scores")
    va.add_argument("--save-outputs", help="also save the artifact's outputs here (the host runs a metric hook on them)")
    pm = sub.add_parser("profile-model", help="per-layer profile of an ONNX model in context (wraps "
                                              "edgenas.latency.model_profile.profile_models)")
    pm.add_argument("model")
    pm.add_argument("--target-json", required=True)
    pm.add_argument("--feeds", required=True, help=".npz with one array per model input (one inference)")
    pm.add_argument("--out", required=True, help="profile JSON to write")
    pm.add_argument("--progress", help="append progress events (JSON lines) to this file")
    pm.add_argument("--seed", type=int, default=0)
    pm.add_argument("--budget-s", type=cli_type("budget_s", "--budget-s"), default=90.0)
    return p


def dispatch(argv: List[str]) -> int:
    args = build_parser().parse_args(argv)
    wd = os.path.abspath(os.path.expanduser(args.workdir))
    if args.cmd == "job-run":  # the detached runner, started by job-start with an absolute path
        return agent_jobs.run(args.dir, lambda job_argv: dispatch(["--workdir", wd] + list(job_argv)))
    job = os.path.join(wd, agent_store.safe_rel(args.dir)) if getattr(args, "dir", None) else None
    out: Any = None
    if args.cmd == "doctor":
        out = doctor(wd, _stdin_json())
    elif args.cmd == "need":
        out = agent_store.need(wd, list(_stdin_json() or []))
    elif args.cmd == "stage":
        out = agent_store.stage(wd, args.dir, dict(_stdin_json() or {}))
    elif args.cmd == "job-start":
        out = agent_jobs.start(wd, job, _stdin_json(), fresh=args.fresh)
    elif args.cmd == "job-wait":
        return agent_jobs.wait(job)
    elif args.cmd == "job-kill":
        out = {"killed": agent_jobs.kill(job)}
    elif args.cmd == "jobs":
        out = agent_jobs.list_jobs(wd)
    elif args.cmd == "clean":
        running = [j["id"] for j in agent_jobs.list_jobs(wd) if j["state"] == "running"]
        if args.kill:
            for j in running:
                agent_jobs.kill(os.path.join(wd, "jobs", j))
            running = [j["id"] for j in agent_jobs.list_jobs(wd) if j["state"] == "running"]
        out = agent_store.clean(wd, args.all, running, os.path.basename(os.path.dirname(PACKAGE_DIR)))
    elif args.cmd in ("profile", "build", "validate", "profile-model"):
        args.workdir = wd
        return {"profile": profile, "build": build, "validate": validate, "profile-model": profile_model}[args.cmd](args)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    try:
        return dispatch(sys.argv[1:] if argv is None else argv)
    except EdgenasError as e:
        sys.stderr.write("edgenas-agent: error: {}\n".format(e))
        return 1
    except OSError as e:
        sys.stderr.write("edgenas-agent: error: {}{}\n".format(e.strerror or e, ": " + e.filename if e.filename else ""))
        return 1

