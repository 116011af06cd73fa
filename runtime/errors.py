"""The one base class of the errors a user can cause (and fix), :class:`UserError`.

A leaf: it imports nothing from the project, so any module may define its errors on it without
an import circle. Every command line reports a :class:`UserError` as one line (``error: MESSAGE``,
exit status 2; ``--debug`` keeps the traceback: :func:`runtime.cli.run_cli`); anything else is a
bug and keeps its traceback. An error that used to be another built-in type keeps it as a second
base (``class DataLayoutError(UserError, FileNotFoundError)``), so ``except`` clauses on the
built-in type still catch it.
"""


class UserError(ValueError):
    """A wrong input the user can fix; the message says which and what to do.

    A ``ValueError`` (as it always was), so ``except ValueError`` still catches it."""
