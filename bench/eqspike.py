"""EqSpike (spiking EP, learn/spiking.py) against rate-based C-EP on the same energy, the same
initialization, mini-batches and optimizer: test accuracy over seeds and the energy-cost proxy
(spikes and synaptic events per example, in training and in inference).

The energy is ``systems/hopfield_digits.py`` (64-32-10 on digits; ``n_in=784`` on mnist5k:
784-32-10), SGD with momentum 0.9, batch 32, β = 0.2, targets 0.1 / 0.9; EqSpike with
integrate-and-fire neurons (time step dt, phases of ``--spike-time`` membrane time constants,
rates and traces averaged over each phase's second half, trace constant τ = 1).

Settings chosen for the time budget: digits 15 epochs at lr 0.005, mnist5k 2 epochs (4,000
training images) at lr 0.01, spike dt = 0.1 over phases of 10 (on an mnist5k batch the spike
update is then 17–23 % from C-EP's, against 6–9 % at the defaults dt = 0.05, phases of 20,
which cost 4× more; ``bench/eqspike_gap.py`` measures it: 16–20 % against 6–7 % on three
batches at initialization). Measured wall time, the two data sets in parallel on 2 cores shared with
other jobs (load ≈ 15): digits 17 min, mnist5k 39 min (EqSpike ≈ 10–12.5 min a run); the
digits rows were run again alone on a quiet machine (2 min).

Reproduce the committed table (bench/results/train/eqspike.md)::

    .venv/bin/python bench/eqspike.py --seeds 0 1 2

(``--data digits`` / ``--data mnist5k`` run one data set and keep the other's committed rows,
from eqspike.json, in the table; the committed table ran the two in parallel this way.)

``--quick``: one seed, one epoch, 256 training cases, nothing written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "train" / "eqspike.md"
#: data set → (settings of the system file, epochs, learning rate, spike dt, phase duration)
SETUPS = {"digits": ({}, 15, "0.005", 0.1, 10.0),
          "mnist5k": ({"n_in": 784}, 2, "0.01", 0.1, 10.0)}


def run(name, seeds, quick):
    import glep
    from glep.learn.catalog import load
    from glep.learn.classify import train

    settings, epochs, lr, dt, duration = SETUPS[name]
    problem = glep.load_problem(ROOT / "systems" / "hopfield_digits.py", settings or None)
    rows = []
    for seed in seeds:
        data = load(name, seed=seed)
        if quick:
            data, epochs = data.head(256, 200), 1
        for rule in ("C-EP", "EqSpike"):
            started = time.perf_counter()
            result = train(problem, data, rule=rule, epochs=epochs, lr=lr, seed=seed, beta=0.2,
                           spike_dt=dt, spike_time=duration, progress=False)
            cost = {stage: (s / n, e / n) for stage, (s, e, n) in result.cost.items()}
            rows.append({"data": name, "rule": rule, "seed": seed, "epochs": epochs,
                         "dt": dt, "duration": duration,
                         "accuracy": 100 * result.accuracies[-1], "cost": cost,
                         "seconds": time.perf_counter() - started})
            print(f"{name} {rule} seed {seed}: {rows[-1]['accuracy']:.2f} % "
                  f"({rows[-1]['seconds']:.0f} s) {cost}", flush=True)
    return rows


def table(rows, command):
    lines = ["# EqSpike vs rate-based C-EP (same energy, initialization, batches, optimizer)", "",
             f"Command: `{command}`", "",
             "| data | system | epochs | rule | test accuracy (%) | per seed | EqSpike − C-EP "
             "(points) | spikes / example (train, inference) | synaptic events / example "
             "(train, inference) | seconds per run |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["data"] for r in rows):
        settings = SETUPS[name][0]
        epochs = next(r["epochs"] for r in rows if r["data"] == name)
        size = f"{settings.get('n_in', 64)}-32-10"
        mean = {}
        for rule in ("C-EP", "EqSpike"):
            mine = [r for r in rows if r["data"] == name and r["rule"] == rule]
            acc = np.array([r["accuracy"] for r in mine])
            mean[rule] = acc.mean()
            gap = f"{mean[rule] - mean['C-EP']:+.2f}" if rule == "EqSpike" else "—"
            spikes = events = "—"
            if rule == "EqSpike":
                train_cost = np.mean([r["cost"]["training"] for r in mine], 0)
                test_cost = np.mean([r["cost"]["inference"] for r in mine], 0)
                spikes = f"{train_cost[0]:,.0f}, {test_cost[0]:,.0f}"
                events = f"{train_cost[1]:,.0f}, {test_cost[1]:,.0f}"
            lines.append(f"| {name} | {size} | {epochs} | {rule} | {acc.mean():.2f} ± "
                         f"{acc.std():.2f} | {', '.join(f'{a:.1f}' for a in acc)} | {gap} | "
                         f"{spikes} | {events} | "
                         f"{np.mean([r['seconds'] for r in mine]):.0f} |")
    used = {r["data"]: (r["dt"], r["duration"]) for r in rows}
    lines += ["", "Spike settings: " + "; ".join(
        f"{n}: dt = {dt}, phases of {d:g} membrane time constants" for n, (dt, d) in
        used.items()) + "; integrate-and-fire neurons, τ = 1. Training counts the free and "
        "both nudged phases (±β) per example; inference, one free phase. A synaptic event is a "
        "spike delivered to one unit it is coupled to."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--render", metavar="COMMAND", help="no training: the table of the "
                        "rows in eqspike.json, headed by the COMMAND that produced them")
    args = parser.parse_args(argv)
    if args.render:
        rows = json.loads(OUT.with_suffix(".json").read_text(encoding="utf-8"))
        OUT.write_text(table(rows, args.render), encoding="utf-8")
        print(OUT.read_text(encoding="utf-8"))
        return
    rows = [r for name in args.data for r in run(name, args.seeds, args.quick)]
    if not args.quick and OUT.with_suffix(".json").is_file():  # keep the other data sets' rows
        kept = json.loads(OUT.with_suffix(".json").read_text(encoding="utf-8"))
        rows = [r for r in kept if r["data"] not in args.data] + rows
        rows.sort(key=lambda r: list(SETUPS).index(r["data"]))
    text = table(rows, "python bench/eqspike.py " + " ".join(sys.argv[1:] if argv is None
                                                               else argv))
    print(text)
    if not args.quick:
        OUT.write_text(text, encoding="utf-8")
        OUT.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
