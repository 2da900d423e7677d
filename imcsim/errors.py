"""Errors of the simulator that mean *bad input* (the CLI maps them to exit status 2)."""
from __future__ import annotations

import os


class InputError(ValueError):
    """Bad input to the engine: names the argument, the offending value and what is allowed."""


class StudyError(ValueError):
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
