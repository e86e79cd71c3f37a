"""The one exception type a user is meant to see.

Anything raised as `FrontendError` is a problem with the user's input or with what an upstream
tool could do with it; the CLI prints its message as one line and exits with `EXIT_USAGE`.
Anything else is unanticipated: the CLI prints one line and exits with `EXIT_INTERNAL`, and
FRONTEND_MESS_VERBOSE=1 shows the traceback.
"""

from __future__ import annotations

EXIT_USAGE = 2
# A failure nobody anticipated: one line by default, the traceback with FRONTEND_MESS_VERBOSE=1.
EXIT_INTERNAL = 1


class FrontendError(Exception):
    """A user-facing failure: what was wrong, with which input, and what to do about it."""


def first_lines(text: str, limit: int = 2) -> str:
    """The first `limit` non-empty lines of an upstream error, joined on one line.

    Upstream tools (torch.export, MLIR pass pipelines) print pages; the first lines name the
    problem, the rest is context a user can get by rerunning the tool directly.
    """
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " | ".join(lines[:limit]) if lines else type(text).__name__
