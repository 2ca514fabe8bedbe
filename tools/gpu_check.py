#!/usr/bin/env python3
"""The first thing to run whenever a CUDA GPU is at hand: one JSON in under 8 minutes, each step a
subprocess with its own time limit, the JSON rewritten after every step (a run cut short keeps what it had).

Steps (in this order, cheapest first), each calling the project's own tools rather than new code:
  doctor        edgenas doctor --target gpu-torch-fp16 (torch, CUDA, GPU, clocks, a tiny net as a CUDA graph)
  cuda_events   tools/check_cuda.py: the CUDA event timing's own overhead and leak check (100k timed calls,
                host RSS and device memory before and after)
  train_speed   tools/bench_gpu.py: supernet training images/s on the GPU against the CPU, one run
  ddp           edgenas supernet train --device cuda:0, one process, then torchrun with two processes on the
                same GPU (nccl); images/s of each
  table_graph   edgenas profile (gpu-torch-fp16, a 130-op mbv3-small space) + tools/bench_table_accuracy.py on
                50 random nets: the table's per-op sum (and calibrated prediction) against whole-network time,
                everything timed as CUDA-graph replays
  table_eager   the same with EDGENAS_TORCH_TIMING=eager (eager launches between CUDA events)

    python tools/gpu_check.py --out runs/gpu_check              # on the GPU machine; writes runs/gpu_check/gpu_check.json
    python tools/gpu_check.py --dry-run                          # the plan, and that every tool and command exists

Without a CUDA GPU every step still runs and fails fast with its own one-line reason (that is tested).
"""

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing
PY = sys.executable
SPACE = ["--space", "mbv3-small", "--space-opt", "kernels=[3,5]", "--space-opt", "expands=[3,6]"]  # 130 ops at 28 px
TRAIN = ["--space", "mbv3-small", "--epochs", "2", "--batch-size", "256", "--val-size", "512", "--seed", "0", "--quiet"]
BUDGET_S = 470  # the whole run; each step also has its own cap below
TOOLS = ["tools/check_cuda.py", "tools/bench_gpu.py", "tools/bench_table_accuracy.py"]
SUBCOMMANDS = [["doctor"], ["profile"], ["supernet", "train"]]


def _env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def _rel(p) -> str:
    """Paths in the JSON relative to the repository (committed results carry no machine paths)."""
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return Path(p).name


def _scrub(text: str) -> str:
    """The checkout's absolute path out of captured output (committed results carry no machine paths)."""
    return (text or "").replace(str(ROOT) + os.sep, "").replace(str(ROOT), ".")


def run(cmd: List[str], timeout: float, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """One subprocess in its own process group (killed whole on timeout): rc, seconds, output tail, reason."""
    t0 = time.time()
    shown = [_rel(c) if os.path.isabs(c) and c != PY else ("python" if c == PY else c) for c in cmd]
    if timeout < 5:
        return {"cmd": shown, "status": "skip", "reason": "no time left in the run's budget", "seconds": 0.0}
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env=_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        status = "pass" if proc.returncode == 0 else "fail"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the step and everything it started (torchrun workers)
        out, err = proc.communicate()
        status = "timeout"
    out, err = _scrub(out), _scrub(err)
    res = {"cmd": shown, "status": status, "rc": proc.returncode, "seconds": round(time.time() - t0, 1),
           "stdout_tail": out[-1500:], "stderr_tail": err[-1500:]}
    if status != "pass":
        lines = [ln.strip() for ln in (err + "\n" + out).splitlines() if ln.strip()]
        mine = [ln for ln in lines if "error" in ln.lower() or "FAIL" in ln or "NOT READY" in ln]
        res["reason"] = ("timed out after {:.0f} s".format(timeout) if status == "timeout" else
                         (mine[-1] if mine else lines[-1] if lines else "exit code {}".format(proc.returncode)))[:400]
    return res


def _json(path: Path) -> Optional[Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _img_per_s(res: Dict[str, Any]) -> Optional[float]:
    m = re.search(r"([\d.]+) img/s", res.get("stdout_tail", ""))
    return float(m.group(1)) if m else None


# --- the steps: each gets (out dir, seconds allowed) and returns its record -------------------------------
def step_doctor(out: Path, limit: float) -> Dict[str, Any]:
    res = run([PY, "-m", "edgenas", "doctor", "--target", "gpu-torch-fp16"], limit)
    checks = []
    for line in res.get("stdout_tail", "").splitlines():
        m = re.match(r"\s+\[(ok  |WARN|FAIL|skip)\] (\S.{0,15}?)\s{2,}(.*)", line) or \
            re.match(r"\s+\[(ok  |WARN|FAIL|skip)\] (\S+)\s+(.*)", line)
        if m:
            checks.append({"status": m.group(1).strip().lower(), "name": m.group(2).strip(), "detail": m.group(3)})
    res["checks"] = checks
    return res


def step_cuda_events(out: Path, limit: float) -> Dict[str, Any]:
    res = run([PY, "tools/check_cuda.py", "--calls", "100000", "--json", str(out / "cuda_events.json")], limit)
    res["result"] = _json(out / "cuda_events.json")
    if res["result"] and res["result"].get("error"):
        res["reason"] = res["result"]["error"][:400]
    return res


def step_train_speed(out: Path, limit: float) -> Dict[str, Any]:
    res = run([PY, "tools/bench_gpu.py", "--json", str(out / "train_speed.json"), "--cases", "mbv3-small@28/b128",
               "--steps", "10", "--cpu-steps", "3"], limit)
    res["result"] = _json(out / "train_speed.json")
    return res


def synthetic_data(path: Path, n: int = 4096) -> Path:
    """Fashion-MNIST-shaped random images (the GPU machine may not have the dataset): speed, not accuracy."""
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(str(path), images=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), labels=rng.integers(0, 10, n))
    return path


def step_ddp(out: Path, limit: float) -> Dict[str, Any]:
    t0 = time.time()
    data = synthetic_data(out / "synthetic_28px.npz")
    one = run([PY, "-m", "edgenas", "supernet", "train", *TRAIN, "--data", str(data), "--device", "cuda:0",
               "--out", str(out / "ddp_1proc")], limit / 2)
    one["images_per_s"] = _img_per_s(one)
    res: Dict[str, Any] = {"one_process": one, "seconds": 0.0}
    if one["status"] != "pass":
        res.update(status="fail", reason="one process on cuda:0: " + one.get("reason", "?"))
        res["two_processes_nccl"] = {"status": "skip", "reason": "the one-process run failed"}
    else:
        two = run([PY, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "edgenas", "supernet",
                   "train", *TRAIN, "--data", str(data), "--device", "cuda:0", "--out", str(out / "ddp_2proc")],
                  limit - (time.time() - t0), env={"OMP_NUM_THREADS": "4"})
        two["images_per_s"] = _img_per_s(two)
        two["note"] = ("two ranks share cuda:0; NCCL is reported to refuse that ('Duplicate GPU detected'): if so, this "
                       "records it")
        res["two_processes_nccl"] = two
        res["status"] = two["status"]
        if two["status"] != "pass":
            res["reason"] = "two processes (nccl) on one GPU: " + two.get("reason", "?")
        elif one["images_per_s"] and two["images_per_s"]:
            res["two_over_one"] = round(two["images_per_s"] / one["images_per_s"], 3)
    res["seconds"] = round(time.time() - t0, 1)
    return res


def check_target(out: Path) -> Path:
    """gpu-torch-fp16 with a shorter protocol (3 rounds of 5 calls), so both tables fit the run's budget."""
    import yaml

    from edgenas.targets import load_target

    d = load_target("gpu-torch-fp16").to_dict()
    d.update(name="gpu-torch-fp16-check", description="gpu-torch-fp16 with a short protocol, for tools/gpu_check.py")
    d["protocol"] = dict(d["protocol"], warmup=3, repeat=5, rounds=3, min_round_ms=2.0, max_extra_rounds=1)
    path = out / "gpu-torch-fp16-check.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    load_target(str(path))  # a target edgenas refuses would fail here, not on the GPU
    return path


def _table_step(mode: str) -> Callable[[Path, float], Dict[str, Any]]:
    def step(out: Path, limit: float) -> Dict[str, Any]:
        t0 = time.time()
        env = {"EDGENAS_TORCH_TIMING": mode}
        table = out / "table_{}.json".format(mode)
        prof = run([PY, "-m", "edgenas", "profile", "--target", str(check_target(out)), *SPACE, "--networks", "8",
                    "--out", str(table), "--quiet"], limit * 0.6, env)
        res: Dict[str, Any] = {"profile": prof}
        if prof["status"] != "pass":
            res.update(status="fail", reason="profile: " + prof.get("reason", "?"))
            res["accuracy"] = {"status": "skip", "reason": "no table: the profile failed"}
        else:
            acc = run([PY, "tools/bench_table_accuracy.py", "--table", str(table), "--n", "50", "--rounds", "3", "--repeat",
                       "5", "--json", str(out / "accuracy_{}.json".format(mode))], limit - (time.time() - t0), env)
            full = _json(out / "accuracy_{}.json".format(mode)) or {}
            acc["result"] = {k: v for k, v in full.items() if k != "per_arch"}
            acc["result"]["timer"] = ((_json(table) or {}).get("header") or {}).get("protocol", {}).get("timer")
            res["accuracy"] = acc
            res["status"] = acc["status"]
            if acc["status"] != "pass":
                res["reason"] = "accuracy: " + acc.get("reason", "?")
        res["seconds"] = round(time.time() - t0, 1)
        return res

    return step


STEPS = [("doctor", 40, step_doctor), ("cuda_events", 45, step_cuda_events), ("train_speed", 100, step_train_speed),
         ("ddp", 80, step_ddp), ("table_graph", 150, _table_step("graph")), ("table_eager", 120, _table_step("eager"))]


def environment() -> Dict[str, Any]:
    env: Dict[str, Any] = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "python": platform.python_version(),
                           "cpu_count": os.cpu_count(), "machine": platform.machine()}
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch_cuda"] = torch.version.cuda
        env["cuda_available"] = bool(torch.cuda.is_available())
        if env["cuda_available"]:
            env["gpu"] = torch.cuda.get_device_name(0)
            env["gpu_count"] = torch.cuda.device_count()
            env["capability"] = "{}.{}".format(*torch.cuda.get_device_capability(0))
    except ImportError:
        env["torch"] = None
    try:
        from edgenas.runtime.device import nvidia_smi

        env["nvidia_smi"] = nvidia_smi()
    except Exception as e:  # noqa: BLE001 - the record says what is missing; the steps say why
        env["nvidia_smi_error"] = str(e)[:200]
    try:
        env["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=str(ROOT), capture_output=True,
                                       text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["commit"] = None
    return env


def dry_run() -> int:
    """Print the plan and check that every tool compiles and every edgenas command it calls exists."""
    problems = []
    for tool in TOOLS + ["tools/gpu_check.py"]:
        try:
            compile((ROOT / tool).read_text(), tool, "exec")
        except (SyntaxError, OSError) as e:
            problems.append("{}: {}".format(tool, str(e).splitlines()[0]))
    for sub in SUBCOMMANDS:
        res = run([PY, "-m", "edgenas", *sub, "--help"], 60)
        if res["status"] != "pass":
            problems.append("edgenas {} --help: {}".format(" ".join(sub), res.get("reason")))
    for tool in TOOLS:
        res = run([PY, tool, "--help"], 60)
        if res["status"] != "pass":
            problems.append("{} --help: {}".format(tool, res.get("reason")))
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        try:
            check_target(Path(d))
            synthetic_data(Path(d) / "s.npz", 64)
        except Exception as e:  # noqa: BLE001 - reported as a problem of the plan
            problems.append("step inputs: {}: {}".format(type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    total = 0
    for name, cap, _ in STEPS:
        total += cap
        print("{:<12} up to {:>3} s".format(name, cap))
    print("budget      {} s for the run (caps sum to {} s; later steps get what is left)".format(BUDGET_S, total))
    for p in problems:
        print("problem: " + p)
    print("dry run: " + ("ok" if not problems else "{} problem(s)".format(len(problems))))
    return 1 if problems else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/gpu_check", help="folder for the JSON and each step's files")
    p.add_argument("--budget-s", type=float, default=BUDGET_S, help="the whole run (default %(default)s s, under 8 min)")
    p.add_argument("--steps", help="comma-separated subset of: " + ", ".join(s[0] for s in STEPS))
    p.add_argument("--cap-scale", type=float, default=1.0,
                   help="multiply every step's time cap (a slower or colder GPU machine; default 1)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and check the tools; run nothing on the GPU")
    args = p.parse_args(argv)
    if args.dry_run:
        return dry_run()
    want = [s.strip() for s in args.steps.split(",")] if args.steps else [s[0] for s in STEPS]
    unknown = [s for s in want if s not in {n for n, _, _ in STEPS}]
    if unknown:
        sys.stderr.write("gpu_check: error: unknown step(s) {}; choose from {}\n".format(
            ", ".join(unknown), ", ".join(s[0] for s in STEPS)))
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    record: Dict[str, Any] = {"schema": "edgenas.gpu_check/1", "environment": environment(), "budget_s": args.budget_s,
                              "steps": {}}
    path = out / "gpu_check.json"

    def save() -> None:
        record["total_s"] = round(time.time() - t0, 1)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=1, default=str))
        os.replace(str(tmp), str(path))

    save()
    for name, cap, fn in STEPS:
        if name not in want:
            continue
        left = args.budget_s - (time.time() - t0)
        cap = cap * args.cap_scale
        print("== {} (up to {:.0f} s)".format(name, min(cap, left)), flush=True)
        try:
            res = fn(out, min(cap, left))
        except Exception as e:  # noqa: BLE001 - one broken step must not lose the others' results
            res = {"status": "fail", "reason": "gpu_check itself: {}: {}".format(type(e).__name__, str(e)[:300])}
        record["steps"][name] = res
        print("   {} {}".format(res.get("status"), res.get("reason", ""))[:300], flush=True)
        save()
    record["passed"] = [n for n, r in record["steps"].items() if r.get("status") == "pass"]
    record["failed"] = [n for n, r in record["steps"].items() if r.get("status") != "pass"]
    save()
    print("wrote {} in {:.0f} s: {} passed, {} not".format(_rel(path), time.time() - t0, len(record["passed"]),
                                                          len(record["failed"])))
    return 0 if not record["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
