"""The project's own exception types; the CLI prints them as one line, without a traceback."""

from __future__ import annotations


class FlywheelError(Exception):
    """Something a person can mend: the message says what is wrong, where, and how."""


class InputError(FlywheelError):
    """A file, argument or field given to us is not what it should be."""


class NothingToTrain(InputError):
    """A data set has rows, but none that the trainer can learn from (e.g. every prompt fills the context)."""


class ConfigError(InputError):
    """The YAML config or a flag does not validate."""


class StoreError(FlywheelError):
    """The DuckDB store is missing, corrupt, busy or at an unknown schema version."""


class StoreBusy(StoreError):
    """Another process holds the write lock for longer than we are willing to wait."""


class ModelError(FlywheelError):
    """A model cannot be found, loaded or reached."""
