"""``glep report``: the page's pieces against independent oracles — MathML parsed as XML, the
echo against the module's own retrace measure and the exact reversibility of leapfrog, the
relaxation against the fixed point, a run directory's numbers against its logs — and the
command's errors."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import sympy as sp

from glep.cli import main
from glep.codegen.emit import load_module
from glep.report import dynamics, figures, run
from glep.report.math import equation, presentation
from tests.conftest import ALL_SYSTEMS, SYSTEMS, problem


def _xml(mathml: str):
    return ET.fromstring(mathml.replace("&#", "&amp;#").replace("&InvisibleTimes;", ""))


def test_a_time_derivative_is_a_dotted_name_and_a_fraction_stays_a_fraction():
    t = sp.Symbol("t")
    q = sp.Function("theta1")(t)
    root = _xml(equation(sp.Symbol("L"), q.diff(t) ** 2 / 2 - q.diff(t, 2)))
    assert root.tag == "math" and root.get("display") == "block"
    overs = root.findall(".//mover")
    assert len(overs) == 2 and all(o.get("accent") == "true" for o in overs)
    assert {o[1].text for o in overs} == {"&#729;", "&#168;"}  # one dot, two dots
    assert all(o[0].tag == "msub" and o[0][0].text == "&#952;" for o in overs)  # θ₁
    assert len(root.findall(".//mfrac")) == 1
    assert "theta1(" not in presentation(q) and "(t)" not in presentation(q)


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def _decoded(png: bytes):
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(png), format="png")


def test_the_error_plot_draws_each_rule_and_names_its_fitted_slope():
    rules = {"A": {"betas": [1e-2, 5e-3, 2.5e-3], "rel_errs": [4e-4, 1e-4, 2.5e-5],
                   "bias_slope": 2.0},
             "B": {"available": False, "reason": "not here"}}
    html = figures.error_vs_beta(rules)
    assert "A slope 2.00" in html and "B" not in re.search(r'alt="([^"]*)"', html)[1]
    assert _decoded(_images(html)[0]).shape[1] > 100
    assert figures.error_vs_beta({"B": rules["B"]}) is None


def test_the_echo_of_a_reversible_system_retraces_the_forward_run():
    p = problem("harmonic_oscillator")
    echo = dynamics.continuous_echo(p, steps=200)
    module = load_module(p, "numpy")
    # at t = 0 the distance is the module's own retrace measure, computed separately
    assert echo["retrace"][0] == pytest.approx(module.echo_retrace(steps=200), rel=1e-6, abs=1e-15)
    assert echo["retrace"].max() < 1e-9
    assert np.allclose(echo["forward"], echo["echo"], atol=1e-9)
    start = module.simulate(steps=200)[:, :1]
    assert np.array_equal(echo["forward"], start)


def test_the_echo_of_a_damped_system_departs_from_the_forward_run():
    echo = dynamics.continuous_echo(problem("damped_oscillator"), steps=200)
    assert echo["retrace"][0] > 1e-3


def test_a_leapfrog_unit_retraces_its_run_to_rounding():
    echo = dynamics.hru_echo(problem("nonlinear_hru"), steps=40)
    assert echo["forward"].shape == (41, 3)
    assert 0 < np.abs(echo["forward"] - echo["echo"]).max() < 1e-11 or echo["retrace"].max() == 0
    assert echo["retrace"].max() < 1e-12


def test_the_relaxation_descends_to_the_fixed_point():
    energies, fixed = dynamics.energy_relaxation(problem("hopfield_smooth"))
    assert len(energies) > 3
    assert np.all(np.diff(energies) <= 1e-12 * (1 + abs(fixed)))  # a descent method
    assert energies[-1] == pytest.approx(fixed, abs=1e-10)


@pytest.fixture(scope="module")
def oscillator_page(report_of):
    p, report, path = report_of("harmonic_oscillator")
    return p, report, path.read_text(encoding="utf-8")


def test_a_page_is_offline_with_contents_alt_text_and_both_colour_schemes(oscillator_page):
    _, report, page = oscillator_page
    assert not re.search(r'(src|href)="(?!#|data:)', page)  # no file or URL to fetch
    assert "<script" not in page and "@import" not in page and "url(" not in page
    anchors = re.findall(r'<a href="#([\w-]+)">', page)
    assert anchors == re.findall(r'<section id="([\w-]+)"', page) and len(anchors) == 4
    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 2 and all(re.search(r'alt="[^"]{20,}"', i) for i in images)
    assert all(_decoded(png).size for png in _images(page))
    assert "prefers-color-scheme: dark" in page and "@media print" in page
    for name, entry in report["rules"].items():  # every rule of the check is in its table
        assert f"<td>{name}</td>" in page
        if entry.get("rel_err") is not None:
            assert f"{entry['rel_err']:.2e}" in page


def test_the_declaration_shows_every_parameter_value(oscillator_page):
    p, _, page = oscillator_page
    section = page.split('id="declaration"')[1].split("</section>")[0]
    for value in p.param_values:
        assert f"<td>{value:g}</td>" in section
    assert section.count("<math") >= 3  # L, c and ψ


def _run_dir(tmp_path, name="harmonic_oscillator"):
    (tmp_path / "run.json").write_text(json.dumps({"kind": "continuous", "data": "d.npz",
                                                   "options": {"epochs": 2, "lr": 0.1}}))
    for rule, losses in (("HEL", [1.0, 0.5, 0.25]), ("BPTT", [1.0, 0.6, 0.3])):
        (tmp_path / f"{name}-{rule}.jsonl").write_text("".join(
            json.dumps({"step": i + 1, "epoch": 1, "loss": v, "grad_norm": 1.0,
                        "time": 0.1 * i}) + "\n" for i, v in enumerate(losses)))
    return tmp_path


def test_a_run_directory_gives_its_curves_and_final_numbers(tmp_path):
    (tmp_path / "identifiability.json").write_text(json.dumps({"rules": {"HEL": {
        "parameters": ["m", "k"], "theta": [1.25, 2.0], "singular_values": [2.5, 1e-16],
        "condition_number": 2.5e16}}}))
    section = run.section(_run_dir(tmp_path), "harmonic_oscillator")
    assert "<td>0.25</td>" in section.body and "<td>0.3</td>" in section.body
    assert "HEL final loss 0.25" in section.body
    assert "<td>m = 1.25, k = 2</td><td>2.50e+00, 1.00e-16</td><td>2.50e+16</td>" in section.body
    assert len(_images(section.body)) == 1


def test_an_accuracy_table_of_a_classification_run_is_shown(tmp_path):
    _run_dir(tmp_path, "hopfield_smooth")
    (tmp_path / "hopfield_smooth-accuracy.md").write_text(
        "# digits\n\n| rule | runs | test accuracy (%) |\n|---|---|---|\n| C-EP | 1 | 91.5 |\n")
    body = run.section(tmp_path, "hopfield_smooth").body
    assert "<th scope=\"col\">test accuracy (%)</th>" in body and "<td>91.5</td>" in body


def test_report_cli_errors_name_the_argument(tmp_path, capsys):
    system = str(SYSTEMS / "harmonic_oscillator.py")
    assert main(["report", system, "--out", str(tmp_path)]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["report", system, "--run", str(tmp_path / "missing")]) == 2
    assert "--run" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"system": "pendulum", "rules": {}}))
    assert main(["report", system, "--check", str(other)]) == 2
    assert "pendulum" in capsys.readouterr().err
    assert main(["report", system, "--check", str(other), "--steps", "10"]) == 2
    assert "--steps" in capsys.readouterr().err
    other.write_text("not json")
    assert main(["report", system, "--check", str(other)]) == 2
    assert "--check" in capsys.readouterr().err
    assert main(["report", system, "--beta", "-1"]) == 2
    assert "--beta" in capsys.readouterr().err


def test_report_cli_reads_a_recorded_check_and_a_run(tmp_path, oscillator_page, capsys):
    _, report, _ = oscillator_page
    recorded = tmp_path / "check.json"
    recorded.write_text(json.dumps(report))
    out = tmp_path / "page.html"
    (tmp_path / "runs").mkdir()
    runs = _run_dir(tmp_path / "runs")
    assert main(["report", str(SYSTEMS / "harmonic_oscillator.py"), "--check", str(recorded),
                 "--run", str(runs), "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert 'id="training"' in page and f"{report['rules']['HEL']['rel_err']:.2e}" in page
    assert "wrote" in capsys.readouterr().out
    (tmp_path / "bare").mkdir()
    assert main(["report", str(SYSTEMS / "harmonic_oscillator.py"), "--check", str(recorded),
                 "--run", str(tmp_path / "bare"), "--out", str(out)]) == 2
    assert "run.json" in capsys.readouterr().err


@pytest.mark.slow
def test_every_bundled_system_has_a_report_under_2_mb(report_of):
    sizes = {}
    for name in ALL_SYSTEMS:
        _, report, path = report_of(name)
        page = path.read_text(encoding="utf-8")
        sizes[name] = len(page.encode())
        assert page.count('<section id="') >= 4 and page.count("<math") > 3, name
        assert 'id="check"' in page and ("error" in report or report["rules"]), name
        for rule in report.get("rules", {}):
            assert f"<td>{rule}</td>" in page, (name, rule)
    largest = max(sizes, key=sizes.get)
    assert sizes[largest] < 2_000_000, (largest, sizes[largest])


def test_an_energy_declaration_shows_its_parameters_inputs_and_targets():
    from glep.report.derivation import energy

    p = problem("hopfield_smooth")
    body = energy(p)[0].body
    for name, value in p.param_values.items():
        assert f"<td>{name}</td><td>{float(value):g}</td>" in body
    rows = "; ".join(", ".join(f"{v:g}" for v in row) for row in p.input_values)
    assert f"<td>{rows}</td>" in body


def test_a_kind_without_typesetting_shows_its_derivation_text_and_bare_rules():
    from types import SimpleNamespace

    from glep.codegen.kinds import kind_of
    from glep.report import derivation, rules

    p = problem("linear_hru")
    (section,) = derivation.generic(p)
    assert html.escape(kind_of(p).describe(p)) in section.body
    bare = SimpleNamespace(practicality=p.rules["RHEL"].practicality)  # no phases, no title
    body = rules._rule_body(p, "other", "R", bare)
    assert body.startswith('<h3 id="rule-R">R: </h3>') and "<table>" in body
