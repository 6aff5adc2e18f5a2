"""plmkit's own error types: user mistakes end as one clear message, not a traceback."""

from __future__ import annotations


class PlmkitError(Exception):
    """Base of every error plmkit raises for bad input (config, data, files, models)."""


class ConfigError(PlmkitError):
    """The run config is invalid. Holds every problem found, each with its dotted path."""

    def __init__(self, errors: list[tuple[str, str]], source: str | None = None):
        self.errors = errors
        self.source = source
        where = f"config {source}" if source else "config"
        noun = "error" if len(errors) == 1 else "errors"
        lines = [f"{where}: {len(errors)} {noun}"]
        lines += [f"  {path or '<root>'}: {msg}" for path, msg in errors]
        super().__init__("\n".join(lines))


class DataError(PlmkitError):
    """Input data is missing, unreadable or fails its schema."""


class ModelError(PlmkitError):
    """A model or tokenizer cannot be loaded or built."""


class RunDirError(PlmkitError):
    """The run directory is missing, incomplete, or would be overwritten."""


class TrainingStopped(PlmkitError):
    """Training stopped before its end: interrupted (SIGINT/SIGTERM) or a non-finite loss.
    The message says where the last good checkpoint is and how to resume."""

    def __init__(self, message: str, exit_code: int = 1):
        self.exit_code = exit_code
        super().__init__(message)
