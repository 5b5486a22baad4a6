"""What the report plots of a system's dynamics, run through its generated NumPy module: the
forward run and its echo (continuous systems and Hamiltonian recurrent units) and the free
relaxation of an energy. Nothing is derived here; the module does every step."""

from __future__ import annotations

import numpy as np

from glep.codegen.emit import load_module
from glep.codegen.hru import class_name

#: Coordinates drawn in the echo plot (the first ones).
SHOWN = 3
#: Iterations of an energy's free relaxation drawn at most.
RELAXATION_ITERATIONS = 400


def _retrace(forward_canonical, echo_canonical, n) -> np.ndarray:
    """Relative distance between each forward state and the echo state that retraces it (the
    echo's momenta flipped back), scaled as ``echo_retrace`` scales it."""
    flipped = np.concatenate([echo_canonical[..., :n], -echo_canonical[..., n:]], axis=-1)
    scale = max(np.linalg.norm(forward_canonical[0]), np.linalg.norm(forward_canonical[-1]),
                1e-300)
    return np.linalg.norm(flipped - forward_canonical, axis=-1) / scale


def continuous_echo(problem, steps: int | None = None) -> dict:
    """The forward run of ``problem`` at its declared initial state and parameters, and the
    β = 0 echo from its momentum-flipped end state with the inputs replayed reversed (the
    first half of HEL); ``steps`` overrides the file's."""
    m = load_module(problem, "numpy")
    steps = steps or m.STEPS
    theta, horizon = np.asarray(m.PARAM_VALUES, float), float(m.HORIZON)
    forward = m.simulate(m.INITIAL_STATE, theta, steps=steps)
    canonical = np.array([m.to_canonical(z, theta) for z in forward])
    n = canonical.shape[-1] // 2
    end = canonical[-1].copy()
    end[n:] *= -1
    back = m.simulate(m.from_canonical(end, theta), theta, steps=steps,
                      inputs=lambda t: m.default_inputs(horizon - t))[::-1]
    back_canonical = np.array([m.to_canonical(z, theta) for z in back])
    shown = min(SHOWN, n)
    return {"times": np.linspace(0.0, horizon, steps + 1), "forward": forward[:, :shown],
            "echo": back[:, :shown], "names": list(m.STATE[:shown]),
            "retrace": _retrace(canonical, back_canonical, n)}


def hru_echo(problem, steps: int | None = None) -> dict:
    """A recurrent unit's forward leapfrog run on the check's reference setting (inputs and
    initial state drawn with seed 0, one sequence) and its β = 0 echo, which consumes the
    inputs in reverse order from the momentum-flipped end state."""
    m = load_module(problem, "numpy")
    s = dict(problem.settings, **({"steps": steps} if steps else {}))
    n, inputs, count, dt = s["n_units"], s["n_inputs"], s["steps"], s["dt"]
    layer = getattr(m, class_name(problem.name))(n, inputs, dt=dt)
    params = tuple(getattr(layer, name) for name in m.PARAMS)
    rng = np.random.default_rng(0)
    u = rng.standard_normal((1, count, inputs))
    phi, pi = np.split(0.5 * rng.standard_normal((1, 2 * n)), 2, axis=-1)
    forward = [np.concatenate([phi, pi], -1)[0]]
    for k in range(count):
        phi, pi = m.leapfrog_step(phi, pi, u[:, k], dt, params)
        forward.append(np.concatenate([phi, pi], -1)[0])
    pi = -pi
    back = [np.concatenate([phi, pi], -1)[0]]
    for k in range(count - 1, -1, -1):
        phi, pi = m.leapfrog_step(phi, pi, u[:, k], dt, params)
        back.append(np.concatenate([phi, pi], -1)[0])
    forward, back = np.array(forward), np.array(back[::-1])
    shown = min(SHOWN, n)
    return {"times": dt * np.arange(count + 1), "forward": forward[:, :shown],
            "echo": back[:, :shown], "names": [f"φ{i + 1}" for i in range(shown)],
            "retrace": _retrace(forward, back, n)}


def energy_relaxation(problem) -> tuple[list[float], float]:
    """Batch-mean energy of the free phase per iteration of the module's update, from rest,
    and its value at the relaxed fixed point (the module's ``relax``)."""
    m = load_module(problem, "numpy")
    theta = m.initial_params()
    x, y = np.atleast_2d(m.DEFAULT_INPUTS), np.atleast_2d(m.DEFAULT_TARGETS)
    fixed = float(np.mean(m.energy(m.relax(theta, x, y), theta, x)))
    z = m.iterate(np.zeros((x.shape[0], m.N)), theta, x, y)
    energies = [float(np.mean(m.energy(z, theta, x)))]
    scale = 1e-13 * (1 + abs(fixed))
    while len(energies) <= RELAXATION_ITERATIONS and energies[-1] - fixed > scale:
        z = m.iterate(z, theta, x, y)
        energies.append(float(np.mean(m.energy(z, theta, x))))
    return energies, fixed
