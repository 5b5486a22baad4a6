"""How practical a learning rule is for a physical learning machine.

>>> report = Practicality(True, True, True, 3, "O(1)", False, False, True, 2, "")
>>> report.as_json()["memory"], report.gradient
('O(1)', 'biased O(β^2)')
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Practicality:
    """The practicality report of one rule (the JSON contract of ``glep rules --json``).

    ``passes`` counts runs of the system (centered form); ``memory`` is the storage needed
    as a function of the horizon T; ``local`` says whether each parameter's update reads
    only the variables it couples (listed in ``reads``); ``bias_order`` is the order k of
    the estimator's bias O(β^k): 0 for an exact method, None for a rule that does not
    estimate the gradient of the cost at all (:attr:`gradient` says which, in words).
    """

    available: bool
    forward_only: bool
    same_system: bool
    passes: int
    memory: str
    needs_jacobian: bool
    needs_bvp: bool
    local: bool
    bias_order: int | None
    reason: str
    reads: dict[str, list[str]] = field(default_factory=dict)

    @property
    def practical(self) -> bool:
        """Buildable as a physical learning machine: available, forward-only, same
        system, no Jacobians, no boundary value solves, local."""
        return (
            self.available
            and self.forward_only
            and self.same_system
            and not self.needs_jacobian
            and not self.needs_bvp
            and self.local
        )

    @property
    def gradient(self) -> str:
        """``exact``, ``biased O(β^k)`` or ``not a gradient estimator``."""
        if self.bias_order is None:
            return "not a gradient estimator"
        return "exact" if self.bias_order == 0 else f"biased O(β^{self.bias_order})"

    def as_json(self) -> dict:
        return {
            "available": self.available,
            "forward_only": self.forward_only,
            "same_system": self.same_system,
            "passes": self.passes,
            "memory": self.memory,
            "needs_jacobian": self.needs_jacobian,
            "needs_bvp": self.needs_bvp,
            "local": self.local,
            "bias_order": self.bias_order,
            "gradient": self.gradient,
            "reason": self.reason,
            "practical": self.practical,
            "reads": self.reads,
        }
