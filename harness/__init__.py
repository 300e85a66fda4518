"""PAVI validation harness: measures a PAVI deployment and judges it against the migration plan's gates."""

__version__ = "0.1.0"
