"""Numerical proof that emitted learning rules compute the gradient, for every kind.

:func:`check` runs a problem's rules through its generated modules and compares them
with independent references (the continuous adjoint of torchdiffeq and finite differences
for continuous systems; implicit differentiation and finite differences for energies and
ff-EBM chains; autograd BPTT for recurrent units, and for the unit of an HSSM). Every kind
returns the same schema (:mod:`glep.verify.common`).
"""

from __future__ import annotations

from glep.codegen.kinds import kind_of
from glep.derive.errors import KindError

from . import chain, continuous, energy, hru

#: Kind name → the module that checks it (``check(problem, ...)``, ``report_text``).
CHECKS = {"continuous": continuous, "energy": energy, "chain": chain, "hru": hru}


#: ``quick``: finite differences of an energy or a chain only up to this many parameters
#: (implicit differentiation stays the reference of every rule).
QUICK_FD_PARAMS = 100


def check(problem, *, rules=None, beta: float = 1e-4, steps: int | None = None,
          progress=None, quick: bool = False, diffrax: bool = False) -> dict:
    """Every requested rule (default: all) of ``problem`` against its references, at
    nudging strength ``beta``; ``steps`` overrides the integration steps of a continuous
    system or a recurrent unit. ``progress(done, total, rule, what)`` hears of each solve
    of a continuous system's check as it starts. ``quick`` skips the finite differences of
    an energy or a chain of more than :data:`QUICK_FD_PARAMS` parameters; ``diffrax``:
    diffrax's adjoint as a further reference of a continuous system (JAX installed)."""
    name = kind_of(problem).name
    if name == "feedforward":
        raise KindError(f"glep check has no reference run for a feedforward network "
                        f"({problem.name}): train it with glep train --rule DTP --compare BP, "
                        f"whose log reports ‖J_G − J_Fᵀ‖/‖J_F‖ and the angle to backprop")
    if name == "vector_field":
        raise KindError(f"glep check has no reference run for a vector-field network "
                        f"({problem.name}): train it with glep train --rule VF-EP --compare "
                        f"BPTT, whose log reports the angle of VF-EP to the true gradient")
    if name == "hssm":  # an HSSM learns through its unit's rules: check the unit
        problem, name = problem.unit, "hru"
    if name in ("continuous", "hru"):
        options = {"steps": steps}
        if name == "continuous":
            options.update(rules=rules, progress=progress, diffrax=diffrax)
        return CHECKS[name].check(problem, beta=beta, **options)
    limit = {"max_fd_params": QUICK_FD_PARAMS} if quick else {}
    return CHECKS[name].check(problem, rules=rules, beta=beta, **limit)


def report_text(problem, report: dict) -> str:
    """The report as ``glep check`` prints it."""
    name = kind_of(problem).name
    return CHECKS["hru" if name == "hssm" else name].report_text(report)
