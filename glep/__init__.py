"""glep: write a Lagrangian, get a learning rule.

Declare a system (a Lagrangian, a Hamiltonian, a static energy, a chain of energies or a
Hamiltonian recurrent unit) with learnable parameters and a cost; glep derives its
dynamics and learning rules, emits NumPy and PyTorch modules and checks them against
independent references.

>>> import sympy as sp
>>> import glep
>>> t = sp.Symbol("t")
>>> q = sp.Function("q")(t)
>>> m, k = sp.symbols("m k", positive=True)
>>> oscillator = glep.Lagrangian(m * q.diff(t) ** 2 / 2 - k * q**2 / 2, coords=[q],
...                              params=[m, k])
>>> oscillator.accelerations()
[-k*q(t)/m]
"""

from glep._api import check as check
from glep._api import emit as emit
from glep._api import load_module as load_module
from glep._api import train as train
from glep.derive.chain import EnergyChain as EnergyChain
from glep.derive.chain import FeedForward as FeedForward
from glep.derive.convolution import conv as conv
from glep.derive.energy import Energy as Energy
from glep.derive.energy import EnergyCost as EnergyCost
from glep.derive.energy import EnergyProblem as EnergyProblem
from glep.derive.errors import CodegenError as CodegenError
from glep.derive.errors import ConstraintError as ConstraintError
from glep.derive.errors import CoordinateError as CoordinateError
from glep.derive.errors import CostError as CostError
from glep.derive.errors import DataError as DataError
from glep.derive.errors import DegenerateLagrangianError as DegenerateLagrangianError
from glep.derive.errors import DerivationError as DerivationError
from glep.derive.errors import EchoError as EchoError
from glep.derive.errors import EnergyError as EnergyError
from glep.derive.errors import HorizonError as HorizonError
from glep.derive.errors import InitialValueError as InitialValueError
from glep.derive.errors import IntegratorError as IntegratorError
from glep.derive.errors import NameClashError as NameClashError
from glep.derive.errors import NotQuadraticError as NotQuadraticError
from glep.derive.errors import NotSeparableError as NotSeparableError
from glep.derive.errors import OutputError as OutputError
from glep.derive.errors import ParameterError as ParameterError
from glep.derive.errors import ParameterValueError as ParameterValueError
from glep.derive.errors import RelaxationError as RelaxationError
from glep.derive.errors import RuleError as RuleError
from glep.derive.errors import SignalError as SignalError
from glep.derive.errors import StepsError as StepsError
from glep.derive.errors import SystemFileError as SystemFileError
from glep.derive.errors import UndeclaredSymbolError as UndeclaredSymbolError
from glep.derive.errors import VectorizedDeclarationError as VectorizedDeclarationError
from glep.derive.feedforward import Conv2d as Conv2d
from glep.derive.feedforward import Dense as Dense
from glep.derive.feedforward import FeedforwardProblem as FeedforwardProblem
from glep.derive.hru import HRUProblem as HRUProblem
from glep.derive.hssm import HSSMProblem as HSSMProblem
from glep.derive.problem import Problem as Problem
from glep.derive.problem import Signal as Signal
from glep.derive.system import Cost as Cost
from glep.derive.system import Hamiltonian as Hamiltonian
from glep.derive.system import Lagrangian as Lagrangian
from glep.derive.systemfile import load_problem as load_problem
from glep.derive.variables import momentum as momentum
from glep.derive.vector_field import VectorFieldProblem as VectorFieldProblem
from glep.derive.vectorized import InputMatrix as InputMatrix
from glep.derive.vectorized import LogCosh as LogCosh
from glep.derive.vectorized import VectorizedHamiltonian as VectorizedHamiltonian


def __getattr__(name):
    """The optimizers ``BinaryFlip`` and ``Metaplastic``, imported on first use (they need
    torch, which ``import glep`` does not load)."""
    if name in ("BinaryFlip", "Metaplastic"):
        from glep.learn import optimizers

        return getattr(optimizers, name)
    raise AttributeError(f"module 'glep' has no attribute {name!r}")
