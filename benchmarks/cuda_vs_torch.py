"""On a machine with an NVIDIA GPU: frontend-mess's cuda artifact beside PyTorch eager CUDA,
same weights, same inputs, one process, the two taking turns in blocks (bench/timing.py).

    uv run python benchmarks/cuda_vs_torch.py [--models resnet18 mobilenet_v3_small ...]
        [--cuda-arch sm_90] [--rounds 5] [--json out.json]

The architecture defaults to the GPU's own (torch.cuda.get_device_capability: 9.0 -> sm_90,
which IREE 3.13 compiles as sm_89 PTX and the driver JIT-compiles). Each call takes host
arrays and returns host arrays on both sides (inputs copied to the GPU, outputs back), so the
ratio compares what a caller of either sees. Outputs are checked against PyTorch's at
verify's tolerance before anything is timed. Without a GPU it says so in one line and exits 2.
Prints the GPU, the driver, and the ratio iree/eager per model and their geomean.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["mlp", "resnet18", "mobilenet_v3_small", "efficientnet_b0"]
SOURCES = {"mlp": str(ROOT / "benchmarks" / "models" / "mlp.py")}


def _gpu() -> tuple[str, str, str]:
    """(GPU name, driver version, sm_XY) of device 0."""
    import subprocess

    import torch

    major, minor = torch.cuda.get_device_capability(0)
    driver = subprocess.run(
        ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return torch.cuda.get_device_name(0), driver or "?", f"sm_{major}{minor}"


def bench_model(name: str, arch: str, rounds: int) -> dict:
    import numpy as np

    from frontend_mess import pipeline
    from frontend_mess.backend.targets import target_spec
    from frontend_mess.bench import runtimes
    from frontend_mess.bench.run import torch_inputs
    from frontend_mess.bench.timing import take_turns
    from frontend_mess.defaults import VERIFY_ATOL, VERIFY_RTOL, VERIFY_SEED
    from frontend_mess.sources import SourceOptions
    from frontend_mess.verify import compare

    loaded = pipeline.load(SOURCES.get(name, name), SourceOptions())
    function = loaded.torch.main
    arrays = torch_inputs(function, VERIFY_SEED)
    spec = target_spec("cuda", cuda_arch=arch)
    artifact = pipeline.compile_loaded(loaded, spec)
    module = artifact.module("cuda")
    entry = module.default_function()
    eager_call = runtimes.eager(function, arrays, device="cuda").call

    def iree_call():
        return module.call(entry, arrays)

    checks = [
        compare(entry, i, np.asarray(got), want, VERIFY_RTOL, VERIFY_ATOL)
        for i, (got, want) in enumerate(zip(iree_call(), eager_call(), strict=True))
    ]
    if not all(c.ok for c in checks):
        raise SystemExit(f"{name}: the cuda artifact differs from PyTorch: {checks}")
    latency = take_turns({"iree": iree_call, "eager": eager_call}, rounds=rounds)
    iree_ms, eager_ms = latency["iree"].median_ms, latency["eager"].median_ms
    return {
        "model": name,
        "iree_ms": iree_ms,
        "eager_ms": eager_ms,
        "ratio": iree_ms / eager_ms,
        "max_rel_error": max(c.scaled_error for c in checks),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--cuda-arch", help="default: the GPU's own")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch

    from frontend_mess.backend.targets import gpu_present

    if not (gpu_present() and torch.cuda.is_available()):
        print("cuda_vs_torch: no NVIDIA GPU on this machine: nothing timed", file=sys.stderr)
        return 2
    gpu, driver, own_arch = _gpu()
    arch = args.cuda_arch or own_arch
    print(f"GPU: {gpu}, driver {driver}, compiled for --cuda-arch {arch}")
    rows = [bench_model(name, arch, args.rounds) for name in args.models]
    for row in rows:
        print(
            f"{row['model']:>22}: iree {row['iree_ms']:8.3f} ms  eager {row['eager_ms']:8.3f} ms"
            f"  iree/eager {row['ratio']:.2f}  (max rel err {row['max_rel_error']:.1e})"
        )
    geomean = math.exp(sum(math.log(r["ratio"]) for r in rows) / len(rows))
    print(f"geomean iree/eager: {geomean:.2f}")
    if args.json:
        result = {"gpu": gpu, "driver": driver, "arch": arch, "rows": rows, "geomean": geomean}
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
