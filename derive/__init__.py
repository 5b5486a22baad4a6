"""glep's symbolic engine: declare a system, derive its dynamics and learning rules.

Pure SymPy: nothing here imports NumPy, Torch or the code generator.
"""

from .errors import DerivationError as DerivationError
from .model import Model as Model
from .problem import Problem as Problem
from .problem import Signal as Signal
from .system import Cost as Cost
from .system import Hamiltonian as Hamiltonian
from .system import Lagrangian as Lagrangian
from .system import TimeReversal as TimeReversal
from .variables import momentum as momentum
