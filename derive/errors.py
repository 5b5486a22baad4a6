"""One exception hierarchy for everything glep can reject.

Every error says what is wrong and how to fix it; the CLI prints the message
(no traceback) and exits with status 2.

>>> from glep.derive.errors import DerivationError, UndeclaredSymbolError
>>> issubclass(UndeclaredSymbolError, DerivationError)
True
"""


class DerivationError(ValueError):
    """Base class of every error glep raises about its input."""


class CoordinateError(DerivationError):
    """A coordinate, momentum, input or target is not a function of time alone."""


class ParameterError(DerivationError):
    """A parameter is not a plain SymPy Symbol."""


class UndeclaredSymbolError(DerivationError):
    """An expression contains a symbol or function declared nowhere."""


class NameClashError(DerivationError):
    """Two declared objects would get the same name in generated code."""


class DegenerateLagrangianError(DerivationError):
    """The mass matrix ∂²L/∂q̇² is singular, so the accelerations are undefined."""


class NotQuadraticError(DerivationError):
    """A Legendre transform needs a kinetic term quadratic in velocities (or momenta)."""


class NotSeparableError(DerivationError):
    """An explicit symplectic integrator was asked for a non-separable Hamiltonian."""


class IntegratorError(DerivationError):
    """An unknown or inapplicable integration method was requested."""


class HorizonError(DerivationError):
    """The time horizon is not a positive finite number."""


class StepsError(DerivationError):
    """The number of steps is not a positive integer."""


class ConstraintError(DerivationError):
    """A constraint is not a function of the positions alone, or the constraints are dependent."""


class InitialValueError(DerivationError):
    """An initial value is missing, unknown or not finite."""


class ParameterValueError(DerivationError):
    """A parameter value is missing or not a finite number."""


class SignalError(DerivationError):
    """An input or target signal is missing, unknown or malformed."""


class CostError(DerivationError):
    """The cost is malformed (unknown targets, velocities in a terminal cost...)."""


class SystemFileError(DerivationError):
    """A system file cannot be loaded (syntax error, no ``problem``, bad ``--set``)."""


class RuleError(DerivationError):
    """A learning rule was asked for where it does not apply, or with a bad β."""


class DataError(DerivationError):
    """A data set of trajectories is missing keys, malformed, or does not fit the problem."""


class CodegenError(DerivationError):
    """An expression cannot be printed as NumPy or Torch code."""


class VectorizedDeclarationError(DerivationError):
    """A vectorized (per-unit) Hamiltonian or recurrent unit is declared incorrectly."""


class EchoError(DerivationError):
    """A discrete echo was asked for with a bad β, time step or cotangent sequence."""


class EnergyError(DerivationError):
    """An energy declaration is malformed (states, parameters, shapes, box, layered form)."""


class OutputError(EnergyError):
    """Declared outputs are not among the states of the energy."""


class RelaxationError(DerivationError):
    """A relaxation diverged, did not converge, or ended where the Hessian (restricted to the
    unsaturated units) is not positive definite."""


class WriteError(DerivationError):
    """An output file or folder cannot be written (a file where a folder is needed...)."""


class KindError(DerivationError):
    """A command was asked of a kind of problem it does not apply to (yet)."""
