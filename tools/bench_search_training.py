"""The training-heavy parts of bench_search: supernet fidelity and searched vs hand-designed."""

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgenas.profile.bundle import export_for_target
from edgenas.runtime import make_runner
from edgenas.runtime.timing import measure_interleaved, stats
from edgenas.search.evolution import Evolution, Options
from edgenas.search.hardware import Budget, hardware_problem
from edgenas.search.train import accuracy, train_model
from edgenas.targets import target_from_dict
from edgenas.util.io import atomic_write_json


def kendall_tau(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    s = 0.0
    n = len(a)
    for i in range(n):
        for j in range(i + 1, n):
            s += np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
    return float(2 * s / (n * (n - 1)))


def _train_eval(space, g, data, epochs, seed=0, X_eval=None, y_eval=None):
    torch.manual_seed(seed)
    model = space.build(space.decode(g))
    t0 = time.time()
    train_model(model, data["X"], data["y"], epochs, 128, 0.05, seed, "stand-alone", show_progress=False)
    X_eval = data["X_val"] if X_eval is None else X_eval
    y_eval = data["y_val"] if y_eval is None else y_eval
    return accuracy(model, X_eval, y_eval), time.time() - t0


def fidelity(space, est, pred, data, n, epochs, work: Path):
    cache = work / "fidelity.json"
    done = json.loads(cache.read_text()) if cache.is_file() else {}
    G = space.canonical(space.sample(np.random.default_rng(5), 2000))
    lat = pred.predict(G)
    pick = np.argsort(lat)[np.linspace(0, len(G) - 1, n).astype(int)]
    rows = []
    for g in G[pick]:
        key = space.to_string(space.decode(g))
        if key not in done:
            acc, secs = _train_eval(space, g, data, epochs)
            done[key] = {"standalone_acc": acc, "supernet_acc": float(est(g[None])[0]), "latency_ms": float(pred.predict(g[None])[0]),
                         "train_s": round(secs, 1)}
            atomic_write_json(cache, done)
            print("fidelity  standalone {:.2f}%  supernet {:.2f}%  {}".format(done[key]["standalone_acc"], done[key]["supernet_acc"], key))
        rows.append(dict(done[key], arch=key))
    tau = kendall_tau([r["supernet_acc"] for r in rows], [r["standalone_acc"] for r in rows])
    return {"kendall_tau": tau, "n": len(rows), "epochs": epochs, "train_images": int(len(data["y"])), "archs": rows}


def measure_latency(space, archs, target, seed=0):
    with tempfile.TemporaryDirectory() as tmp:
        runners, calls = [], {}
        for i, arch in enumerate(archs):
            path = Path(tmp) / "m{}.onnx".format(i)
            export_for_target(lambda a=arch: space.build(a), space.input_shape(), path, target, seed + i)
            r = make_runner(path, target)
            r.activate()
            runners.append(r)
            calls[str(i)] = r.timed_call(r.random_feed(i))
        proto = target.protocol
        proto.rounds, proto.max_extra_rounds = max(proto.rounds, 9), 0
        samples = measure_interleaved(calls, proto, seed=seed)
    return [stats(samples[str(i)])["median_ms"] for i in range(len(archs))]


def searched_vs_baseline(space, pred, acc_pred, est, data, X_test, y_test, epochs, table_path, work: Path):
    baseline = space.from_string("|".join(["ir_k3_e4_re,ir_k3_e4_re"] * len(space.stage_io)))
    g_base = space.encode(baseline)
    budget = float(pred.predict(g_base[None])[0])
    evo = Evolution(hardware_problem(space, pred.predict, acc_pred, Budget(latency_ms=budget)),
                    Options(population=50, generations=10 ** 6, max_evals=2000, seed=0))
    evo.run()
    G, F, V = evo.evaluated()
    ok = np.flatnonzero(V <= 0)
    top = ok[np.argsort(F[ok, 0])[:5]]
    sup = est(G[top])
    g_best = G[top[int(np.argmax(sup))]]
    searched = space.decode(g_best)
    res_base = _train_eval(space, g_base, data, epochs, 0, X_test, y_test)
    res_srch = _train_eval(space, g_best, data, epochs, 0, X_test, y_test)
    target = target_from_dict(json.loads(Path(table_path).read_text())["header"]["target"])
    lat_base, lat_srch = measure_latency(space, [baseline, searched], target)
    return {"baseline_arch": space.to_string(baseline), "searched_arch": space.to_string(searched),
            "latency_budget_ms": budget, "baseline_measured_ms": lat_base, "searched_measured_ms": lat_srch,
            "searched_predicted_ms": float(pred.predict(g_best[None])[0]),
            "baseline_test_acc": res_base[0], "searched_test_acc": res_srch[0],
            "searched_minus_baseline_acc_pt": res_srch[0] - res_base[0],
            "lat_measured_over_budget": lat_srch / budget, "baseline_measured_over_predicted": lat_base / budget,
            "train_epochs": epochs, "train_images": int(len(data["y"])), "test_images": int(len(y_test))}
