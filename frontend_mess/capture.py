"""Keep upstream chatter off the user's terminal.

torch.export prints graph dumps and logging warnings when tracing fails, and torch-mlir's
passes can print diagnostics straight from C++; none of it goes through Python's `sys.stdout`,
so it is captured at the file-descriptor level. stdout must stay clean because it carries the
MLIR; a failure is reported as one line from the exception instead. Set FRONTEND_MESS_VERBOSE=1
to let the upstream output through when debugging.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

VERBOSE_ENV = "FRONTEND_MESS_VERBOSE"


@contextmanager
def upstream_output() -> Iterator[None]:
    """Send whatever runs inside to a temporary file instead of fds 1 and 2."""
    if os.environ.get(VERBOSE_ENV):
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
