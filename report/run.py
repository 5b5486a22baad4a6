"""The training section of a report: what a ``glep train`` run directory holds — its
options (``run.json``), each rule's log (``<name>-<rule>.jsonl``), the comparison table
(``<name>-accuracy.md``) and the identifiability report."""

from __future__ import annotations

import json
from pathlib import Path

from glep.derive.errors import DataError

from . import figures
from .page import Section, esc, paragraph, pre, table


def _logs(run_dir: Path, name: str) -> dict:
    """Rule → its log records, for every ``<name>-<rule>.jsonl`` of the run."""
    logs = {}
    for path in sorted(run_dir.glob(f"{name}-*.jsonl")):
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise DataError(f"--run {run_dir}: {path.name} line {number} is not JSON: "
                                f"give the directory of a glep train run") from None
        logs[path.stem[len(name) + 1:]] = rows
    return logs


def _markdown_table(text: str) -> str:
    """The first Markdown table of ``text`` as HTML (the run's accuracy table)."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    if len(lines) < 2:
        return pre(text)
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return table(cells[0], [[esc(c) for c in row] for row in cells[2:]])


def _summary(logs: dict) -> str:
    rows = []
    for rule, records in logs.items():
        if not records:
            continue
        last = records[-1]
        accuracy = last.get("test_accuracy")
        seconds = last.get("seconds", last.get("time"))
        rows.append([esc(rule), esc(len(records)), esc(f"{last['loss']:.4g}"),
                     esc("—" if accuracy is None else f"{100 * accuracy:.1f} %"),
                     esc("—" if seconds is None else f"{seconds:.1f}")])
    return table(["rule", "logged steps", "final loss", "final test accuracy", "seconds"], rows,
                 "Comparison of the rules run")


def _identifiability(record: dict) -> str:
    """Per rule: the trained parameters, the singular values of the Gauss–Newton matrix there
    and its condition number."""
    rows = []
    for rule, entry in record.get("rules", {}).items():
        trained = ", ".join(f"{n} = {v:.4g}" for n, v in zip(entry.get("parameters", []),
                                                               entry.get("theta", [])))
        values = ", ".join(f"{v:.2e}" for v in entry.get("singular_values", []))
        condition = entry.get("condition_number")
        rows.append([esc(rule), esc(trained), esc(values),
                     esc("—" if condition is None else f"{condition:.2e}")])
    return table(["rule", "trained parameters", "singular values", "condition number"], rows,
                 "Identifiability at the trained parameters (Gauss–Newton matrix)")


def section(run_dir, name: str) -> Section:
    """The run in ``run_dir`` of the system ``name``."""
    run_dir = Path(run_dir)
    meta = run_dir / "run.json"
    if not meta.is_file():
        raise DataError(f"--run {run_dir}: no run.json there: give the --out-dir of a "
                        f"glep train run")
    recorded = json.loads(meta.read_text(encoding="utf-8"))
    logs = _logs(run_dir, name)
    if not any(logs.values()):
        raise DataError(f"--run {run_dir}: no {name}-<rule>.jsonl log in it: the run is of "
                        f"another system, or logged nothing yet")
    options = recorded.get("options", {})
    body = [paragraph(f"Run directory {run_dir.name}: data {recorded.get('data', '?')}; "
                      + ", ".join(f"{k} {v}" for k, v in options.items() if v is not None)),
            _summary(logs)]
    accuracy = run_dir / f"{name}-accuracy.md"
    if accuracy.is_file():
        body.append(_markdown_table(accuracy.read_text(encoding="utf-8")))
    plot = figures.curves(logs)
    if plot:
        body.append(plot)
    identifiability = run_dir / "identifiability.json"
    if identifiability.is_file():
        body.append(_identifiability(json.loads(identifiability.read_text(encoding="utf-8"))))
    return Section("training", "Training run", "".join(body))
