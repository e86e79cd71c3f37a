"""`frontend-mess bench` over issue 13's zoo, one fresh process per model, and the geomean
ratios of frontend-mess's artifact over onnxruntime and PyTorch eager.

    uv run python benchmarks/zoo.py [--runtimes iree,eager,onnxruntime] [--tune]
        [--rounds 5]
        [--json reports/bench-zoo.json] [--only resnet18 ...]

`--tune` first runs `frontend-mess tune` on each model (into a scratch store), then benches
the tuned preset (`--preset tuned`) beside the same runtimes, and prints the speed-up `tune`
measured over the defaults, side by side in its own run.

Every model's runtimes are timed side by side in its own process (bench/timing.py); the
ratios are within one process, so they compare across machines as ratios only.
Targets (issue 13): geomean iree/onnxruntime <= 1.0 and iree/eager <= 0.6; no model worse
than 1.5x onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "benchmarks" / "models"
ZOO: dict[str, list[str]] = {
    "mlp": [str(MODELS / "mlp.py")],
    "resnet18": ["resnet18"],
    "mobilenet_v3_small": ["mobilenet_v3_small"],
    "efficientnet_b0": ["efficientnet_b0"],
    # the shapes of prajjwal1/bert-tiny and of ViT-Ti/16 (DeiT-tiny), random weights
    "bert-tiny (seq 128)": [f"hf-config:{MODELS / 'bert-tiny.json'}", "--seq-len", "128"],
    "vit-tiny": [f"hf-config:{MODELS / 'vit-tiny.json'}"],
}


def run_json(command: str, argv: list[str], store: str | None = None) -> dict:
    """`frontend-mess COMMAND ... --json` in a fresh process: its JSON, or its error line."""
    import os

    env = dict(os.environ)
    if store is not None:
        env["FRONTEND_MESS_STORE"] = store
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "frontend_mess",
            command,
            *argv,
            "--json",
            "-q",
            *(["--no-store"] if store is None else []),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout)


def bench(argv: list[str], store: str | None = None) -> dict:
    return run_json("bench", argv, store)


def geomean(values: list[float]) -> float | None:
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default="iree,eager,onnxruntime")
    parser.add_argument(
        "--tune", action="store_true", help="tune each model, then bench the tuned preset"
    )
    parser.add_argument("--rounds", default="5", help="rounds of blocks per model")
    parser.add_argument("--only", nargs="*", choices=list(ZOO))
    parser.add_argument("--json", type=Path, help="also write every model's report here")
    args = parser.parse_args()
    names = args.only or list(ZOO)
    reports = {}
    print(
        f"{'model':<22} {'iree ms':>8} {'eager ms':>9} {'ort ms':>8} {'iree/ort':>9} "
        f"{'iree/eager':>11} {'cold-warm':>10}",
        flush=True,
    )
    import tempfile

    scratch = tempfile.TemporaryDirectory(prefix="zoo-store-") if args.tune else None
    store = scratch.name if scratch else None
    for name in names:
        extra = []
        if args.tune:
            tuned = run_json("tune", [*ZOO[name], "--rounds", args.rounds], store)
            if "error" in tuned:
                print(f"{name:<22} tune failed: {tuned['error']}", flush=True)
                continue
            print(
                f"{name:<22} tune: {tuned['winner']} ({' '.join(tuned['flags']) or 'defaults'}),"
                f" {tuned['speedup']:.2f}x the defaults",
                flush=True,
            )
            extra = ["--preset", "tuned"]
        report = bench(
            [
                *ZOO[name],
                "--runtimes",
                args.runtimes,
                "--cold-runs",
                "3",
                "--rounds",
                args.rounds,
                *extra,
            ],
            store,
        )
        reports[name] = report
        if "error" in report:
            print(f"{name:<22} failed: {report['error']}", flush=True)
            continue
        rows = {r["runtime"]: r for r in report["rows"]}

        def ms(runtime: str, rows=rows) -> str:
            value = rows.get(runtime, {}).get("median_ms")
            return "-" if value is None else f"{value:.2f}"

        ratios = report["ratios"]
        cold = rows.get("iree", {}).get("cold_over_warm_ms")
        print(
            f"{name:<22} {ms('iree'):>8} {ms('eager'):>9} {ms('onnxruntime'):>8} "
            f"{ratios.get('iree/onnxruntime', float('nan')):>9.2f} "
            f"{ratios.get('iree/eager', float('nan')):>11.2f} "
            f"{'-' if cold is None else f'{cold:.1f} ms':>10}",
            flush=True,
        )
    for over in ("onnxruntime", "eager"):
        values = [
            r["ratios"][f"iree/{over}"]
            for r in reports.values()
            if "ratios" in r and f"iree/{over}" in r["ratios"]
        ]
        g = geomean(values)
        if g is not None:
            print(
                f"geomean iree/{over}: {g:.2f} over {len(values)} models; worst {max(values):.2f}"
            )
    if args.json:
        from frontend_mess.support.atomic import write_atomically

        text = (json.dumps(reports, indent=1) + "\n").encode()
        write_atomically(args.json, lambda handle: handle.write(text))


if __name__ == "__main__":
    main()
