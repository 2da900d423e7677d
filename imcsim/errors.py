"""Errors that mean *bad input*, declared in one place.

Every bad-input error of imcsim derives from :class:`ImcsimError`. ``networks`` and
``device_models`` may not import imcsim, so they keep their own bases
(``networks.NetworkError``, ``networks.DatasetError``, ``networks.BackendError``,
``device_models.CardError``); :func:`bad_input_types` is the one list of the classes the CLI
answers with exit status 2. Any other exception is a bug (exit status 1).
"""
from __future__ import annotations

import os

from networks.backend import BackendError


class ImcsimError(ValueError):
    """Base of every bad-input error raised by imcsim."""


class InputError(ImcsimError, BackendError):
    """Bad input to the engine: names the argument, the offending value and what is allowed.
    A :class:`networks.BackendError` too: both backends refuse bad ``matmul`` arguments
    with the same class and message (``networks.backend.check_matmul``)."""


class PlotError(ImcsimError):
    """A plot that cannot be drawn from the given result (one line: what is missing)."""


class PlotDoesNotFit(PlotError):
    """A plot kind that does not apply to this result (a heatmap of a one-parameter sweep);
    ``imcsim plot`` without ``--kind`` skips such kinds."""


class StudyError(ImcsimError):
    """Bad study input. Carries the file, the line (when known) and the key at fault;
    ``str()`` is one line: ``FILE:LINE: KEY: what was expected``."""

    def __init__(self, message: str, file: str | os.PathLike | None = None,
                 key: str | None = None, line: int | None = None):
        self.message = message
        self.file = None if file is None else str(file)
        self.key = key
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:  # one line, always
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.key:
            parts.append(self.key)
        parts.append(" ".join(str(self.message).split()))
        return ": ".join(parts)


def bad_input_types() -> tuple[type[BaseException], ...]:
    """The exception classes that mean bad input (the CLI's exit status 2): imcsim's base
    and the bases of the packages imcsim builds on. Imported here, by class."""
    from device_models import CardError
    from networks import BackendError, DatasetError, NetworkError

    return (ImcsimError, CardError, NetworkError, DatasetError, BackendError)
