"""Compare frontend-mess's `onnx-node` matrix run with what IREE's own CI expects of the same
ONNX node tests on llvm-cpu.

IREE tests ONNX ops with iree-test-suites' `onnx_ops` (a generated subset of onnx's node cases)
and lists, per configuration, the tests expected to fail to compile or to run; for CPU that is
`tests/external/iree-test-suites/onnx_ops/onnx_ops_cpu_llvm_sync_O2.json` in the IREE repo.
Neither file is in this repository (no network at test time); give their paths:

    uv run python scripts/compare_iree_onnx_ops.py \
        --iree-config iree/tests/external/iree-test-suites/onnx_ops/onnx_ops_cpu_llvm_sync_O2.json \
        --suite-tests iree-test-suites/onnx_ops/onnx/node/generated \
        reports/matrix-onnx-node.jsonl

Prints Markdown: both pass rates on the tests both suites hold, and where the verdicts differ.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from frontend_mess.matrix.runner import read_results

PREFIX = "onnx/node/generated/"


def iree_expectations(config: Path, names: list[str]) -> dict[str, str]:
    """test name -> what IREE's CI expects: pass, compile-fail, run-fail or skip."""
    data = json.loads(config.read_text())
    expected = dict.fromkeys(names, "pass")
    for key, verdict in (
        ("expected_compile_failures", "compile-fail"),
        ("expected_run_failures", "run-fail"),
        ("skip_compile_tests", "skip"),
        ("skip_run_tests", "skip"),
    ):
        for test in data.get(key, []):
            name = test.removeprefix(PREFIX)
            if name in expected:
                expected[name] = verdict
    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iree-config", type=Path, required=True)
    parser.add_argument(
        "--suite-tests",
        type=Path,
        required=True,
        help="iree-test-suites' onnx_ops/onnx/node/generated, or a file listing its tests",
    )
    parser.add_argument("--path", default="onnx", help="matrix path to compare (default: onnx)")
    parser.add_argument("results", type=Path)
    args = parser.parse_args()

    if args.suite_tests.is_dir():
        names = sorted(p.name for p in args.suite_tests.iterdir() if p.is_dir())
    else:  # a list of test names, one per line (`git ls-tree --name-only` of that directory)
        names = sorted(line.rsplit("/", 1)[-1] for line in args.suite_tests.read_text().split())
    expected = iree_expectations(args.iree_config, names)
    ours = {
        r["source"]: r
        for r in read_results(args.results, must_exist=True)
        if r["suite"] == "onnx-node" and r["path"] == args.path and r["target"] == "llvm-cpu"
    }
    common = [n for n in names if n in ours and expected[n] != "skip"]
    iree_pass = sum(expected[n] == "pass" for n in common)
    our_pass = sum(ours[n]["status"] == "pass" for n in common)
    pairs = Counter((expected[n] == "pass", ours[n]["status"] == "pass") for n in common)
    print(f"IREE's onnx_ops suite: {len(names)} tests; {len(common)} are also onnx-node cases")
    print(f"here (skips excluded); path `{args.path}`.\n")
    print("| on the common tests | pass | of | rate |")
    print("| --- | --- | --- | --- |")
    print(
        f"| IREE CI expects ({args.iree_config.name}) | {iree_pass} | {len(common)} | "
        f"{100 * iree_pass / len(common):.1f}% |"
    )
    print(
        f"| frontend-mess matrix | {our_pass} | {len(common)} | "
        f"{100 * our_pass / len(common):.1f}% |"
    )
    print(
        f"| all {len(ours)} onnx-node cases here | "
        f"{sum(r['status'] == 'pass' for r in ours.values())} | {len(ours)} | "
        f"{100 * sum(r['status'] == 'pass' for r in ours.values()) / len(ours):.1f}% |\n"
    )
    print("| IREE expects | here | tests |")
    print("| --- | --- | --- |")
    for (theirs, here), count in sorted(pairs.items(), reverse=True):
        print(f"| {'pass' if theirs else 'fail'} | {'pass' if here else 'fail'} | {count} |")
    print("\nIREE expects a pass, frontend-mess fails (by error class):\n")
    worse = Counter(
        ours[n]["error_class"]
        for n in common
        if expected[n] == "pass" and ours[n]["status"] != "pass"
    )
    for error, count in worse.most_common():
        examples = [n for n in common if expected[n] == "pass" and ours[n]["error_class"] == error]
        print(f"- `{error}`: {count} ({', '.join(examples[:3])})")
    better = [n for n in common if expected[n] != "pass" and ours[n]["status"] == "pass"]
    print(
        f"\nIREE expects a failure, frontend-mess passes: {len(better)} "
        f"({', '.join(better[:8])}{', ...' if len(better) > 8 else ''})"
    )


if __name__ == "__main__":
    main()
