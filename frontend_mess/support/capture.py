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


def verbose() -> bool:
    """FRONTEND_MESS_VERBOSE set to anything but empty, 0, false, no or off."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


class Captured:
    """What upstream code printed so far; MLIR prints its diagnostics (the `error:` line that
    names the failing op) straight to stderr, not into the exception."""

    def __init__(self, sink=None) -> None:
        self._sink = sink

    def text(self) -> str:
        if self._sink is None:
            return ""
        sys.stdout.flush()
        sys.stderr.flush()
        self._sink.seek(0)
        return self._sink.read().decode(errors="replace")


@contextmanager
def upstream_output() -> Iterator[Captured]:
    """Send whatever runs inside to a temporary file instead of fds 1 and 2, and Python's
    `sys.stdout` and `sys.stderr` with them: the CLI points `sys.stdout` at a stream of its own
    (cli.py's result stream), which fd 1 alone would not catch (torch.onnx's dynamo banners;
    test: test_cli.py::test_quiet_onnx_export_prints_nothing)."""
    if verbose():
        yield Captured()
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    streams = sys.stdout, sys.stderr
    with tempfile.TemporaryFile() as sink:
        text = open(sink.fileno(), "w", encoding="utf-8", errors="replace", closefd=False)
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            sys.stdout = sys.stderr = text
            yield Captured(sink)
        finally:
            # the streams and fds first, whatever the flushes do (a full disk, a model that
            # closed sys.stdout): the error line after a failure must reach the terminal
            sys.stdout, sys.stderr = streams
            try:
                text.flush()
            except (OSError, ValueError):
                pass
            for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
                os.dup2(saved[fd - 1], fd)
            for fd in saved:
                os.close(fd)
            try:
                text.close()
            except (OSError, ValueError):
                pass
