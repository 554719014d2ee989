"""Paperwire: a self-hostable Daily Papers platform."""

__version__ = "0.1.0"
