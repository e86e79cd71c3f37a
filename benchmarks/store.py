"""The store and external parameters, measured side by side in one run (issue 12 targets).

    uv run python benchmarks/store.py [--model resnet18] [--skip-matrix]

Every figure is a command run as a user runs it (a fresh `python -m frontend_mess` process)
or a call timed inside one process, against its counterpart in the same run:

- `import MODEL --to linalg -o ...` from an empty store vs the same command again (cached);
  and the import itself after torch is loaded (in-process: load, export, import, externalize);
- IR and `.vmfb` sizes with the weights inline vs external;
- `compile` cached vs from the stored import;
- cold start: fresh processes that map the `.vmfb` and its `.irpa` and run once, timed
  inside them (bench/cold.py), vs a warm call; Python's own start-up (interpreter +
  iree.runtime) apart;
- `matrix` on the torchvision slice (<= 4 M parameters, fx-torch) from an empty store vs a
  rerun with nothing changed.

Targets: external IR < 1 MB; import after torch is loaded < 3 s; cached import/compile < 1 s
beyond Python start-up; cold start within 10 ms of a warm call; matrix rerun >= 20x faster.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(store: Path, *argv: str) -> float:
    """Seconds one `frontend-mess` command takes in a fresh process."""
    env = {**os.environ, "CI": "1", "FRONTEND_MESS_STORE": str(store)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "frontend_mess", *argv, "-q"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def python_startup() -> float:
    """A fresh interpreter that imports frontend-mess's CLI and exits: the floor of any command."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import frontend_mess.cli"], check=True)
    return time.perf_counter() - start


def import_after_torch(model: str, out: Path) -> float:
    """The import itself, in a process where torch and torchvision are already loaded."""
    code = f"""
import time, torch, torchvision
from frontend_mess.cli import main
start = time.perf_counter()
assert main(["import", {model!r}, "--to", "linalg", "-o", {str(out)!r}, "-q", "--no-store"]) == 0
print(time.perf_counter() - start)
"""
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


COLD_RUNS = 11


def cold_start(vmfb: Path, *params: Path) -> tuple[float, float]:
    """`bench`'s own cold start (frontend_mess/bench/run.py cold_starts) in COLD_RUNS fresh
    processes, each timed after Python, NumPy, IREE's runtime and frontend-mess's runtime
    modules are imported (the start-up the target allows): loading the module (and mapping
    its archive) plus its first call.
    The medians over the processes of that and of that minus the process's warm call, s."""
    import numpy as np

    from frontend_mess.bench.run import cold_starts

    x = vmfb.with_name("cold-input.npy")
    np.save(x, np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32))
    files = [str(vmfb), *map(str, params)]
    found = cold_starts("iree", files, [str(x)], os.cpu_count() or 1, COLD_RUNS)
    return found["cold_ms"] / 1000, found["cold_over_warm_ms"] / 1000


def row(label: str, value: str, note: str = "") -> None:
    print(f"{label:<52} {value:>14}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--skip-matrix", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="frontend-mess-bench-") as scratch:
        work = Path(scratch)
        store = work / "store"
        startup = python_startup()
        row("python start-up (import frontend_mess.cli)", f"{startup:.2f} s")

        cold = cli(store, "import", args.model, "--to", "linalg", "-o", str(work / "a.mlir"))
        cached = cli(store, "import", args.model, "--to", "linalg", "-o", str(work / "b.mlir"))
        row(f"import {args.model} --to linalg, empty store", f"{cold:.2f} s")
        row(
            "the same, cached",
            f"{cached:.2f} s",
            f"{cached - startup:.2f} s past start-up; {cold / cached:.0f}x faster",
        )
        after = import_after_torch(args.model, work / "c.mlir")
        row("the import itself, torch already loaded", f"{after:.2f} s", "target < 3 s")

        cli(
            store,
            "import",
            args.model,
            "--to",
            "linalg",
            "--params",
            "inline",
            "-o",
            str(work / "inline.mlir"),
        )
        external = (work / "a.mlir").stat().st_size
        inline = (work / "inline.mlir").stat().st_size
        row("IR, weights inline", f"{inline / 1e6:.1f} MB")
        row(
            "IR, weights external (+ .irpa)",
            f"{external / 1e6:.3f} MB",
            f"{(work / 'a.irpa').stat().st_size / 1e6:.1f} MB archive; {inline / external:.0f}x "
            f"smaller; target < 1 MB",
        )

        first = cli(store, "compile", args.model, "-o", str(work / "m.vmfb"))
        again = cli(store, "compile", args.model, "-o", str(work / "n.vmfb"))
        cli(store, "compile", args.model, "--params", "inline", "-o", str(work / "i.vmfb"))
        row("compile (import from the store)", f"{first:.2f} s")
        row(
            "the same, cached",
            f"{again:.2f} s",
            f"{again - startup:.2f} s past start-up; {first / again:.0f}x faster",
        )
        row(".vmfb, weights inline", f"{(work / 'i.vmfb').stat().st_size / 1e6:.1f} MB")
        row(".vmfb, weights external", f"{(work / 'm.vmfb').stat().st_size / 1e6:.3f} MB")

        for label, params in (("external", (work / "m.irpa",)), ("inline", ())):
            vmfb = work / ("m.vmfb" if params else "i.vmfb")
            cold_s, over_s = cold_start(vmfb, *params)
            row(
                f"cold start, weights {label}: load + first call",
                f"{1000 * cold_s:.1f} ms",
                f"cold - warm {1000 * over_s:.1f} ms (median of {COLD_RUNS}; target <= 10 ms)",
            )

        if not args.skip_matrix:
            argv = [
                "matrix",
                "--suite",
                "torchvision",
                "--max-params",
                "4",
                "--path",
                "fx-torch",
                "-j",
                "2",
            ]
            empty = cli(store, *argv, "-o", str(work / "m1.jsonl"))
            rerun = cli(store, *argv, "-o", str(work / "m2.jsonl"))
            records = [json.loads(line) for line in (work / "m2.jsonl").read_text().splitlines()]
            hits = sum(bool(r.get("cached")) for r in records)
            row(
                "matrix torchvision <= 4M, fx-torch, empty store",
                f"{empty:.1f} s",
                f"{len(records)} cells",
            )
            row(
                "the same, rerun with nothing changed",
                f"{rerun:.2f} s",
                f"{hits}/{len(records)} cached; {empty / rerun:.0f}x faster; target >= 20x",
            )


if __name__ == "__main__":
    main()
