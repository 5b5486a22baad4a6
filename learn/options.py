"""Command-line values checked and converted, with one-line errors naming the flag.

>>> number("noise", "0.1", low=0, low_open=False)
0.1
>>> integer("trajectories", "0", 1)
Traceback (most recent call last):
...
glep.derive.errors.DataError: --trajectories must be an integer ≥ 1, got '0'
"""

from __future__ import annotations

import math
from pathlib import Path

from glep.derive.errors import DataError, RuleError

__all__ = ["flag", "given", "integer", "number", "rule_list", "run_dir"]


def flag(name: str) -> str:
    """``lr_decay`` → ``--lr-decay``."""
    return "--" + name.replace("_", "-")


def number(name, value, *, low=None, high=None, low_open=True) -> float:
    """``value`` as a finite float within the bounds (``low`` excluded unless ``low_open``
    is false, ``high`` included)."""
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '≥'} {low:g}")
    if high is not None:
        bounds.append(f"≤ {high:g}")
    wanted = f"a finite number {' and '.join(bounds)}".rstrip()
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{flag(name)} must be {wanted}, got {value!r}") from None
    if (isinstance(value, bool) or not math.isfinite(result)
            or (low is not None and (result <= low if low_open else result < low))
            or (high is not None and result > high)):
        raise DataError(f"{flag(name)} must be {wanted}, got {value!r}")
    return result


def integer(name, value, minimum) -> int:
    """``value`` as an integer ≥ ``minimum`` (written as one: not ``1e2``, not ``2.5``)."""
    text = value.strip() if isinstance(value, str) else value
    try:
        if isinstance(text, bool) or (isinstance(text, float) and not text.is_integer()):
            raise ValueError
        result = int(text)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{flag(name)} must be an integer ≥ {minimum}, got {value!r}") from None
    if result < minimum:
        raise DataError(f"{flag(name)} must be an integer ≥ {minimum}, got {value!r}")
    return result


def given(args, defaults: dict) -> dict:
    """``defaults`` with the values ``args`` gives (those not None)."""
    return {**defaults, **{k: getattr(args, k) for k in defaults
                           if getattr(args, k, None) is not None}}


def rule_list(rule, compare, rules, learner: str) -> list[str]:
    """``--rule`` then the ``--compare`` rules, in any case, once each, among ``rules``.

    >>> rule_list("dtp", "BP,DTP", ("DTP", "BP"), "a feedforward network")
    ['DTP', 'BP']
    """
    known = {r.lower(): r for r in rules}
    names = f"{rule},{compare or ''}".strip(",")
    out = list(dict.fromkeys(known.get(r.strip().lower(), r.strip()) for r in names.split(",")))
    for name in out:
        if name not in rules:
            raise RuleError(f"--rule {name!r}: {learner} learns by {' or '.join(rules)}")
    return out


def run_dir(value, default: str = "runs") -> Path:
    """The run directory ``--out-dir`` (not a file)."""
    path = Path(value or default)
    if path.exists() and not path.is_dir():
        raise DataError(f"--out-dir {path} is a file, not a directory: choose another")
    return path
