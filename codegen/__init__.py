from . import energy as _energy  # noqa: F401  (registers renderers and CLI handlers)
