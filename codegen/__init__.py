from . import energy as _energy  # noqa: F401  (registers renderers and CLI handlers)
from . import ffebm as _ffebm  # noqa: F401  (registers the ff-EBM chain renderer and handlers)
from . import hru as hru  # registers the HRU renderer and CLI handlers
