"""The library of bundled problems; each file defines ``problem`` (a ``derive.Problem``)."""
