"""ff-EBM chains (:class:`derive.chain.EnergyChain`): emitted modules, checks, ``glep`` handlers.

The chain module embeds each block's generated energy module (rendered by
:mod:`codegen.energy`) and adds the chain on top: ``forward``, ``loss``, the ff-EBM
``gradient`` (C-EP per block, chained backwards through the feedforward maps) and, for
Torch, ``implicit_gradient`` (autograd through the relaxed chain, each fixed point
differentiated implicitly).

>>> from codegen.systemfile import load_problem
>>> from pathlib import Path
>>> chain = load_problem(Path(__file__).parent.parent / "systems" / "ff_ebm.py")
>>> module = load_chain_module(chain, "numpy")
>>> sorted(module.gradient(module.initial_params(), beta=1e-3)["grad"]) == sorted(module.PARAMS)
True
"""

from __future__ import annotations

import json
import math
import types

import sympy as sp

from derive.chain import EnergyChain, chain_rules
from derive.energy import size_of
from derive.equilibrium import ENERGY_RULES
from derive.errors import CodegenError, RuleError

from . import cli
from .emit import RENDERERS, _environment
from .energy import _as_json, _norm_error, _relaxation_error, _rows, render_energy

#: Where a generated energy module's runtime (relaxation, rules) starts.
_RUNTIME_MARKER = "\n# -- relaxation "


def _map_text(chain: EnergyChain, k: int) -> str:
    m = chain.maps[k]
    out, nxt = chain.ports[k][1], chain.ports[k + 1][0]
    parts = [f"{m.weight.name}·{out.name}" if m.weight is not None else out.name]
    if m.bias is not None:
        parts.append(m.bias.name)
    return f"{nxt.name} = {' + '.join(parts)}"


def _shape(symbol) -> tuple:
    if isinstance(symbol, sp.Symbol):
        return ()
    rows, cols = (int(d) for d in symbol.shape)
    return (rows,) if cols == 1 else (rows, cols)


def context(chain: EnergyChain, backend: str, source: str, command: str | None) -> dict:
    blocks, runtimes = [], []
    for problem in chain.block_problems():
        text = render_energy(problem, backend, source, command)
        if "'''" in text or text.endswith("\\"):
            raise CodegenError(f"block {problem.name} cannot be embedded in the chain module")
        # the block's own part (constants, primitives) and the runtime after it, which is
        # the same text for blocks of the same kind: embedded once, shared
        head, marker, runtime = text.partition(_RUNTIME_MARKER)
        if not marker:
            raise CodegenError(f"block {problem.name}: no {_RUNTIME_MARKER.strip()!r} section")
        if marker + runtime not in runtimes:
            runtimes.append(marker + runtime)
        energy = problem.energy
        blocks.append({"source": head, "runtime": runtimes.index(marker + runtime) + 1,
                       "energy_text": sp.sstr(
                           energy.matrix_expr if energy.matrix_expr is not None else energy.expr)})
    specs = [{"weight": m.weight.name if m.weight is not None else None,
              "bias": m.bias.name if m.bias is not None else None} for m in chain.maps]
    shapes = {p.name: _shape(p) for m in chain.maps for p in m.params}
    first = chain.block_problems()[0]
    last = chain.block_problems()[-1]
    values = {}
    for name, value in chain.map_values.items():
        shape = shapes[name]
        values[name] = ([v for r in value for v in r] if len(shape) == 1 else value)
    return {
        "title": chain.name,
        "backend": backend,
        "backend_title": {"numpy": "NumPy", "torch": "PyTorch"}[backend],
        "source": source,
        "command": command or f"glep emit {source}",
        "blocks": blocks,
        "runtimes": runtimes,
        "maps": [{"text": _map_text(chain, k)} for k in range(len(chain.maps))],
        "cost_text": sp.sstr(chain.cost.expr),
        "params": "(" + "".join(f'"{p.name}", ' for p in chain.params).rstrip() + ")",
        "map_specs": "(" + "".join(
            "{" + ", ".join(f'"{k}": {json.dumps(v)}'.replace("null", "None")
                            for k, v in s.items()) + "}, " for s in specs).rstrip() + ")",
        "map_values": "{" + ", ".join(f'"{k}": {v!r}' for k, v in values.items()) + "}",
        "map_shapes": "{" + ", ".join(f'"{k}": {v!r}' for k, v in shapes.items()) + "}",
        "default_inputs": _rows(first.input_values),
        "default_targets": _rows(last.target_values),
        "seed": repr(chain.seed),
    }


def render_chain(chain: EnergyChain, backend: str, source: str,
                 command: str | None = None) -> str:
    """The generated module's source text for an ff-EBM chain."""
    template = _environment().get_template("ffebm.py.jinja")
    return template.render(**context(chain, backend, source, command))


RENDERERS[EnergyChain] = render_chain


def load_chain_module(chain: EnergyChain, backend: str = "numpy", source: str = "<memory>"):
    """Render and import a generated chain module without writing it to disk."""
    cache = chain.__dict__.setdefault("_modules", {})
    if backend not in cache:
        text = render_chain(chain, backend, source)
        module = types.ModuleType(f"{chain.name}_{backend}")
        exec(compile(text, module.__name__, "exec"), module.__dict__)
        cache[backend] = module
    return cache[backend]


def finite_difference(module, theta, x=None, y=None, epsilon=1e-6, names=None) -> dict:
    """Central finite differences of the chain's mean cost (``names``: those parameters)."""
    import numpy as np

    out = {}
    for name, value in theta.items():
        if names is not None and name not in names:
            continue
        value = np.asarray(value, dtype=float)
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            losses = []
            for sign in (1, -1):
                moved = value.copy()
                moved[index] += sign * epsilon
                losses.append(module.loss({**theta, name: moved}, x, y))
            grad[index] = (losses[0] - losses[1]) / (2 * epsilon)
        out[name] = grad
    return out


def per_parameter_cosine(estimate: dict, reference: dict) -> dict:
    import numpy as np

    out = {}
    for name, ref in reference.items():
        a = np.ravel(np.asarray(estimate[name], dtype=float))
        b = np.ravel(np.asarray(ref, dtype=float))
        denominator = np.linalg.norm(a) * np.linalg.norm(b)
        out[name] = float(a @ b / denominator) if denominator > 0 else float(
            np.allclose(a, b, atol=1e-15))
    return out


def check_chain(chain: EnergyChain, rules=None, beta: float = 1e-3,
                max_fd_params: int = 3000) -> dict:
    """ff-EBM against autograd through the relaxed chain (implicit) and finite differences."""
    import numpy as np

    if not (math.isfinite(beta) and beta > 0):
        raise RuleError(f"β = {beta}: give a positive nudging strength")
    rules_found = chain_rules(chain)
    for name in rules or ():
        if name not in ENERGY_RULES:
            raise RuleError(f"unknown rule {name!r} for an energy: choose from {ENERGY_RULES}")
        if not rules_found[name].available:
            raise RuleError(f"{name} does not apply to {chain.name}: "
                            f"{rules_found[name].practicality.reason}")
    numpy_module = load_chain_module(chain, "numpy")
    torch_module = load_chain_module(chain, "torch")
    theta = numpy_module.initial_params()
    try:
        implicit = torch_module.implicit_gradient(theta)
    except (ArithmeticError, RuntimeError, ValueError) as error:
        raise _relaxation_error(error) from None
    reference = {k: v.detach().numpy() for k, v in implicit["grad"].items()}
    report = {"system": chain.name, "loss": implicit["loss"], "beta": beta,
              "blocks": len(chain.blocks),
              "reference": {"implicit_differentiation": {
                  "grad": _as_json(reference),
                  "method": "autograd through the relaxed chain, Hessian solve per block"}},
              "rules": {}}
    if sum(np.size(v) for v in theta.values()) <= max_fd_params:
        fd = finite_difference(numpy_module, theta)
        report["reference"]["finite_difference"] = {
            "grad": _as_json(fd), "rel_err_vs_implicit": _norm_error(fd, reference)}
    for name in (rules or ENERGY_RULES):
        rule = rules_found[name]
        if not rule.available:
            report["rules"][name] = {"available": False, "reason": rule.practicality.reason,
                                     "practical": False}
            continue
        try:
            grad = numpy_module.gradient(theta, beta=beta)["grad"]
        except (ArithmeticError, RuntimeError) as error:
            raise _relaxation_error(error) from None
        err = _norm_error(grad, reference)
        cosine = per_parameter_cosine(grad, reference)
        report["rules"][name] = {
            "available": True, "grad": _as_json(grad), "reference": "implicit_differentiation",
            "rel_err": err, "cosine": cosine, "min_cosine": min(cosine.values()),
            "practical": rule.practicality.practical, "bias_order": 2,
            "ok": err <= max(1e-6, 100 * beta**2)}
    return report


# -- glep handlers ----------------------------------------------------------------------------


def _derive(chain: EnergyChain, args) -> int:
    show = sp.latex if args.latex else sp.sstr
    out = [f"{chain.name}: ff-EBM chain of {len(chain.blocks)} energy block(s)"]
    for k, (problem, (x, o)) in enumerate(zip(chain.block_problems(), chain.ports)):
        energy = problem.energy
        out.append(f"\nBlock {k + 1} (input {x.name}, output {o.name}, "
                   f"{size_of(o)} output unit(s))")
        out.append(f"  E_{k + 1} = {show(energy.matrix_expr or energy.expr)}")
        for q, d in zip(problem.model.params, problem.model.dtheta):
            out.append(f"  ∂E/∂{q.name} = {show(d)}")
        for xi, d in zip(energy.inputs, problem.model.dx):
            out.append(f"  ∂E/∂{xi.name} = {show(d)}")
        if k + 1 < len(chain.blocks):
            out.append(f"  map {k + 2}: {_map_text(chain, k)}")
    out.append(f"\nCost\n  C = {show(chain.cost.expr)}")
    print("\n".join(out))
    return 0


def _rules(chain: EnergyChain, args) -> int:
    rules = chain_rules(chain)
    if args.json:
        print(json.dumps({"system": chain.name, "rules": {
            k: r.practicality.as_json() for k, r in rules.items()}}, indent=2,
            ensure_ascii=False))
        return 0
    rule = rules["ff-EBM"]
    out = [f"{chain.name}: ff-EBM chain of {len(chain.blocks)} energy blocks (THEORY.md §7)",
           f"\n== ff-EBM: {rule.title} (available)"]
    for i, phase in enumerate(rule.phases, 1):
        out.append(f"    {i}. {phase.trajectory:<12} {phase.direction} {phase.boundary}; "
                   f"{phase.nudging}")
    out.append(f"  estimator: {rule.estimator}")
    p = rule.practicality
    out.append(f"  passes {p.passes}, local {'yes' if p.local else 'no'}, bias O(β²), "
               f"practical {'yes' if p.practical else 'no'} ({p.reason})")
    reason = rules["C-EP"].practicality.reason
    out.append(f"\nunavailable: {', '.join(ENERGY_RULES[:-1])} — {reason}")
    print("\n".join(out))
    return 0


def _check(chain: EnergyChain, args) -> int:
    report = check_chain(chain, rules=[args.rule] if args.rule else None, beta=args.beta)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(f"{report['system']}: {report['blocks']} blocks; loss {report['loss']:.12g}; "
              f"β = {report['beta']:g}")
        fd = report["reference"].get("finite_difference")
        if fd:
            print(f"implicit differentiation vs finite differences: "
                  f"{fd['rel_err_vs_implicit']:.1e}")
        for name, entry in report["rules"].items():
            if not entry["available"]:
                continue
            verdict = "" if entry["ok"] else "  MISMATCH"
            print(f"  {name:<8} rel_err {entry['rel_err']:.1e}, min per-parameter cosine "
                  f"{entry['min_cosine']:.8f}{verdict}")
    return 0 if all(e.get("ok", True) for e in report["rules"].values()) else 1


cli.HANDLERS[EnergyChain] = {"derive": _derive, "rules": _rules, "check": _check}

__all__ = ["check_chain", "load_chain_module", "render_chain"]
