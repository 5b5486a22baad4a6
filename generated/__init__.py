"""Modules emitted by ``glep emit``; never edit them by hand (``glep emit --check``)."""
