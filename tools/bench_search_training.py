"""The training-heavy parts of bench_search: supernet fidelity (Kendall tau against stand-alone
training, with the seed noise of stand-alone training) and searched vs hand-designed at equal
measured latency and equal training. Both run on ``--device`` (a GPU makes them practical)."""

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgenas.backends import make_runner
from edgenas.latency.bundle import export_for_target
from edgenas.nas.estimators import SupernetEstimator
from edgenas.nas.evolution import Evolution, Options
from edgenas.nas.hardware import Budget, hardware_problem
from edgenas.nas.session import load_supernet, prepare_data, test_data
from edgenas.nas.tensors import accuracy
from edgenas.nas.train import train_model
from edgenas.runtime.timing import measure_interleaved, stats
from edgenas.targets import target_from_dict
from edgenas.util.io import atomic_write_json
from edgenas.util.torchdev import resolve_device


def kendall_tau(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    s = np.sign(a[:, None] - a[None]) * np.sign(b[:, None] - b[None])
    return float(s.sum() / (len(a) * (len(a) - 1)))


def _train_eval(space, g, data, epochs, seed=0, evaluate=None):
    torch.manual_seed(seed)
    model = space.build(space.decode(g)).to(data["train"].device)
    t0 = time.time()
    train_model(model, data["train"], epochs, 128, 0.05, seed, "stand-alone", show_progress=False)
    return accuracy(model, evaluate if evaluate is not None else data["val"]), time.time() - t0


def fidelity(space, est, pred, data, n, epochs, work: Path, noise_archs: int = 2):
    """Supernet estimate vs stand-alone training for ``n`` architectures spread over the latency range;
    ``noise_archs`` of them retrained with another seed give the noise floor of the ground truth."""
    cache = work / "fidelity.json"
    done = json.loads(cache.read_text()) if cache.is_file() else {}
    G = space.canonical(space.sample(np.random.default_rng(5), 2000))
    lat = pred.predict(G)
    pick = np.argsort(lat)[np.linspace(0, len(G) - 1, n).astype(int)]
    rows, noisy = [], set(np.linspace(0, n - 1, noise_archs).round().astype(int).tolist()) if noise_archs else set()
    for i, g in enumerate(G[pick]):
        key = space.to_string(space.decode(g))
        if key not in done:
            acc, secs = _train_eval(space, g, data, epochs)
            done[key] = {"standalone_acc": acc, "supernet_acc": float(est(g[None])[0]), "latency_ms": float(pred.predict(g[None])[0]),
                         "train_s": round(secs, 1)}
            atomic_write_json(cache, done)
            print("fidelity  standalone {:.2f}%  supernet {:.2f}%  {}".format(acc, done[key]["supernet_acc"], key), flush=True)
        if i in noisy and "standalone_acc_seed1" not in done[key]:
            done[key]["standalone_acc_seed1"] = _train_eval(space, g, data, epochs, seed=1)[0]
            atomic_write_json(cache, done)
        rows.append(dict(done[key], arch=key))
    tau = kendall_tau([r["supernet_acc"] for r in rows], [r["standalone_acc"] for r in rows])
    diffs = [abs(r["standalone_acc"] - r["standalone_acc_seed1"]) for r in rows if "standalone_acc_seed1" in r]
    return {"kendall_tau": tau, "n": len(rows), "epochs": epochs, "train_images": len(data["train"]),
            "seed_noise_abs_pt": diffs, "seed_noise_mean_abs_pt": float(np.mean(diffs)) if diffs else None, "archs": rows}


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


def searched_vs_baseline(space, pred, acc_pred, est, data, test, epochs, table_path, evals=1000):
    """Search under the hand-designed baseline's predicted latency (predictor objective, shipped
    defaults), re-rank the top 5 with the supernet, train both the same way, measure both."""
    baseline = space.from_string("|".join(["ir_k3_e4_re,ir_k3_e4_re"] * len(space.stage_io)))
    g_base = space.encode(baseline)
    budget = float(pred.predict(g_base[None])[0])
    evo = Evolution(hardware_problem(space, pred.predict, acc_pred, Budget(latency_ms=budget)), Options(max_evals=evals, seed=0))
    evo.run()
    G, F, V = evo.evaluated()
    ok = np.flatnonzero(V <= 0)
    top = ok[np.argsort(F[ok, 0])[:5]]
    sup = est(G[top])
    g_best = G[top[int(np.argmax(sup))]]
    searched = space.decode(g_best)
    res_base = _train_eval(space, g_base, data, epochs, 0, test)
    res_srch = _train_eval(space, g_best, data, epochs, 0, test)
    target = target_from_dict(json.loads(Path(table_path).read_text())["header"]["target"])
    lat_base, lat_srch = measure_latency(space, [baseline, searched], target)
    return {"baseline_arch": space.to_string(baseline), "searched_arch": space.to_string(searched),
            "latency_budget_ms": budget, "baseline_measured_ms": lat_base, "searched_measured_ms": lat_srch,
            "searched_predicted_ms": float(pred.predict(g_best[None])[0]),
            "baseline_test_acc": res_base[0], "searched_test_acc": res_srch[0],
            "searched_minus_baseline_acc_pt": res_srch[0] - res_base[0],
            "lat_measured_over_budget": lat_srch / budget, "baseline_measured_over_predicted": lat_base / budget,
            "train_epochs": epochs, "train_images": len(data["train"]), "test_images": len(test)}


def training_stages(args, space, pred, acc_pred, stages, out_path: Path):
    """The ``fidelity`` and ``baseline`` stages of bench_search (need ``--supernet``)."""
    if not args.supernet:
        raise SystemExit("the fidelity and baseline stages need --supernet")
    dev = resolve_device(args.device)
    net, meta = load_supernet(args.supernet)
    net = net.to(dev)
    o = meta["options"]
    data = prepare_data(o.get("data"), space.resolution, args.train_subset, o["val_size"], o["seed"], norm=meta["norm"],
                        channels=space.config["in_channels"], device=dev, num_classes=space.config["num_classes"])
    est = SupernetEstimator(net, data["val"], data["train"])
    work = out_path.with_suffix("")
    work.mkdir(parents=True, exist_ok=True)
    out = {}
    if "fidelity" in stages:
        out["fidelity"] = fidelity(space, est, pred, data, args.n_fidelity, args.epochs, work)
        print("fidelity: Kendall tau {:.3f} over {} archs; stand-alone seed noise {}".format(
            out["fidelity"]["kendall_tau"], out["fidelity"]["n"], out["fidelity"]["seed_noise_abs_pt"]))
    if "baseline" in stages:
        test = test_data(o.get("data"), space.resolution, meta["norm"], args.test_limit, device=dev,
                         num_classes=space.config["num_classes"])
        out["baseline"] = searched_vs_baseline(space, pred, acc_pred, est, data, test, args.epochs, args.table)
        print("baseline: searched - hand-designed = {:+.2f} pt at measured latency ratio {:.3f}".format(
            out["baseline"]["searched_minus_baseline_acc_pt"], out["baseline"]["lat_measured_over_budget"]))
    return out
