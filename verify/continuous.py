"""Numerical proof that the emitted learning rules compute the gradient.

Every rule of a problem runs through its generated NumPy module and is compared with a
reference that costs a fixed number of solves however many parameters the system has:

- ``adjoint``: the generated module's own continuous adjoint (the ``adjoint`` rule, one
  forward and one backward RK4 pass on the check's grid), the reference of the GLEP rules
  (HEL, PFVP, CIVP);
- ``finite_difference``: central differences of the RK4 loss along a few random directions
  d of θ and of z0 (the coordinate axes when there are no more entries than directions, and
  then ``grad`` holds the whole gradient), compared with ĝ·d; one batched call of ``loss``;
  the reference of the adjoint rule;
- ``torchdiffeq``: the continuous adjoint of torchdiffeq (``odeint_adjoint``, dopri5,
  rtol = atol = 1e-10; for dissipative systems autograd through ``odeint``, whose backward
  pass is stable), when torch is installed: a second, independent check of the adjoint rule;
- ``diffrax``: ``diffeqsolve`` with Dopri8 at rtol = atol = 1e-12, differentiated by
  ``RecursiveCheckpointAdjoint``, on the generated JAX module's kernels (float64), when JAX is
  installed and the system has a JAX module (``glep check`` adds it then, ``--no-diffrax``
  skips its seconds of tracing and compiling; ``check(..., diffrax=True)`` from Python): a
  third check, independent of Torch.

CBVP, whose loss is that of its own boundary-value trajectory, is compared with central
differences of that loss along the same directions (two boundary-value solves each, by
shooting on the same RK4 grid).
References are computed when a requested rule first needs them.

Verdicts come from :func:`glep.verify.common.judge` over three β (one for the exact
adjoint). Before an error above the floor (1e-6) that does not fall like β^k fails, it is
compared with ten times the reference's own accuracy: the RK4 adjoint against itself at
twice the steps, differences against themselves at twice the step. Health numbers say
whether an estimate can be trusted: the bias (from the change between β and β/2), the β
that balances it against the rule's noise, and for HEL the β = 0 echo's retrace error
next to the integrator's own error.
"""

from __future__ import annotations

import importlib.util
import math
import time
from functools import cached_property

import numpy as np

from glep.codegen.emit import emits, load_module
from glep.derive.errors import RuleError
from glep.derive.problem import Problem
from glep.derive.rules import RULES, Learning

from .common import (
    FLOOR,
    central_differences,
    directional_differences,
    directions,
    judge,
    relative_error,
)

#: Random directions per argument (θ, z0) of the finite-difference references.
DIRECTIONS = 3
#: Seed of those directions (the z0 directions use SEED + 1).
SEED = 0
#: Relative step of the central differences.
STEP = 1e-5
#: An error within this many times the reference's own accuracy matches the reference.
SAFETY = 10.0
#: Relative rounding of one run, per square root of its steps: the least noise assumed.
ROUNDING = 1e-15

def torchdiffeq_reference(torch_module, problem: Problem, steps: int) -> dict:
    """Loss and gradients from torchdiffeq on the generated Torch vector field."""
    import torch
    from torchdiffeq import odeint, odeint_adjoint

    m = torch_module

    class Augmented(torch.nn.Module):
        """dz/dt and the running cost, so the loss is integrated by the same solver."""

        def __init__(self):
            super().__init__()
            self.theta = torch.nn.Parameter(torch.tensor(m.PARAM_VALUES, dtype=torch.float64))

        def forward(self, t, state):
            c = m.prepare(self.theta)
            z = state[..., :-1]
            dz = m._vector_field(t, z, c, m.default_inputs(t))
            dc = m._state_running_cost(t, z, c, m.default_targets(t))
            return torch.cat([dz, dc[..., None]], dim=-1)

    func = Augmented()
    z0 = torch.tensor(m.INITIAL_STATE, dtype=torch.float64, requires_grad=True)
    start = torch.cat([z0, torch.zeros(1, dtype=torch.float64)])
    times = torch.tensor([0.0, problem.horizon], dtype=torch.float64)
    options = {"rtol": 1e-10, "atol": 1e-10, "method": "dopri5"}
    dissipative = problem.system.dissipation is not None
    if dissipative:  # the adjoint is unstable backward in time for contracting dynamics
        end = odeint(func, start, times, **options)[-1]
    else:
        end = odeint_adjoint(func, start, times, adjoint_params=(func.theta,), **options)[-1]
    c = m.prepare(func.theta)
    loss = end[-1] + m._state_terminal_cost(problem.horizon, end[:-1], c)
    grad_theta, grad_z0 = torch.autograd.grad(loss, [func.theta, z0])
    return {
        "loss": float(loss.detach()),
        "grad": grad_theta.numpy(),
        "z0": grad_z0.numpy(),
        "method": "autograd through odeint (dopri5, tol 1e-10)"
        if dissipative
        else "odeint_adjoint (dopri5, tol 1e-10)",
    }


def diffrax_reference(problem: Problem) -> dict:
    """Loss and gradients from diffrax (Dopri8, rtol = atol = 1e-12, backprop through the
    solver by ``RecursiveCheckpointAdjoint``) on the generated JAX module's kernels."""
    import diffrax
    import jax

    jax.config.update("jax_enable_x64", True)
    m = load_module(problem, "jax")
    jnp = m.jnp

    def loss(theta, z0):
        c = m.prepare(theta)

        def field(t, state, c):
            z = state[:-1]
            dz = m._vector_field(t, z, c, m.default_inputs(t))
            return jnp.concatenate([dz, m._state_running_cost(t, z, c, m.default_targets(t))[None]])

        controller = diffrax.PIDController(rtol=1e-12, atol=1e-12)
        end = diffrax.diffeqsolve(
            diffrax.ODETerm(field), diffrax.Dopri8(), 0.0, problem.horizon, None,
            jnp.concatenate([z0, jnp.zeros(1)]), args=c, stepsize_controller=controller,
            adjoint=diffrax.RecursiveCheckpointAdjoint(), max_steps=200_000).ys[-1]
        return end[-1] + m._state_terminal_cost(problem.horizon, end[:-1], c)

    theta, z0 = jnp.asarray(m.PARAM_VALUES, float), jnp.asarray(m.INITIAL_STATE, float)
    value, (grad, grad_z0) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(theta, z0)
    return {"loss": float(value), "grad": np.asarray(grad), "z0": np.asarray(grad_z0),
            "method": "diffrax diffeqsolve (Dopri8, tol 1e-12, RecursiveCheckpointAdjoint)"}


def finite_difference(loss, theta, z0, relative_step=1e-5) -> dict:
    """Central differences of ``loss(z0, theta)`` in every entry (batched: one call per
    argument, 2·len(θ) + 2·len(z0) trajectories); the check itself differentiates along
    a few directions (:func:`directional_reference`)."""
    theta, z0 = np.asarray(theta, float), np.asarray(z0, float)
    return {
        "grad": central_differences(lambda thetas: loss(z0, thetas), theta,
                                    relative_step=relative_step, batched=True),
        "z0": central_differences(lambda states: loss(states, theta), z0,
                                  relative_step=relative_step, batched=True),
    }


def directional_reference(loss, z0, theta, *, count: int = DIRECTIONS, seed: int = SEED,
                          step: float = STEP) -> dict:
    """Central differences of ``loss(z0s, thetas)`` (batched; the two arguments broadcast)
    along ``count`` directions of θ and of z0 (:func:`glep.verify.common.directions`), at
    steps h and 2h, in one call of 8·count trajectories.

    Returns, for ``"theta"`` and ``"z0"``: ``directions`` (rows), ``derivative`` (at h) and
    ``accuracy``, the relative change between h and 2h (an upper bound of the error at h).
    """
    z0, theta = np.asarray(z0, float), np.asarray(theta, float)
    rows = {"theta": directions(theta, count, seed), "z0": directions(z0, count, seed + 1)}
    shifts = step * np.array([1.0, -1.0, 2.0, -2.0])[:, None, None]
    moved = {name: (x + shifts * rows[name]).reshape(-1, x.size)
             for name, x in (("theta", theta), ("z0", z0))}
    width = {name: len(block) for name, block in moved.items()}
    x_size = {"theta": theta.size, "z0": z0.size}
    values = np.asarray(loss(
        np.concatenate([np.broadcast_to(z0, (width["theta"], z0.size)), moved["z0"]]),
        np.concatenate([moved["theta"], np.broadcast_to(theta, (width["z0"], theta.size))]),
    ), dtype=float)
    out = {}
    for name, block in (("theta", values[:width["theta"]]), ("z0", values[width["theta"]:])):
        block = block.reshape(4, -1)
        fine = (block[0] - block[1]) / (2 * step)
        coarse = (block[2] - block[3]) / (4 * step)
        out[name] = {"directions": rows[name], "derivative": fine,
                     "accuracy": relative_error(coarse, fine), "axes": len(fine) == x_size[name]}
    return out


def _finite(*arrays) -> bool:
    return all(np.all(np.isfinite(np.asarray(a, dtype=float))) for a in arrays)


def _torchdiffeq(problem, steps):
    """torchdiffeq's gradient, or the reason it could not be computed."""
    if importlib.util.find_spec("torchdiffeq") is None:
        return None, "torchdiffeq is not installed (pip install 'glep[torch]')"
    try:
        adjoint = torchdiffeq_reference(load_module(problem, "torch"), problem, steps)
    except (AssertionError, RuntimeError, ValueError, OverflowError) as error:
        return None, f"torchdiffeq failed: {type(error).__name__}: {error}"
    if not _finite(adjoint["grad"], adjoint["z0"]):
        return None, "torchdiffeq returned non-finite numbers"
    return adjoint, None


def _diffrax(problem):
    """diffrax's gradient, or the reason it could not be computed."""
    if importlib.util.find_spec("diffrax") is None:
        return None, "diffrax is not installed (pip install 'glep[jax]')"
    if not emits(problem, "jax"):
        return None, "the system has no JAX module (constrained)"
    try:
        reference = diffrax_reference(problem)
    except (RuntimeError, ValueError, OverflowError) as error:
        return None, f"diffrax failed: {type(error).__name__}: {error}"
    if not _finite(reference["grad"], reference["z0"]):
        return None, "diffrax returned non-finite numbers"
    return reference, None


class _Work:
    """Counts the check's solves for ``progress(done, total, rule, what)``, called as
    each one starts (``rule`` None for the shared references)."""

    def __init__(self, progress, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, rule, what: str) -> None:
        self.total = max(self.total, self.done + 1)
        if self.progress is not None:
            self.progress(self.done, self.total, rule, what)
        self.done += 1

    def begin(self, rule) -> None:
        """``rule``'s check starts."""
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done), rule, "")

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.done, None, "")


class _References:
    """The shared references of one check, each computed when first needed and timed."""

    def __init__(self, problem, module, z0, theta, steps, work, has_adjoint, diffrax=False):
        self.problem, self.module, self.z0, self.theta = problem, module, z0, theta
        self.use_diffrax = diffrax
        self.steps, self.work, self.has_adjoint = steps, work, has_adjoint
        self.seconds: dict[str, float] = {}

    def _timed(self, name, compute):
        start = time.perf_counter()
        self.work(None, name)
        try:
            return compute()
        finally:
            self.seconds[name] = time.perf_counter() - start

    @cached_property
    def adjoint(self):
        """The module's adjoint rule: (gradient dict, None) or (None, why it failed)."""
        if not self.has_adjoint:
            return None, "the module has no adjoint rule"

        def run():
            try:
                out = self.module.gradient(self.z0, self.theta, rule="adjoint",
                                           steps=self.steps)
            except (ValueError, ArithmeticError) as error:
                return None, f"{type(error).__name__}: {error}"
            if not _finite(out["theta"], out["z0"]):
                return None, "the adjoint rule returned non-finite numbers"
            return out, None

        return self._timed("adjoint", run)

    @cached_property
    def torchdiffeq(self):
        return self._timed("torchdiffeq", lambda: _torchdiffeq(self.problem, self.steps))

    @cached_property
    def diffrax(self):
        return self._timed("diffrax", lambda: _diffrax(self.problem))

    @cached_property
    def differences(self):
        def run():
            return directional_reference(
                lambda z, th: self.module.loss(z, th, steps=self.steps), self.z0, self.theta)

        out = self._timed("finite_difference", run)
        if not _finite(out["theta"]["derivative"], out["z0"]["derivative"]):
            raise RuleError(
                f"{self.problem.name}: finite differences of the loss are not finite (does the "
                f"system blow up within the horizon? try more --steps)")
        return out

    @cached_property
    def adjoint_accuracy(self) -> float:
        """16/15 of the relative change of the adjoint rule's gradient from K to 2K steps
        (RK4's fourth order: the error at K steps)."""
        fine = self._timed("adjoint at twice the steps", lambda: self.module.gradient(
            self.z0, self.theta, rule="adjoint", steps=2 * self.steps))
        return 16 / 15 * relative_error(self.adjoint[0]["theta"], fine["theta"])

    def compute(self, rules) -> None:
        """The shared references that ``rules`` need, before any rule runs (so that each
        rule is timed alone)."""
        if set(rules) - {"CBVP"}:
            _ = self.adjoint
        if "adjoint" in rules:
            _ = self.torchdiffeq, self.differences
            _ = self.diffrax if self.use_diffrax else None

    def for_rules(self):
        """The reference of the GLEP rules: name, θ and z0 comparison, accuracy."""
        adjoint, _ = self.adjoint
        if adjoint is not None:
            return "adjoint", _full(adjoint["theta"], adjoint["z0"]), lambda: self.adjoint_accuracy
        tdq, _ = self.torchdiffeq
        if tdq is not None:
            return "torchdiffeq", _full(tdq["grad"], tdq["z0"]), lambda: 0.0
        fd = self.differences
        return "finite_difference", _directional(fd), lambda: fd["theta"]["accuracy"]

    @property
    def loss(self) -> float:
        adjoint = self.__dict__.get("adjoint", (None, None))[0]
        if adjoint is not None:
            return float(adjoint["loss"])
        return float(self.module.loss(self.z0, self.theta, steps=self.steps))

    def as_json(self, params) -> dict:
        """Every reference computed, with its time."""
        out = {}
        if "adjoint" in self.__dict__:
            adjoint, failure = self.adjoint
            out["adjoint"] = {"failed": failure} if adjoint is None else {
                "grad": _named(params, adjoint["theta"]), "z0": _floats(adjoint["z0"]),
                "method": f"the module's adjoint rule (RK4, {self.steps} steps)"}
        if "torchdiffeq" in self.__dict__:
            tdq, failure = self.torchdiffeq
            out["torchdiffeq"] = {"failed": failure} if tdq is None else {
                "grad": _named(params, tdq["grad"]), "z0": _floats(tdq["z0"]),
                "method": tdq["method"]}
        if "diffrax" in self.__dict__:
            reference, failure = self.diffrax
            out["diffrax"] = {"failed": failure} if reference is None else {
                "grad": _named(params, reference["grad"]), "z0": _floats(reference["z0"]),
                "method": reference["method"]}
        if "differences" in self.__dict__:
            out["finite_difference"] = _differences_json(self.differences, params)
        if "adjoint_accuracy" in self.__dict__:
            out.setdefault("adjoint", {})["accuracy"] = self.adjoint_accuracy
        for name, seconds in self.seconds.items():
            key = "adjoint" if name.startswith("adjoint") else name
            if key in out:
                out[key]["seconds"] = out[key].get("seconds", 0.0) + seconds
        return out


def _full(grad, z0):
    """Compare a gradient with a whole reference gradient (θ, z0)."""
    return lambda theta, z: (relative_error(theta, grad),
                             None if z is None else relative_error(z, z0))


def _directional(fd):
    """Compare a gradient with directional derivatives (ĝ·d against the differences)."""
    def compare(theta, z):
        out = relative_error(fd["theta"]["directions"] @ theta, fd["theta"]["derivative"])
        if z is None:
            return out, None
        return out, relative_error(fd["z0"]["directions"] @ z, fd["z0"]["derivative"])

    return compare


def _floats(values) -> list[float]:
    return [float(v) for v in np.ravel(values)]


def _named(params, values) -> dict:
    return dict(zip(params, _floats(values)))


def _differences_json(fd, params) -> dict:
    out = {"method": f"central differences of the RK4 loss along {DIRECTIONS} random "
                     f"directions of θ and of z0 (seed {SEED}, relative step {STEP:g})",
           "directions": {k: fd[k]["directions"].tolist() for k in ("theta", "z0")},
           "derivative": {k: _floats(fd[k]["derivative"]) for k in ("theta", "z0")},
           "accuracy": max(fd["theta"]["accuracy"], fd["z0"]["accuracy"])}
    whole = {k: fd[k]["derivative"] / np.diag(fd[k]["directions"])
             for k in ("theta", "z0") if fd[k]["axes"]}  # along the axes: the whole gradient
    if "theta" in whole:
        out["grad"] = _named(params, whole["theta"])
    if "z0" in whole:
        out["z0"] = _floats(whole["z0"])
    return out


def _bias_health(runs, betas, order, noise) -> dict:
    """Bias, noise and a suggested β from the changes between the estimates at β, β/2, β/4.

    The relative changes d₁ = |g(β) − g(β/2)| and d₂ = |g(β/2) − g(β/4)| are modelled as
    A·b^k + N/b at b = β, β/2: a bias that falls as β^k and a noise that grows as 1/β (N at
    least ``noise``, the rounding of one run). The bias at β is its part of d₁ over
    1 − 2^−k (0 when the noise hides it); the suggested β minimizes bias + N/β.
    """
    k, beta = order, betas[0]
    d1 = relative_error(runs[0]["theta"], runs[1]["theta"])
    d2 = relative_error(runs[1]["theta"], runs[2]["theta"])
    rate = 2.0**-k
    floor = max(beta * (d2 - rate * d1) / (2 - rate), noise)
    bias = max(d1 - floor / beta, 0.0) / (1 - rate)
    curvature = max(bias, floor / beta) / beta**k
    return {"bias": bias, "noise": floor / beta,
            "suggested_beta": (floor / (k * curvature)) ** (1 / (k + 1))}


def _verdict(practicality, betas, errors, accuracy, problems=()) -> dict:
    """:func:`judge` at the floor; a rule that fails there is judged again with the floor
    raised to :data:`SAFETY` times the reference's own accuracy (computed only then)."""
    verdict = judge(practicality, betas, errors, problems=problems)
    if verdict["ok"] or problems or practicality.bias_order is None:
        return {**verdict, "floor": FLOOR}
    floor = max(FLOOR, SAFETY * accuracy())
    if floor > FLOOR:
        verdict = judge(practicality, betas, errors, floor=floor)
        if verdict["ok"] and errors[0] <= floor:
            verdict["verdict"] = f"matches the reference within its accuracy ({floor:.1e})"
    return {**verdict, "floor": floor}


def _betas(practicality, beta):
    return [beta] if practicality.bias_order == 0 else [beta, beta / 2, beta / 4]


def _runs(module, rule, betas, z0, theta, steps, work):
    out = []
    for b in betas:
        work(rule, f"β = {b:.3g}")
        out.append(module.gradient(z0, theta, rule=rule, beta=b, steps=steps))
    return out


def _health_numbers(health) -> dict:
    return {k: float(v) for k, v in health.items()
            if isinstance(v, (int, float, np.floating)) and not isinstance(v, bool)}


def _rule_row(rule, practicality, refs, steps, beta, params):
    """A GLEP rule (HEL, PFVP, CIVP) against the reference of the rules."""
    module, z0, theta, work = refs.module, refs.z0, refs.theta, refs.work
    name, compare, accuracy = refs.for_rules()
    betas = _betas(practicality, beta)
    runs = _runs(module, rule, betas, z0, theta, steps, work)
    errors = [compare(run["theta"], None)[0] for run in runs]
    entry = {"grad": _named(params, runs[0]["theta"]), "reference": name}
    if runs[0]["z0"] is not None:
        entry.update(z0=_floats(runs[0]["z0"]),
                     z0_rel_err=compare(runs[0]["theta"], runs[0]["z0"])[1])
    health = _health_numbers(runs[0]["health"])
    if len(runs) > 1:
        health.update(_bias_health(runs, betas, practicality.bias_order,
                                   ROUNDING * math.sqrt(steps)))
    if rule == "HEL":
        work(rule, "echo retrace")
        health["retrace_error"] = module.echo_retrace(z0, theta, steps=steps)
        fine = module.simulate(z0, theta, steps=2 * steps)[-1]
        coarse = module.simulate(z0, theta, steps=steps)[-1]
        health["integrator_error"] = 16 / 15 * relative_error(coarse, fine)
    entry["health"] = health
    return entry, betas, errors, accuracy, ()


def _adjoint_row(rule, practicality, refs, steps, beta, params):
    """The adjoint rule against the differences of the loss, and torchdiffeq if installed."""
    adjoint, failure = refs.adjoint
    if adjoint is None:
        raise ArithmeticError(failure)
    fd = refs.differences
    error, z0_error = _directional(fd)(adjoint["theta"], adjoint["z0"])
    entry = {"grad": _named(params, adjoint["theta"]), "reference": "finite_difference",
             "z0": _floats(adjoint["z0"]), "z0_rel_err": z0_error}
    problems = []
    for name in ("torchdiffeq", "diffrax")[:1 + refs.use_diffrax]:
        reference, why = getattr(refs, name)
        if reference is None:
            entry[name] = why
            continue
        entry[f"{name}_rel_err"] = distance = relative_error(adjoint["theta"], reference["grad"])
        if distance > FLOOR and distance > (limit := max(FLOOR, SAFETY * refs.adjoint_accuracy)):
            problems.append(f"differs from {name} by {distance:.1e} (limit {limit:.1e})")
    return (entry, [beta], [error],
            lambda: refs.adjoint_accuracy + fd["theta"]["accuracy"], problems)


def _cbvp_row(rule, practicality, refs, steps, beta, params):
    """CBVP against central differences of its own boundary-value loss (q(T) = b fixed)."""
    module, z0, theta, work = refs.module, refs.z0, refs.theta, refs.work
    betas = _betas(practicality, beta)
    runs = _runs(module, rule, betas, z0, theta, steps, work)
    boundary = runs[0]["health"]["boundary"]
    rows = directions(theta, DIRECTIONS, SEED)

    def loss(th):
        work(rule, "boundary-value loss")
        return module.boundary_value_loss(z0, th, steps=steps, boundary=boundary,
                                          jacobian=runs[0]["health"]["jacobian"])

    derivative = directional_differences(loss, theta, rows, step=STEP)
    errors = [relative_error(rows @ run["theta"], derivative) for run in runs]

    def accuracy():  # the same differences at twice the step
        coarse = directional_differences(loss, theta, rows, step=2 * STEP)
        return relative_error(coarse, derivative)

    health = {"condition": float(runs[0]["health"]["condition"])}
    health.update(_bias_health(runs, betas, practicality.bias_order,
                               ROUNDING * math.sqrt(steps)))
    entry = {"grad": _named(params, runs[0]["theta"]), "reference": "finite_difference",
             "loss": float(runs[0]["loss"]), "health": health,
             "directions": len(rows), "derivative": _floats(derivative)}
    return entry, betas, errors, accuracy, ()


_ROWS = {"adjoint": _adjoint_row, "CBVP": _cbvp_row}


def _requested(problem, derived, rules) -> list[str]:
    """The rules to check, in RULES order when not given; names are case-insensitive."""
    if not rules:
        return list(RULES)
    canonical = {name.lower(): name for name in derived}
    out = []
    for rule in rules:
        name = canonical.get(str(rule).strip().lower())
        if name is None:
            raise RuleError(f"unknown rule {rule!r}: choose one of {list(RULES)}")
        if not derived[name].available:
            raise RuleError(
                f"{name} is not available for {problem.name}: {derived[name].practicality.reason}"
            )
        if name not in out:
            out.append(name)
    return out


def _work_estimate(derived, available, has_adjoint) -> int:
    """Solves the check of the ``available`` rules will run, for the progress bar (lazy
    accuracies add to it)."""
    total = int(has_adjoint and any(r != "CBVP" for r in available))
    if "adjoint" in available:
        total += 1 + (importlib.util.find_spec("torchdiffeq") is not None)
    for rule in available:
        if rule == "adjoint":
            continue
        total += len(_betas(derived[rule].practicality, 1.0))
        total += {"HEL": 1, "CBVP": 2 * DIRECTIONS}.get(rule, 0)
    return total


def check(problem: Problem, *, rules=None, beta: float = 1e-4, steps: int | None = None,
          name: str | None = None, progress=None, diffrax: bool = False) -> dict:
    """Run the requested rules (default: all) and compare them with the references
    (``diffrax``: diffrax's too, when JAX is installed).

    ``progress(done, total, rule, what)`` is called as each solve starts (``rule`` None for
    a shared reference) and once at the end.
    """
    start = time.perf_counter()
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta > 0):
        raise RuleError(f"--beta is {beta}: give a positive, finite nudging strength")
    derived = Learning(problem, name).rules()
    requested = _requested(problem, derived, rules)
    steps = problem.steps if steps is None else int(steps)
    numpy_module = load_module(problem, "numpy")
    if not hasattr(numpy_module, "gradient"):
        raise RuleError(f"{problem.name} declares no cost: add cost=Cost(...) to check rules")
    z0 = np.asarray(numpy_module.INITIAL_STATE, dtype=float)
    theta = np.asarray(numpy_module.PARAM_VALUES, dtype=float)
    params = [p.name for p in problem.params]
    has_adjoint = derived["adjoint"].available
    checked = [r for r in requested if derived[r].practicality.available]
    work = _Work(progress, _work_estimate(derived, checked, has_adjoint) + diffrax)
    refs = _References(problem, numpy_module, z0, theta, steps, work, has_adjoint, diffrax)
    refs.compute(checked)
    out_rules = {}
    for rule in requested:
        practicality = derived[rule].practicality
        if not practicality.available:
            out_rules[rule] = {"available": False, "reason": practicality.reason,
                               "practical": False, "seconds": 0.0}
            continue
        began = time.perf_counter()
        work.begin(rule)
        try:
            entry, betas, errors, accuracy, problems = _ROWS.get(rule, _rule_row)(
                rule, practicality, refs, steps, beta, params)
        except (ValueError, ArithmeticError) as error:
            out_rules[rule] = {
                "available": True, "practical": practicality.practical, "rel_err": None,
                "bias_order": practicality.bias_order, "gradient": practicality.gradient,
                "ok": False, "verdict": f"FAILED: {type(error).__name__}: {error}",
                "seconds": time.perf_counter() - began}
            continue
        entry = {"available": True, "practical": practicality.practical, **entry,
                 "rel_err": errors[0], "bias_order": practicality.bias_order,
                 **_verdict(practicality, betas, errors, accuracy, problems)}
        entry["seconds"] = time.perf_counter() - began + (
            refs.seconds.get("adjoint", 0.0) if rule == "adjoint" else 0.0)
        out_rules[rule] = entry
    work.finish()
    return {
        "system": problem.name,
        "loss": refs.loss,
        "beta": beta,
        "steps": steps,
        "reference": refs.as_json(params),
        "rules": out_rules,
        "seconds": time.perf_counter() - start,
    }


def report_text(report: dict) -> str:
    """The check as ``glep check`` prints it."""
    out = [f"{report['system']}: loss {report['loss']:.12g}; β = {report['beta']:g}, "
           f"{report['steps']} RK4 steps; {report['seconds']:.1f} s"]
    for name, ref in report["reference"].items():
        if "failed" in ref:
            out.append(f"reference {name}: failed ({ref['failed']})")
            continue
        accuracy = f", accuracy {ref['accuracy']:.1e}" if "accuracy" in ref else ""
        out.append(f"reference {name}: {ref['method']}{accuracy} "
                   f"({ref.get('seconds', 0.0):.1f} s)")
    out.append(f"\n  {'rule':<8} {'rel_err':>9} {'slope':>6} {'vs':<18} {'practical':<9} "
               f"{'seconds':>8}  verdict; health")
    for name, entry in report["rules"].items():
        if not entry["available"]:
            out.append(f"  {name:<8} {'—':>9} {'':>6} {'unavailable':<18} {'no':<9} "
                       f"{'':>8}  {entry['reason']}")
            continue
        practical = "yes" if entry["practical"] else "no"
        if entry["rel_err"] is None:
            out.append(f"  {name:<8} {'—':>9} {'':>6} {'':<18} {practical:<9} "
                       f"{entry['seconds']:>8.1f}  {entry['verdict']}")
            continue
        health = {**entry.get("health", {})}
        for oracle in ("torchdiffeq", "diffrax"):
            if f"{oracle}_rel_err" in entry:
                health[f"vs {oracle}"] = entry[f"{oracle}_rel_err"]
        shown = ", ".join(f"{k} {v:.2g}" for k, v in health.items())
        slope = "" if entry["bias_slope"] is None else f"{entry['bias_slope']:.2f}"
        out.append(f"  {name:<8} {entry['rel_err']:>9.1e} {slope:>6} {entry['reference']:<18} "
                   f"{practical:<9} {entry['seconds']:>8.1f}  {entry['verdict']}"
                   + (f"; {shown}" if shown else ""))
    return "\n".join(out)
