"""mlship's version: the release of the package and of the templates it ships.

A module of its own so that every layer can read it without importing the package's
``__init__`` (which re-exports the public API).
"""

__version__ = "0.2.0"
