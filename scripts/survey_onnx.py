"""Import every ONNX model that the `onnx` wheel ships with each ONNX importer, to one output
kind, and write one JSON line per (model, importer): the evidence behind notes/onnx.md.

    uv run python scripts/survey_onnx.py --to linalg -o reports/onnx-shipped-linalg.jsonl

Runs in one process (these models are small); a crash would stop it, and a rerun resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import onnx

from frontend_mess.api import import_model
from frontend_mess.defaults import ONNX_IMPORTERS
from frontend_mess.support.errors import FrontendError

SUITES = ("light", "real", "simple", "pytorch-converted", "pytorch-operator")


def shipped_models() -> list[Path]:
    root = Path(onnx.__file__).parent / "backend" / "test" / "data"
    return sorted(p for suite in SUITES for p in (root / suite).rglob("*.onnx"))


def label(path: Path) -> str:
    parts = path.parts
    index = parts.index("data")
    return "/".join(parts[index + 1 :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", default="linalg")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    done = set()
    if args.output.exists():
        for line in args.output.read_text().splitlines():
            record = json.loads(line)
            done.add((record["model"], record["importer"]))
    for path in shipped_models():
        for importer in ONNX_IMPORTERS:
            if (label(path), importer) in done:
                continue
            start = time.perf_counter()
            try:
                model = import_model(str(path), to=args.to, onnx_importer_name=importer)
                left = sum(n for op, n in model.stats().items() if op.startswith("torch."))
                status, error = ("pass", "") if not left else ("torch-ops-left", f"{left} ops")
            except FrontendError as exc:
                status, error = "fail", str(exc).replace(str(path), label(path))
            record = {
                "model": label(path),
                "importer": importer,
                "status": status,
                "seconds": round(time.perf_counter() - start, 2),
                "error": error,
            }
            with args.output.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(f"{status:>8} {importer:<10} {label(path)} {error[:150]}", flush=True)


if __name__ == "__main__":
    main()
