"""One switch for every progress bar of the library.

A call's own ``progress=`` argument asks for a bar; the library-wide switch can silence them all:
``arforecast.set_progress(False)`` in code, or the environment variable ``ARFORECAST_PROGRESS=0``
(``false``, ``no``, ``off`` too) for a whole run. ``set_progress(None)`` returns to the
environment's choice (on by default). The command line's ``--quiet`` sets it off.

Example:
    >>> import arforecast as af
    >>> af.set_progress(False)
    >>> progress_enabled(True)
    False
    >>> af.set_progress(None)
"""
from __future__ import annotations

import os

_SWITCH: list[bool | None] = [None]
_OFF = ("0", "false", "no", "off")


def set_progress(enabled: bool | None) -> None:
    """Turn every progress bar off (``False``), allow them (``True``) or follow ``ARFORECAST_PROGRESS`` (``None``)."""
    if enabled is not None and not isinstance(enabled, bool):
        raise ValueError(f"set_progress takes True, False or None, got {enabled!r}")
    _SWITCH[0] = enabled


def progress_enabled(requested: bool = True) -> bool:
    """Whether a bar asked for with ``progress=requested`` is shown under the library-wide switch."""
    if not requested:
        return False
    if _SWITCH[0] is not None:
        return _SWITCH[0]
    return os.environ.get("ARFORECAST_PROGRESS", "1").strip().lower() not in _OFF
