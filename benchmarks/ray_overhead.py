"""What Ray adds per cell: the same slice of onnx-node cells with the local executor (-j 2)
and with `--executor ray` on a local Ray instance with 2 CPUs, side by side in one run,
neither with a store (every cell computed).

    uv run --extra ray python benchmarks/ray_overhead.py [--cases 40] [--rounds 2]

The slice is the first `--cases` onnx-node cases (both ONNX importers: two cells each). Each
round runs both executors, local first then ray, then the other way round in the next; the
figure is each executor's wall time over its cells, median over rounds. Ray's time includes
starting its instance (what a user waits for); the line after it leaves that out (`connect`
timed apart). Target (issue 17): under 10% on cells of a few seconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def run(executor: str, cells: list[dict], jobs: int) -> tuple[float, float]:
    """(wall seconds for the cells, seconds of that spent connecting to Ray)."""
    from frontend_mess.matrix.runner import run_matrix

    connect_s = 0.0
    if executor == "ray":
        import ray

        from frontend_mess.matrix import ray_executor

        start = time.perf_counter()
        ray.init(address="local", num_cpus=jobs, include_dashboard=False, log_to_driver=False)
        ray_executor.connect(None)
        connect_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        run_matrix(cells, Path(scratch) / "m.jsonl", jobs=jobs, executor=executor)
        wall = time.perf_counter() - start + connect_s
    if executor == "ray":
        import ray

        ray.shutdown()
    return wall, connect_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    from frontend_mess.matrix.runner import cells

    todo = cells(["onnx-node"], ["onnx", "onnx-iree"], ["llvm-cpu"], limit=args.cases)
    walls: dict[str, list[float]] = {"local": [], "ray": []}
    connects: list[float] = []
    for round_index in range(args.rounds):
        order = ("local", "ray") if round_index % 2 == 0 else ("ray", "local")
        for executor in order:
            wall, connect_s = run(executor, todo, args.jobs)
            walls[executor].append(wall)
            if executor == "ray":
                connects.append(connect_s)
            print(f"round {round_index + 1}: {executor:>5} {wall:7.1f} s")
    local, ray = (statistics.median(walls[e]) for e in ("local", "ray"))
    connect_s = statistics.median(connects)
    print(f"{len(todo)} cells, -j {args.jobs}: local {local:.1f} s, ray {ray:.1f} s")
    print(f"ray / local: {ray / local:.3f} (Ray's start {connect_s:.1f} s included)")
    print(f"ray / local, Ray already running: {(ray - connect_s) / local:.3f}")
    per_cell = (ray - connect_s - local) * args.jobs / len(todo)
    print(f"Ray's cost per cell: {1000 * per_cell:.0f} ms")


if __name__ == "__main__":
    main()
