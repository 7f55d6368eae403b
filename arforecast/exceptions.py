"""Errors the library raises on purpose, each naming the series and the fix."""
from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SkNotFittedError


class DataError(ValueError):
    """The input data cannot be used as given (the message names the series and the problem)."""


class NotFittedError(_SkNotFittedError):
    """A method that needs a fitted model was called before ``fit``."""


class TrainingError(RuntimeError):
    """Training could not continue (for example the loss became NaN)."""


class ModelFileError(ValueError):
    """A saved model file cannot be loaded: empty, truncated, of another format, damaged or tampered."""
