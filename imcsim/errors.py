"""Errors of the simulator that mean *bad input* (the CLI maps them to exit status 2)."""


class InputError(ValueError):
    """Bad input to the engine: names the argument, the offending value and what is allowed."""
