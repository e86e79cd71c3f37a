"""`frontend-mess` command line: argument parsing and output only; the work is in `api`.

Every user-facing failure is a `FrontendError`, printed as one line on stderr with exit code 2;
nothing is written to an output file unless the whole import succeeded.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .analysis import GROUP_KEYS
from .capture import VERBOSE_ENV
from .defaults import (
    DEFAULT_ONNX_IMPORTER,
    DEFAULT_OUTPUT_KIND,
    DEFAULT_SEQ_LEN,
    ONNX_IMPORTERS,
    OUTPUT_KINDS,
    VERIFY_ATOL,
    VERIFY_RTOL,
    VERIFY_SEED,
)
from .errors import EXIT_INTERNAL, EXIT_USAGE, FrontendError, first_lines
from .importers.hf import ATTENTION, TASKS
from .lowering import DEFAULT_VIA, VIAS
from .matrix import SUITES
from .progress import Progress
from .targets import DEFAULT_CPU, DEFAULT_CUDA_ARCH, DEFAULT_TARGET, DEVICES, TARGETS

PROG = "frontend-mess"


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are the same one line as every other error."""

    def error(self, message: str):  # type: ignore[override]
        raise FrontendError(f"{message} (see `{self.prog} --help`)")


def _add_import(sub) -> None:
    p = sub.add_parser(
        "import",
        help="import a model to MLIR",
        description="Import a model to MLIR (or its FX graph) and print or save it.",
    )
    p.add_argument(
        "source",
        help="torchvision name (resnet18, torchvision:resnet18), path/model.py[:NAME], "
        "hf:DIR, hf-config:DIR_OR_FILE or path/model.onnx",
    )
    p.add_argument(
        "--to",
        default=DEFAULT_OUTPUT_KIND,
        metavar="KIND",
        help=f"output kind: {', '.join(OUTPUT_KINDS)} (default: %(default)s)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write here instead of stdout; a .mlirbc name writes MLIR bytecode",
    )
    _add_source_options(p)
    ox = p.add_argument_group("ONNX sources (.onnx)")
    ox.add_argument(
        "--onnx-importer",
        choices=ONNX_IMPORTERS,
        default=DEFAULT_ONNX_IMPORTER,
        help="which ONNX importer (default: %(default)s)",
    )
    p.add_argument(
        "--dynamic-dim",
        action="append",
        default=[],
        metavar="[ARG:]DIM",
        help="make a dimension symbolic: DIM of every input, or ARG:DIM of one input",
    )
    p.add_argument("--func-name", default="main", help="name of the MLIR function")
    p.add_argument(
        "--strip-weights",
        action="store_true",
        help="replace every weight constant with a zero splat of the same type",
    )
    p.add_argument(
        "--stats",
        action="store_true",
        help="print the op histogram (instead of the module, unless -o is given)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def _add_source_options(p) -> None:
    """Options that decide what a source becomes; shared by import, compile and verify."""
    p.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="SHAPE[:DTYPE]",
        help="example input, e.g. 1x3x224x224 or 2x16:i64 (ONNX: NAME=1x3x224x224); "
        "repeat for each input",
    )
    p.add_argument("--weights", metavar="FILE", help="state dict for a torchvision model")
    hf = p.add_argument_group("Hugging Face sources (hf:, hf-config:)")
    hf.add_argument(
        "--task",
        choices=list(TASKS),
        metavar="TASK",
        help=f"model head: {', '.join(TASKS)} (default: from the config)",
    )
    hf.add_argument(
        "--seq-len",
        type=int,
        default=DEFAULT_SEQ_LEN,
        help="tokens in the example input (default: %(default)s)",
    )
    hf.add_argument(
        "--attention",
        choices=ATTENTION,
        help="attention implementation (default: sdpa where supported, else eager)",
    )


def _add_target_options(p) -> None:
    p.add_argument(
        "--target",
        choices=TARGETS,
        default=DEFAULT_TARGET,
        help="IREE target (default: %(default)s)",
    )
    p.add_argument(
        "--cpu",
        default=DEFAULT_CPU,
        help="llvm-cpu: host (default), generic (any x86-64), or a CPU name",
    )
    p.add_argument(
        "--cuda-arch",
        default=DEFAULT_CUDA_ARCH,
        help="cuda: sm_80, sm_86, sm_89, sm_90, a100, h100, ... (default: %(default)s)",
    )
    p.add_argument(
        "--via",
        choices=VIAS,
        default=DEFAULT_VIA,
        help="import path for torch sources (default: %(default)s)",
    )
    p.add_argument(
        "--iree-flag",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra iree-compile flag, after the defaults; repeat for more",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def _add_compile(sub) -> None:
    p = sub.add_parser(
        "compile",
        help="compile a model or an MLIR file with IREE",
        description="Import (unless the input is .mlir/.mlirbc) and compile with IREE to a .vmfb.",
    )
    p.add_argument("source", help="anything `import` takes, or a .mlir/.mlirbc file")
    p.add_argument("-o", "--output", metavar="FILE.vmfb", help="default: SOURCE_NAME.vmfb")
    p.add_argument(
        "--keep-diagnostics",
        metavar="DIR",
        help="on failure, write the full diagnostics and the IR to DIR",
    )
    _add_target_options(p)
    _add_source_options(p)


def _add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a compiled .vmfb",
        description="Run a function of a .vmfb on inputs from .npy files or random ones.",
    )
    p.add_argument("module", help="a .vmfb from `frontend-mess compile`")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="FILE.npy|SHAPExDTYPE=random",
        help="one per function input, in order: a .npy file, or e.g. 1x3x224x224xf32=random",
    )
    p.add_argument("--output", metavar="FILE.npz", help="save the outputs here")
    p.add_argument("--function", help="function to call (default: main, or the only one)")
    p.add_argument("--device", choices=DEVICES, help="IREE runtime device (default: local-task)")
    p.add_argument("--seed", type=int, default=VERIFY_SEED, help="seed for random inputs")


def _add_verify(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="compile, run and compare with the framework",
        description="Import, compile, run on fresh seeded random inputs and "
        "compare every output with PyTorch eager (onnxruntime for "
        "ONNX). Exit 1 past tolerance.",
    )
    p.add_argument("source", help="anything `import` takes")
    p.add_argument("--seed", type=int, default=VERIFY_SEED)
    p.add_argument("--rtol", type=float, default=VERIFY_RTOL)
    p.add_argument("--atol", type=float, default=VERIFY_ATOL)
    p.add_argument("--device", choices=DEVICES, help="IREE runtime device")
    _add_target_options(p)
    _add_source_options(p)


def _add_analyze(sub) -> None:
    p = sub.add_parser(
        "analyze",
        help="characterize the linalg workload, op by op",
        description="Import to linalg (unless given a linalg .mlir/.mlirbc), "
        "generalize, and count ops, loop structures, work and "
        "traffic.",
    )
    p.add_argument("source", help="anything `import` takes, or a linalg .mlir/.mlirbc file")
    p.add_argument("--json", action="store_true", help="print JSON (notes/analysis.md)")
    p.add_argument("--html", metavar="OUT.html", help="also write a self-contained HTML page")
    p.add_argument(
        "--group-by",
        choices=GROUP_KEYS,
        help="group ops that share iterators, indexing maps or body",
    )
    p.add_argument(
        "--strip-weights",
        metavar="OUT.mlir",
        help="also write the linalg IR with every weight replaced by a zero splat",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    _add_source_options(p)


def _add_matrix(sub) -> None:
    p = sub.add_parser(
        "matrix",
        help="run sources × paths × targets, one process per cell",
        description="Run a compatibility matrix; results go to --output as "
        "each cell ends; rerunning resumes.",
    )
    p.add_argument("--suite", action="append", choices=SUITES, help="default: all")
    p.add_argument("--path", action="append", choices=VIAS, help="default: all")
    p.add_argument("--target", action="append", choices=TARGETS, help="default: llvm-cpu")
    p.add_argument("--limit", type=int, help="at most this many sources per suite")
    p.add_argument(
        "--match",
        action="append",
        metavar="TEXT",
        help="only sources whose name contains TEXT (repeatable)",
    )
    p.add_argument(
        "--max-params",
        type=float,
        metavar="MILLIONS",
        help="torchvision: skip models with more parameters",
    )
    p.add_argument("-j", "--jobs", type=int, default=2)
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    p.add_argument("--memory-gb", type=float, default=16, help="address-space limit per cell")
    p.add_argument("-o", "--output", default="reports/matrix.jsonl")
    p.add_argument("--markdown", metavar="FILE", help="also write the summary here")
    p.add_argument(
        "--html", metavar="FILE", help="also write a self-contained page to sort and filter cells"
    )
    p.add_argument("--list", action="store_true", help="print the cells, run nothing")
    p.add_argument("--no-resume", action="store_true", help="start over")
    p.add_argument("--rerun-failures", action="store_true")
    p.add_argument(
        "--compare",
        nargs=2,
        metavar=("OLD", "NEW"),
        help="show what changed between two result files, run nothing",
    )
    p.add_argument(
        "--render",
        nargs="+",
        metavar="RESULTS",
        help="summarize these result files (and write --markdown/--html), run nothing",
    )
    p.add_argument("-q", "--quiet", action="store_true")


def _run_matrix(args) -> int:
    from pathlib import Path

    from . import matrix, matrix_report
    from .atomic import write_atomically

    progress = Progress(quiet=True if args.quiet else None)
    if args.compare:
        old, new = (matrix.read_results(Path(p), must_exist=True) for p in args.compare)
        sys.stdout.write(matrix_report.compare_runs(old, new))
        return 0
    if args.render:
        records = [r for p in args.render for r in matrix.read_results(Path(p), must_exist=True)]
    else:
        todo = matrix.cells(
            args.suite or list(SUITES),
            args.path or list(VIAS),
            args.target or ["llvm-cpu"],
            limit=args.limit,
            max_params_m=args.max_params,
            match=args.match,
            progress=progress,
        )
        if args.list:
            for cell in todo:
                print(cell["suite"], cell["source"], cell["path"], cell["target"])
            return 0
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        records = matrix.run_matrix(
            todo,
            output,
            jobs=args.jobs,
            resume=not args.no_resume,
            rerun_failures=args.rerun_failures,
            timeout_s=args.timeout,
            memory_gb=args.memory_gb,
            progress=progress,
        )
    summary = matrix_report.summary_markdown(records)
    if args.markdown:
        write_atomically(args.markdown, lambda handle: handle.write(summary.encode()))
    if args.html:
        page = matrix_report.html_page(records).encode()
        write_atomically(args.html, lambda handle: handle.write(page))
    sys.stdout.write(summary)
    return 0


def _add_models(sub) -> None:
    sub.add_parser("models", help="list the named model sources and their default inputs")


def build_parser() -> argparse.ArgumentParser:
    from .versions import frontend_mess_version

    parser = _Parser(prog=PROG, description="Import neural nets into MLIR.")
    parser.add_argument("--version", action="version", version=f"{PROG} {frontend_mess_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_import(sub)
    _add_compile(sub)
    _add_run(sub)
    _add_verify(sub)
    _add_analyze(sub)
    _add_matrix(sub)
    _add_models(sub)
    sub.add_parser("versions", help="print the versions of the upstream tools in use")
    return parser


def _run_import(args) -> None:
    from .api import import_source

    progress = Progress(quiet=True if args.quiet else None)
    model = import_source(
        args.source,
        args.to,
        _options(args),
        dynamic_dims=args.dynamic_dim,
        onnx_importer_name=args.onnx_importer,
        func_name=args.func_name,
        progress=progress,
    )
    if args.strip_weights and model.mlir_module is not None:
        from .strip import strip_weights

        strip_weights(model.mlir_module)
    if args.output:
        with progress.step(f"writing {args.output}"):
            model.save(args.output)
    if args.stats:
        sys.stdout.write(model.format_stats())
    elif not args.output:
        text = model.text  # printing a big module takes a while: once
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _run_models(_args) -> None:
    from .sources import known_models

    for name, spec in known_models().items():
        print(f"{name:<40} {spec}")


def _run_versions(_args) -> None:
    from .versions import frontend_mess_version, tool_versions

    print(f"frontend-mess {frontend_mess_version()}")
    for name, version in tool_versions().items():
        print(f"{name} {version}")


def _options(args):
    from .api import parse_specs
    from .sources import SourceOptions

    return SourceOptions(
        parse_specs(args.input_shape), args.weights, args.task, args.seq_len, args.attention
    )


def _spec(args):
    from .targets import target_spec

    return target_spec(
        args.target, cpu=args.cpu, cuda_arch=args.cuda_arch, extra_flags=tuple(args.iree_flag)
    )


def _run_compile(args) -> None:

    from .lowering import compile_model
    from .sources import short_name

    progress = Progress(quiet=True if args.quiet else None)
    output = args.output or f"{short_name(args.source)}.vmfb"
    artifact = compile_model(
        args.source,
        _spec(args),
        via=args.via,
        options=_options(args),
        keep_diagnostics=args.keep_diagnostics,
        progress=progress,
    )
    artifact.save(output)
    print(
        f"wrote {output} ({len(artifact.data)} bytes, {artifact.target}, "
        f"input {artifact.input_type})"
    )


def _run_run(args) -> None:
    import numpy as np

    from .artifact import Artifact
    from .runtime import element_type_name, parse_run_input

    module = Artifact.load(args.module).module(args.device)
    function = args.function or module.default_function()
    signature = module.signature(function)
    rng = np.random.default_rng(args.seed)
    inputs = [parse_run_input(text, rng) for text in args.input]
    outputs = module.call(function, inputs)
    if args.output:
        from .atomic import write_atomically

        arrays = {f"output{i}": o for i, o in enumerate(outputs)}
        write_atomically(args.output, lambda handle: np.savez(handle, **arrays))
    print(f"{function}{signature}")
    for index, output in enumerate(outputs):
        flat = output.reshape(-1)
        head = " ".join(f"{v:.6g}" for v in flat[:6].tolist())
        print(
            f"output {index}: {'x'.join(map(str, output.shape))}x{element_type_name(output.dtype)} "
            f"[{head}{' ...' if flat.size > 6 else ''}]"
        )


def _run_verify(args) -> int:
    from .verify import verify

    progress = Progress(quiet=True if args.quiet else None)
    report = verify(
        args.source,
        _spec(args),
        via=args.via,
        seed=args.seed,
        rtol=args.rtol,
        atol=args.atol,
        options=_options(args),
        device=args.device,
        progress=progress,
    )
    sys.stdout.write(report.text())
    return 0 if report.ok else 1


def _run_analyze(args) -> None:
    from . import analysis_report
    from .analysis import analyze_module
    from .api import linalg_module
    from .atomic import write_atomically

    progress = Progress(quiet=True if args.quiet else None)
    module = linalg_module(args.source, _options(args), progress)
    if args.strip_weights:
        from .strip import strip_weights

        strip_weights(module)
        stripped = str(module).encode()
        write_atomically(args.strip_weights, lambda handle: handle.write(stripped))
    with progress.step(f"analyzing {args.source}"):
        analysis = analyze_module(module, args.source)
    if args.html:
        page = analysis_report.html_page(analysis).encode()
        write_atomically(args.html, lambda handle: handle.write(page))
    if args.json:
        sys.stdout.write(analysis_report.json_text(analysis))
    else:
        sys.stdout.write(analysis_report.text(analysis, args.group_by))


COMMANDS = {
    "import": _run_import,
    "compile": _run_compile,
    "run": _run_run,
    "verify": _run_verify,
    "analyze": _run_analyze,
    "matrix": _run_matrix,
    "models": _run_models,
    "versions": _run_versions,
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        code = COMMANDS[args.command](args) or 0
        sys.stdout.flush()
        return code
    except FrontendError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours.
        sys.stderr.close()
        return 0
    except Exception as exc:  # a bug, or an upstream failure no importer anticipated
        if os.environ.get(VERBOSE_ENV):
            raise
        print(
            f"{PROG}: error: unexpected {type(exc).__name__}: {first_lines(exc, 1)} "
            f"(rerun with {VERBOSE_ENV}=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
