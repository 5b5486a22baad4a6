"""Reports of bundled systems, built once per test session: the whole check at the files' own
steps for the systems the page and browser tests read, one rule on a coarser grid for the
others."""

from __future__ import annotations

import pytest

from glep.codegen.kinds import kind_of
from glep.report import build
from glep.verify import check
from tests.conftest import problem

#: The systems whose page is checked in full (every rule): one per kind the browser opens.
FULL = ("harmonic_oscillator", "hopfield_smooth", "nonlinear_hru")
#: Integration steps of the checks by kind (the files' own horizons, coarser grids).
STEPS = {"continuous": 100, "hru": 30, "hssm": 30}


def _budget(p) -> dict:
    """The check's options: every rule at the file's steps for :data:`FULL`, else one rule
    that applies (every rule of a unit or a chain, which are quick)."""
    kind = kind_of(p).name
    if p.name in FULL:
        return {"steps": None, "quick": True}
    options = {"steps": STEPS.get(kind), "quick": True}
    if kind in ("hru", "hssm", "chain", "feedforward", "vector_field"):  # says why not
        return options
    if kind == "energy":
        return {**options, "rules": ["C-EP"]}
    return {**options, "rules": ["HEL" if p.time_reversal().reversible else "adjoint"]}


@pytest.fixture(scope="session")
def report_of(tmp_path_factory):
    """``report_of(name)`` → ``(problem, check report, path of the page)``, built once."""
    folder, built = tmp_path_factory.mktemp("reports"), {}

    def make(name: str):
        if name not in built:
            p = problem(name)
            options = _budget(p)
            try:
                report = check(p, beta=1e-4, **options)
            except ValueError as error:  # a check that stops is shown on the page
                report = {"system": p.name, "beta": 1e-4, "error": str(error), "rules": {}}
            path = folder / f"{name}.html"
            path.write_text(build(p, report, source=f"systems/{name}.py",
                                  steps=options["steps"]), encoding="utf-8")
            built[name] = (p, report, path)
        return built[name]

    return make
