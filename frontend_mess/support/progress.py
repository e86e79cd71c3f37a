"""Progress lines on stderr for the steps that take seconds (export, import, lowering).

Step lines are quiet when asked (`--quiet`) and when the `CI` environment variable is set, so
CI logs keep only test results. Notes (a choice made for the user, such as a widened example
input or the attention implementation) change what the output means, so only `--quiet`
silences them. Nothing here goes to stdout, which carries the MLIR.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Progress:
    def __init__(self, quiet: bool | None = None) -> None:
        self.quiet_notes = bool(quiet)
        self.quiet = bool(os.environ.get("CI")) if quiet is None else quiet

    def note(self, message: str) -> None:
        """A one-off remark (a choice that was made for the user, say)."""
        if not self.quiet_notes:
            print(f"frontend-mess: {message}", file=sys.stderr, flush=True)

    @contextmanager
    def step(self, message: str) -> Iterator[None]:
        """Report a step when it starts and how long it took when it ends."""
        if self.quiet:
            yield
            return
        print(f"frontend-mess: {message} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        yield  # a failure propagates without a "done" line
        elapsed = time.perf_counter() - start
        print(f"frontend-mess: {message}: done in {elapsed:.1f}s", file=sys.stderr, flush=True)


QUIET = Progress(quiet=True)
