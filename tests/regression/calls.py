"""The calls of the numerical regression fixture, shared by ``record.py`` and the test.

A *call* is data: ``{"kind": KIND, "kwargs": {...}}`` (JSON-able). :func:`plan` lists the
calls of one generated module (``record.py`` uses it once, when the fixture is recorded;
the fixture then stores every call with its results). :func:`run` executes one call on a
loaded module and returns its results as a flat mapping ``name → float64 array`` (or
``None`` where the module returned None); the test repeats exactly the stored calls through
:func:`run`, so a call is never re-derived from the module under test.

Arrays a call needs beyond the module's own defaults (seeded random states, HRU inputs and
parameters, sampled signals) are drawn once by :func:`plan`, stored in the fixture with the
module's entries (``inputs``) and handed back to :func:`run`: the test does not depend on a
random generator's stream.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np

#: Norm-wise relative tolerance ‖new − old‖ / max(‖old‖, TINY).
RTOL = 1e-12
TINY = float(np.finfo(np.float64).tiny)

#: Continuous systems: STEPS divided by this (at least MIN_STEPS) keeps every call short.
STEP_DIVISOR = 20
MIN_STEPS = 20
#: Nudging strength of every EP / GLEP call.
BETA = 1e-3
#: Time and states at which the continuous systems' primitives are evaluated.
PRIMITIVE_TIME = 0.37
#: Continual EP: nudged-phase steps recorded.
CONTINUAL_STEPS = 20
#: HRU sizes: batch, sequence length K, units n, inputs m, time step.
HRU_BATCH, HRU_STEPS, HRU_UNITS, HRU_INPUTS, HRU_DT = 2, 50, 6, 3, 0.1
SEED = 20240611


# -- loading ------------------------------------------------------------------------------


def load_module(path: Path):
    """A generated module loaded from its file (not ``import generated.x``): the same loader
    works for self-contained modules and for modules that import a shared runtime."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"generated module {path} is missing")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"_glep_regression_{digest}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def backend_of(name: str) -> str:
    """``numpy`` or ``torch``, from the module's name (``<system>_<backend>``)."""
    backend = name.rsplit("_", 1)[-1]
    if backend not in ("numpy", "torch"):
        raise ValueError(f"{name}: not a <system>_numpy / <system>_torch module")
    return backend


def family_of(module) -> str:
    """Which kind of generated module this is (decides the calls)."""
    if hasattr(module, "BLOCKS") and hasattr(module, "MAPS"):
        return "ff_ebm"
    if hasattr(module, "PARAM_SHAPES") and hasattr(module, "echo"):
        return "hru"
    if hasattr(module, "relax") and hasattr(module, "energy_dtheta"):
        return "energy"
    if hasattr(module, "simulate") and hasattr(module, "RULES"):
        return "continuous"
    raise ValueError(f"{module.__name__}: unknown kind of generated module")


# -- conversions --------------------------------------------------------------------------


def _torch():
    import torch

    return torch


def to_numpy(value):
    """A float64 NumPy array (or None) from a tensor, array, number or bool."""
    if value is None:
        return None
    if type(value).__module__.startswith("torch"):
        value = value.detach().cpu()
        if value.dtype.is_complex:
            raise TypeError("complex results are not recorded")
        return value.to(dtype=_torch().float64).numpy().copy()
    return np.array(value, dtype=np.float64)


def flatten(value, prefix: str = "", out: dict | None = None) -> dict:
    """Nested dicts / lists / tuples of arrays → ``{"a.b.0": float64 array or None}``."""
    out = {} if out is None else out
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            flatten(value[key], f"{prefix}{key}.", out)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            flatten(item, f"{prefix}{i}.", out)
    else:
        out[prefix[:-1] if prefix else "value"] = to_numpy(value)
    return out


def _array(backend, value):
    """``value`` as this backend's float64 array."""
    if backend == "torch":
        return _torch().as_tensor(np.asarray(value, dtype=np.float64))
    return np.array(value, dtype=np.float64)


@contextlib.contextmanager
def _one_thread(backend):
    """Torch calls run on one thread (summation order fixed); restored afterwards."""
    if backend != "torch":
        yield
        return
    torch = _torch()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -- the plan: which calls each module gets -----------------------------------------------


def _call(kind, raises=None, **kwargs):
    call = {"kind": kind, "kwargs": kwargs}
    if raises is not None:
        call["raises"] = raises
    return call


def _label(call) -> str:
    kwargs = ",".join(f"{k}={v}" for k, v in call["kwargs"].items())
    label = f"{call['kind']}[{kwargs}]" if kwargs else call["kind"]
    return f"{label}->raises" if "raises" in call else label


def plan(name: str, module) -> tuple[dict, dict]:
    """The calls of one module, ``{entry label: call}``, and the arrays they need."""
    backend = backend_of(name)
    family = family_of(module)
    system = name.rsplit("_", 1)[0]  # both backends of a system get the same arrays
    rng = np.random.default_rng([SEED, int(hashlib.sha1(system.encode()).hexdigest()[:8], 16)])
    calls, inputs = {"continuous": _plan_continuous, "energy": _plan_energy,
                     "ff_ebm": _plan_ff_ebm, "hru": _plan_hru}[family](module, backend, rng)
    labelled = {}
    for call in calls:
        label = _label(call)
        if label in labelled:
            raise ValueError(f"{name}: two calls labelled {label}")
        labelled[label] = {"family": family, **call}
    return labelled, inputs


def _plan_continuous(module, backend, rng):
    steps = max(MIN_STEPS, module.STEPS // STEP_DIVISOR)
    available = [rule for rule, reason in module.RULES.items() if reason is None]
    calls = [_call("primitives")]
    if backend == "torch":
        if "CBVP" in available:  # NumPy only: the Torch module says so with a ValueError
            calls.append(_call("gradient", raises="ValueError", rule="CBVP", beta=BETA,
                               steps=steps))
        available = [r for r in available if r != "CBVP"]
        available.append("BPTT")
    for method in module.METHODS:
        calls.append(_call("simulate", method=method, steps=steps))
    calls.append(_call("loss", steps=steps))
    if module.TIME_REVERSIBLE:
        calls.append(_call("echo_retrace", steps=steps))
    # the echo rule when there is one, else backward integration
    first = "HEL" if "HEL" in available else "PFVP"
    for rule in available:
        if rule in ("CIVP", "PFVP", "HEL"):
            for centered in (True, False):
                calls.append(_call("gradient", rule=rule, beta=BETA, centered=centered,
                                   steps=steps))
            if rule in ("CIVP", first):  # R_T (CIVP), R_0 (PFVP/HEL) and the kick dropped
                calls.append(_call("gradient", rule=rule, beta=BETA, steps=steps,
                                   boundary_residual=False))
                calls.append(_call("gradient", rule=rule, beta=BETA, steps=steps,
                                   momentum_kick=False))
        elif rule == "BPTT":
            calls.append(_call("gradient", rule=rule, steps=steps))
        else:  # adjoint (β unused), CBVP (always centered; its loss is boundary_value_loss's)
            calls.append(_call("gradient", rule=rule, beta=BETA, steps=steps))
        if "leapfrog" in module.METHODS and rule in ("HEL", "BPTT"):
            for centered in ((True, False) if rule == "HEL" else (None,)):
                extra = {} if centered is None else {"centered": centered}
                calls.append(_call("gradient", rule=rule, beta=BETA, method="leapfrog",
                                   steps=steps, **extra))
    # a batch of initial states, and sampled (spline) inputs and targets
    calls.append(_call("gradient", rule=first, beta=BETA, steps=steps, z0="batch"))
    if "adjoint" in available:
        calls.append(_call("gradient", rule="adjoint", steps=steps, z0="batch"))
    calls.append(_call("gradient", rule=first, beta=BETA, steps=steps, signals="sampled"))
    size = len(module.INITIAL_STATE)
    inputs = {
        "batch": np.stack([np.asarray(module.INITIAL_STATE, dtype=np.float64),
                           np.asarray(module.INITIAL_STATE) + 0.05 * rng.standard_normal(size)]),
        "input_samples": 0.5 * rng.standard_normal((17, len(module.INPUTS))),
        "target_samples": 0.5 * rng.standard_normal((17, len(module.TARGETS))),
    }
    return calls, inputs


def _plan_energy(module, backend, rng):
    # the primitives at a fixed state: two samples, one for a large network (fixture size)
    rows = min(len(module.DEFAULT_INPUTS), 2 if module.N <= 16 else 1)
    calls = [_call("initial_params"), _call("energy_primitives", rows=rows)]
    methods = [None]
    if module.BLOCK_EXACT:
        methods += ["gradient", "sync", "async"]
    for method in methods:
        calls.append(_call("relax", method=method))
    rules = [r for r, reason in module.RULES.items() if reason is None and r != "continual-EP"]
    for rule in rules:
        calls.append(_call("ep_gradient", rule=rule, beta=BETA))
    if module.BLOCK_EXACT:  # the other relaxations through one rule
        for method in ("gradient", "sync"):
            calls.append(_call("ep_gradient", rule="C-EP", beta=BETA, method=method))
    calls.append(_call("ep_gradient", rule="C-EP", beta=BETA, start="zero"))
    calls.append(_call("ep_gradient", rule="C-CpL", beta=BETA, start="zero"))
    calls.append(_call("implicit_gradient"))
    if module.RULES.get("continual-EP", "") is None:
        calls.append(_call("continual_ep", beta=BETA, eta=1e-3, steps=CONTINUAL_STEPS))
    calls.append(_call("predict"))
    low, high = (0.05, 0.95) if module.BOX is not None else (-1.0, 1.0)
    inputs = {"state": rng.uniform(low, high, (rows, module.N)),
              "direction": rng.standard_normal((rows, module.N))}
    return calls, inputs


def _plan_ff_ebm(module, backend, rng):
    calls = [_call("initial_params"), _call("forward"), _call("loss"),
             _call("ff_gradient", beta=BETA), _call("ff_gradient", beta=1e-2),
             _call("predict"), _call("feed")]
    if hasattr(module, "implicit_gradient"):
        calls.append(_call("implicit_gradient"))
    batch = len(module.DEFAULT_INPUTS)
    inputs = {}
    for k, spec in enumerate(module.MAPS, start=1):
        rows, cols = module._MAP_SHAPES[spec["weight"]]
        inputs[f"o{k}"] = rng.uniform(0.05, 0.95, (batch, cols))
        inputs[f"cotangent{k}"] = rng.standard_normal((batch, rows))
    return calls, inputs


def _plan_hru(module, backend, rng):
    n, m = HRU_UNITS, HRU_INPUTS
    shapes = {"n": n, "m": m}
    params = {}
    for name in module.PARAMS:
        shape = tuple(shapes[s] for s in module.PARAM_SHAPES[name])
        if name in module.INIT:
            low, high = module.INIT[name]
            params[name] = rng.uniform(low, high, shape)
        else:
            params[name] = rng.standard_normal(shape) / math.sqrt(m)
    inputs = {f"param.{k}": v for k, v in params.items()}
    inputs["u"] = 0.5 * rng.standard_normal((HRU_BATCH, HRU_STEPS, m))
    inputs["state"] = 0.1 * rng.standard_normal((HRU_BATCH, 2 * n))
    inputs["cotangent"] = rng.standard_normal((HRU_BATCH, HRU_STEPS, n))
    calls = [_call("hru_energy"), _call("hru_step"), _call("hru_simulate"),
             _call("hru_echo", estimator="half_step"), _call("hru_echo", estimator="post_step")]
    layer = _hru_class(module).__name__
    rules = ("rhel", "bptt") if backend == "torch" else ("rhel",)  # NumPy: no autograd
    calls += [_call("hru_layer", layer=layer, rule=rule) for rule in rules]
    calls.append(_call("hru_layer", layer=layer, rule="rhel", zero_state=True))
    if backend == "torch":  # the NumPy layer draws from an unseeded generator
        calls.append(_call("hru_init", layer=layer, seed=0))
    return calls, inputs


# -- running one call ---------------------------------------------------------------------


def run(module, name: str, call: dict, inputs: dict) -> dict:
    """Execute one stored call (``family``, ``kind``, ``kwargs``, optional ``raises``) on
    ``module``: ``{output name: float64 array or None}``.

    ``inputs``: the module's stored arrays (NumPy, float64). A call with ``"raises"``
    must raise that exception (by class name); it then has no outputs.
    """
    backend = backend_of(name)
    family = call["family"]
    runner = _RUNNERS[family].get(call["kind"])
    if runner is None:
        raise ValueError(f"{name}: no call kind {call['kind']!r} for a {family} module")
    with _one_thread(backend):
        if "raises" not in call:
            return runner(module, backend, dict(call["kwargs"]), inputs)
        try:
            runner(module, backend, dict(call["kwargs"]), inputs)
        except Exception as error:
            if type(error).__name__ != call["raises"]:
                raise
            return {}
        raise AssertionError(f"{name}: {call['kind']} {call['kwargs']} should raise "
                             f"{call['raises']}")


# continuous systems


def _continuous_z0(module, backend, kwargs, inputs):
    which = kwargs.pop("z0", "default")
    if which == "batch":
        return _array(backend, inputs["batch"])
    return _array(backend, module.INITIAL_STATE)


def _signals(module, backend, kwargs, inputs):
    if kwargs.pop("signals", "default") == "sampled":
        kwargs["inputs"] = _array(backend, inputs["input_samples"])
        kwargs["targets"] = _array(backend, inputs["target_samples"])
    return kwargs


def _run_primitives(module, backend, kwargs, inputs):
    t = _array(backend, PRIMITIVE_TIME)
    theta = _array(backend, module.PARAM_VALUES)
    z = _array(backend, inputs["batch"])
    x = module.default_inputs(t)
    out = {"default_inputs": x, "default_targets": module.default_targets(t),
           "vector_field": module.vector_field(t, z, theta, x)}
    qp = module.to_canonical(z, theta)
    out["to_canonical"] = qp
    out["from_canonical"] = module.from_canonical(qp, theta)
    out["hamiltonian"] = module.hamiltonian(t, qp, theta, x)
    out["canonical_field"] = module.canonical_field(t, qp, theta, x)
    out["canonical_jacobian"] = module.canonical_jacobian(t, qp, theta, x)
    if hasattr(module, "leapfrog_frequency"):
        out["leapfrog_frequency"] = module.leapfrog_frequency(t, qp[0], theta, x)
    if hasattr(module, "VectorField"):
        field = module.VectorField(theta)
        out["VectorField.forward"] = field(t, z)
        out["VectorField.theta"] = field.theta()
    return flatten(out)


def _run_simulate(module, backend, kwargs, inputs):
    path = module.simulate(_array(backend, module.INITIAL_STATE),
                           _array(backend, module.PARAM_VALUES), **kwargs)
    steps = kwargs["steps"]
    rows = sorted({round(i * steps / 10) for i in range(11)})
    return {"final": to_numpy(path[-1]), "samples": to_numpy(path[rows]),
            "shape": np.array(tuple(path.shape), dtype=np.float64)}


def _run_loss(module, backend, kwargs, inputs):
    return {"loss": to_numpy(module.loss(_array(backend, module.INITIAL_STATE),
                                         _array(backend, module.PARAM_VALUES), **kwargs))}


def _run_echo_retrace(module, backend, kwargs, inputs):
    return {"retrace": to_numpy(module.echo_retrace(_array(backend, module.INITIAL_STATE),
                                                    _array(backend, module.PARAM_VALUES),
                                                    **kwargs))}


def _run_gradient(module, backend, kwargs, inputs):
    z0 = _continuous_z0(module, backend, kwargs, inputs)
    kwargs = _signals(module, backend, kwargs, inputs)
    g = module.gradient(z0, _array(backend, module.PARAM_VALUES), **kwargs)
    return {key: to_numpy(g[key]) for key in ("loss", "theta", "z0")}


# static energies


def _energy_args(module, backend, inputs):
    theta = module.initial_params()
    x = _array(backend, module.DEFAULT_INPUTS)
    y = _array(backend, module.DEFAULT_TARGETS)
    return theta, x, y


def _run_initial_params(module, backend, kwargs, inputs):
    return flatten(module.initial_params())


def _run_energy_primitives(module, backend, kwargs, inputs):
    theta, x, y = _energy_args(module, backend, inputs)
    rows = kwargs["rows"]
    x, y = x[:rows], y[:rows]
    z = _array(backend, inputs["state"][:rows])
    v = _array(backend, inputs["direction"][:rows])
    out = {"energy": module.energy(z, theta, x),
           "energy_gradient": module.energy_gradient(z, theta, x),
           "energy_hessian": module.energy_hessian(z, theta, x),
           "energy_dtheta": module.energy_dtheta(z, theta, x),
           "energy_dtheta_jvp": module.energy_dtheta_jvp(z, v, theta, x),
           "energy_dx": module.energy_dx(z, theta, x),
           "cost": module.cost(z, y),
           "cost_gradient": module.cost_gradient(z, y),
           "descent": module.descent(z, theta, x, y, beta=0.25),
           "iterate.gradient": module.iterate(z, theta, x, y, beta=0.25, method="gradient")}
    if module.BLOCK_EXACT:
        out["layer_curvature"] = module.layer_curvature(theta)
        out["iterate.sync"] = module.iterate(z, theta, x, y, beta=0.25, method="sync")
        out["iterate.async"] = module.iterate(z, theta, x, y, beta=0.25, method="async")
    return flatten(out)


def _run_relax(module, backend, kwargs, inputs):
    theta, x, y = _energy_args(module, backend, inputs)
    z, info = module.relax(theta, x, y, info=True, **kwargs)
    return {"state": to_numpy(z), "iterations": to_numpy(info["iterations"])}


def _run_ep_gradient(module, backend, kwargs, inputs):
    theta, x, y = _energy_args(module, backend, inputs)
    g = module.gradient(theta, x, y, **kwargs)
    return flatten({"loss": g["loss"], "grad": g["grad"], "states": g["states"]})


def _run_implicit_gradient(module, backend, kwargs, inputs):
    theta, x, y = _energy_args(module, backend, inputs)
    g = module.implicit_gradient(theta, x, y, **kwargs)
    return flatten(g)


def _run_continual_ep(module, backend, kwargs, inputs):
    theta, x, y = _energy_args(module, backend, inputs)
    final, total = module.continual_ep(theta, x, y, **kwargs)
    return flatten({"theta": final, "total": total})


def _run_predict(module, backend, kwargs, inputs):
    theta = module.initial_params()
    return {"output": to_numpy(module.predict(theta, _array(backend, module.DEFAULT_INPUTS)))}


# ff-EBM


def _run_ff_forward(module, backend, kwargs, inputs):
    states, xs = module.forward(module.initial_params())
    return flatten({"states": states, "inputs": xs})


def _run_ff_loss(module, backend, kwargs, inputs):
    return {"loss": to_numpy(module.loss(module.initial_params()))}


def _run_ff_gradient(module, backend, kwargs, inputs):
    g = module.gradient(module.initial_params(), **kwargs)
    return flatten({"loss": g["loss"], "grad": g["grad"], "states": g["states"]})


def _run_ff_implicit(module, backend, kwargs, inputs):
    g = module.implicit_gradient(module.initial_params(), **kwargs)
    return flatten({"loss": g["loss"], "grad": g["grad"], "states": g["states"]})


def _run_ff_predict(module, backend, kwargs, inputs):
    return {"output": to_numpy(module.predict(module.initial_params()))}


def _run_ff_feed(module, backend, kwargs, inputs):
    theta = module.initial_params()
    out = {}
    for k in range(1, len(module.MAPS) + 1):
        o = _array(backend, inputs[f"o{k}"])
        cot = _array(backend, inputs[f"cotangent{k}"])
        out[f"feed{k}"] = module.feed(k, o, theta)
        grads, back = module.feed_vjp(k, o, cot, theta)
        out[f"feed_vjp{k}"] = {"params": grads, "o": back}
    return flatten(out)


# HRU layers


def _hru_params(module, backend, inputs):
    return tuple(_array(backend, inputs[f"param.{name}"]) for name in module.PARAMS)


def _run_hru_energy(module, backend, kwargs, inputs):
    u = _array(backend, inputs["u"])
    state = _array(backend, inputs["state"])
    return {"energy": to_numpy(module.energy(u[:, 0], state, _hru_params(module, backend,
                                                                          inputs)))}


def _run_hru_step(module, backend, kwargs, inputs):
    u = _array(backend, inputs["u"])
    state = _array(backend, inputs["state"])
    phi, pi = state[:, :HRU_UNITS], state[:, HRU_UNITS:]
    out = module.leapfrog_step(phi, pi, u[:, 0], HRU_DT, _hru_params(module, backend, inputs))
    return flatten({"phi": out[0], "pi": out[1]})


def _run_hru_simulate(module, backend, kwargs, inputs):
    u = _array(backend, inputs["u"])
    state = _array(backend, inputs["state"])
    out, end = module.simulate(u, state, HRU_DT, _hru_params(module, backend, inputs))
    return flatten({"out": out, "end": end})


def _run_hru_echo(module, backend, kwargs, inputs):
    params = _hru_params(module, backend, inputs)
    u = _array(backend, inputs["u"])
    state = _array(backend, inputs["state"])
    _, end = module.simulate(u, state, HRU_DT, params)
    grad = _array(backend, inputs["cotangent"])
    beta = module.DEFAULT_BETA["float64"]
    grads, start = module.echo(u, end, grad, HRU_DT, beta, params, **kwargs)
    return flatten({"grads": grads, "start": start, "health": module.health(start, state)})


def _hru_class(module):
    classes = [v for k, v in vars(module).items()
               if isinstance(v, type) and k.endswith("HRU") and not k.startswith("_")]
    if len(classes) != 1:
        raise ValueError(f"{module.__name__}: expected one *HRU layer class, found {classes}")
    return classes[0]


def _run_hru_layer(module, backend, kwargs, inputs):
    layer_class = getattr(module, kwargs.pop("layer"))
    zero_state = kwargs.pop("zero_state", False)
    if backend == "numpy":
        layer = layer_class(HRU_UNITS, HRU_INPUTS, dt=HRU_DT, dtype=np.float64, **kwargs)
        for name in module.PARAMS:
            setattr(layer, name, np.array(inputs[f"param.{name}"], dtype=np.float64))
        u = np.array(inputs["u"], dtype=np.float64)
        state = None if zero_state else np.array(inputs["state"], dtype=np.float64)
        out = layer.forward(u, state)
        grads = layer.backward(2 * out)  # d(Σ out²)/d out
        return flatten({"out": out, "loss": (out**2).sum(), "grads": grads,
                        "health": layer.health, "beta": layer.beta})
    torch = _torch()
    layer = layer_class(HRU_UNITS, HRU_INPUTS, dt=HRU_DT, dtype=torch.float64, **kwargs)
    with torch.no_grad():
        for name in module.PARAMS:
            getattr(layer, name).copy_(torch.as_tensor(inputs[f"param.{name}"]))
    u = torch.as_tensor(inputs["u"]).clone().requires_grad_(True)
    leaves = [u]
    state = None
    if not zero_state:
        state = torch.as_tensor(inputs["state"]).clone().requires_grad_(True)
        leaves.append(state)
    with torch.enable_grad():
        out = layer(u, state)
        loss = out.square().sum()
        loss.backward()
    grads = {name: getattr(layer, name).grad for name in module.PARAMS}
    grads["u"] = u.grad
    if state is not None:
        grads["state"] = state.grad
    result = {"out": out, "loss": loss, "grads": grads, "beta": layer.beta}
    if kwargs.get("rule", "rhel") == "rhel":
        result["health"] = layer.health
    return flatten(result)


def _run_hru_init(module, backend, kwargs, inputs):
    torch = _torch()
    layer_class = getattr(module, kwargs["layer"])
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(kwargs["seed"])
        layer = layer_class(HRU_UNITS, HRU_INPUTS, dt=HRU_DT, dtype=torch.float64)
    finally:
        torch.random.set_rng_state(state)
    return flatten({name: getattr(layer, name) for name in module.PARAMS})


_RUNNERS = {
    "continuous": {"primitives": _run_primitives, "simulate": _run_simulate,
                   "loss": _run_loss, "echo_retrace": _run_echo_retrace,
                   "gradient": _run_gradient},
    "energy": {"initial_params": _run_initial_params,
               "energy_primitives": _run_energy_primitives, "relax": _run_relax,
               "ep_gradient": _run_ep_gradient, "implicit_gradient": _run_implicit_gradient,
               "continual_ep": _run_continual_ep, "predict": _run_predict},
    "ff_ebm": {"initial_params": _run_initial_params, "forward": _run_ff_forward,
               "loss": _run_ff_loss, "ff_gradient": _run_ff_gradient,
               "implicit_gradient": _run_ff_implicit, "predict": _run_ff_predict,
               "feed": _run_ff_feed},
    "hru": {"hru_energy": _run_hru_energy, "hru_step": _run_hru_step,
            "hru_simulate": _run_hru_simulate, "hru_echo": _run_hru_echo,
            "hru_layer": _run_hru_layer, "hru_init": _run_hru_init},
}


# -- the fixture's encoding and the comparison ----------------------------------------------


def encode(array) -> dict | None:
    """A float64 array as JSON data: shape and the flat values (``float.__repr__``
    round-trips exactly; NaN and ±inf are written as JSON's NaN / Infinity)."""
    if array is None:
        return None
    array = np.asarray(array, dtype=np.float64)
    return {"shape": list(array.shape), "data": [float(v) for v in array.ravel()]}


def decode(data) -> np.ndarray | None:
    if data is None:
        return None
    return np.array(data["data"], dtype=np.float64).reshape(tuple(data["shape"]))


def compare(new, old) -> str | None:
    """None when ``new`` agrees with ``old`` (same shape, same non-finite entries,
    ‖new − old‖ / max(‖old‖, TINY) ≤ RTOL), else what differs."""
    if old is None or new is None:
        return None if old is None and new is None else f"expected {old!r}, got {new!r}"
    if new.shape != old.shape:
        return f"shape {new.shape} != recorded {old.shape}"
    finite = np.isfinite(old)
    if not np.array_equal(finite, np.isfinite(new)) or not np.array_equal(
            np.nan_to_num(old[~finite]), np.nan_to_num(new[~finite])):
        return "non-finite entries differ"
    error = float(np.linalg.norm(new[finite] - old[finite]))
    scale = max(float(np.linalg.norm(old[finite])), TINY)
    if not error / scale <= RTOL:
        return f"relative error {error / scale:.3e} > {RTOL:g} (‖old‖ = {scale:.6g})"
    return None
