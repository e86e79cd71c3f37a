"""`frontend-mess` command line: argument parsing and output only; the work is in `api`.

Every user-facing failure is a `FrontendError`, printed as one line on stderr with exit code 2;
nothing is written to an output file unless the whole import succeeded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .defaults import (
    DEFAULT_ONNX_IMPORTER,
    DEFAULT_OUTPUT_KIND,
    DEFAULT_SEQ_LEN,
    ONNX_IMPORTERS,
    OUTPUT_KINDS,
)
from .errors import EXIT_USAGE, FrontendError
from .importers.hf import ATTENTION, TASKS
from .progress import Progress

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
    p.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="SHAPE[:DTYPE]",
        help="example input, e.g. 1x3x224x224 or 2x16:i64; repeat for each input",
    )
    p.add_argument(
        "--dynamic-dim",
        action="append",
        default=[],
        metavar="[ARG:]DIM",
        help="make a dimension symbolic: DIM of every input, or ARG:DIM of one input",
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
    ox = p.add_argument_group("ONNX sources (.onnx)")
    ox.add_argument(
        "--onnx-importer",
        choices=ONNX_IMPORTERS,
        default=DEFAULT_ONNX_IMPORTER,
        help="which ONNX importer (default: %(default)s)",
    )
    p.add_argument("--func-name", default="main", help="name of the MLIR function")
    p.add_argument(
        "--stats",
        action="store_true",
        help="print the op histogram (instead of the module, unless -o is given)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def _add_models(sub) -> None:
    sub.add_parser("models", help="list the named model sources and their default inputs")


def build_parser() -> argparse.ArgumentParser:
    from .versions import frontend_mess_version

    parser = _Parser(prog=PROG, description="Import neural nets into MLIR.")
    parser.add_argument("--version", action="version", version=f"{PROG} {frontend_mess_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_import(sub)
    _add_models(sub)
    sub.add_parser("versions", help="print the versions of the upstream tools in use")
    return parser


def _run_import(args) -> None:
    from .api import check_kind, import_model

    check_kind(args.to)
    progress = Progress(quiet=True if args.quiet else None)
    model = import_model(
        args.source,
        to=args.to,
        input_shapes=args.input_shape,
        dynamic_dims=args.dynamic_dim,
        weights=args.weights,
        task=args.task,
        seq_len=args.seq_len,
        attention=args.attention,
        onnx_importer_name=args.onnx_importer,
        func_name=args.func_name,
        progress=progress,
    )
    if args.output:
        with progress.step(f"writing {args.output}"):
            model.save(args.output)
    if args.stats:
        sys.stdout.write(model.format_stats())
    elif not args.output:
        sys.stdout.write(model.text)
        if not model.text.endswith("\n"):
            sys.stdout.write("\n")


def _run_models(_args) -> None:
    from .sources import known_models

    for name, spec in known_models().items():
        print(f"{name:<40} {spec}")


def _run_versions(_args) -> None:
    from .versions import frontend_mess_version, tool_versions

    print(f"frontend-mess {frontend_mess_version()}")
    for name, version in tool_versions().items():
        print(f"{name} {version}")


COMMANDS = {"import": _run_import, "models": _run_models, "versions": _run_versions}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        COMMANDS[args.command](args)
        sys.stdout.flush()
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
