"""Command-line tools report what a user can cause in one line, not a traceback.

An *expected* error is one the user can fix: a missing or unreadable file, data that is not
in the expected layout, a checkpoint that does not fit, a bad value. :func:`run_cli` prints
it as ``error: MESSAGE`` (the message names the file or value) and returns exit status 2;
``--debug`` re-raises it with its traceback. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys
from typing import Callable, Tuple, Type

EXIT_USER_ERROR = 2


class UserError(ValueError):
    """A wrong input the user can fix; the message says which and what to do."""


def expected_errors() -> Tuple[Type[BaseException], ...]:
    """The exception types :func:`run_cli` reports in one line."""
    from backbones.checkpoints import CheckpointError  # lazy: keeps this module torch-free

    from .checkpoint import CheckpointReadError
    # FileNotFoundError covers classification's DataLayoutError and mmengine's missing files
    return (UserError, CheckpointError, CheckpointReadError, FileNotFoundError)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_cli(main: Callable[[], object], debug: bool = False) -> int:
    """Run ``main``; an expected error becomes one line on stderr and exit status 2."""
    try:
        main()
    except expected_errors() as exc:
        if debug:
            raise
        print(f'error: {one_line(exc)} (--debug shows the traceback)', file=sys.stderr)
        return EXIT_USER_ERROR
    return 0
