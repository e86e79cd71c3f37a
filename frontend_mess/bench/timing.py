"""Latency measured so that runtimes compared side by side do not tax each other.

Runtimes take turns in blocks: in each round every runtime runs one block of calls, after a
warm-up call and before a pause. A pool that spins after its work (onnxruntime's and IREE's
workers both do) is then idle before the next runtime starts, instead of competing with it
on a 2-core machine. A block lasts about `block_s`, so a fast model gets many calls and a slow
one a few; the figure is the median over rounds of each block's median, and the spread is how
far the blocks' medians lie apart, relative to it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from frontend_mess.defaults import BENCH_BLOCK_S, BENCH_PAUSE_S, BENCH_ROUNDS

MIN_BLOCK_CALLS = 3
MAX_BLOCK_CALLS = 1000


@dataclass
class Latency:
    """One runtime's calls, in milliseconds: each block's median and every call."""

    block_medians_ms: list[float] = field(default_factory=list)
    calls_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.block_medians_ms)

    @property
    def spread(self) -> float:
        """(slowest block - fastest block) / median: 0.05 is blocks within 5%."""
        low, high = min(self.block_medians_ms), max(self.block_medians_ms)
        return (high - low) / self.median_ms if self.median_ms else 0.0

    @property
    def p90_ms(self) -> float:
        ordered = sorted(self.calls_ms)
        return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def block_calls(seconds_per_call: float, block_s: float = BENCH_BLOCK_S) -> int:
    """How many calls fill a block of `block_s` seconds."""
    if seconds_per_call <= 0:
        return MAX_BLOCK_CALLS
    return max(MIN_BLOCK_CALLS, min(MAX_BLOCK_CALLS, round(block_s / seconds_per_call)))


def take_turns(
    calls: dict[str, Callable[[], object]],
    *,
    rounds: int = BENCH_ROUNDS,
    block_s: float = BENCH_BLOCK_S,
    pause_s: float = BENCH_PAUSE_S,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    on_round: Callable[[int], None] | None = None,
) -> dict[str, Latency]:
    """Time every callable, taking turns in blocks over `rounds` rounds."""
    results = {name: Latency() for name in calls}
    sizes: dict[str, int] = {}
    for round_index in range(rounds):
        if on_round is not None:
            on_round(round_index)
        for name, call in calls.items():
            start = clock()
            call()  # warm-up: caches, pages and the pool's threads awake
            if name not in sizes:
                sizes[name] = block_calls(clock() - start, block_s)
            block = []
            for _ in range(sizes[name]):
                start = clock()
                call()
                block.append(1000 * (clock() - start))
            results[name].calls_ms += block
            results[name].block_medians_ms.append(statistics.median(block))
            sleep(pause_s)
    return results
