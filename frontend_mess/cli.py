"""`frontend-mess` command line: argument parsing and output only; the work is in `api`.

Every user-facing failure is a `FrontendError`, printed as one line on stderr with exit code 2;
nothing is written to an output file unless the whole import succeeded.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from frontend_mess.backend.targets import TUNE_PRESETS, TUNE_SPACE  # noqa: E402
from frontend_mess.defaults import (
    BENCH_COLD_RUNS,
    BENCH_ROUNDS,
    BENCH_RUNTIMES,
    DEFAULT_CPU,
    DEFAULT_CUDA_ARCH,
    DEFAULT_EXPORT_MODE,
    DEFAULT_MAX_CACHE_LEN,
    DEFAULT_MODEL_DTYPE,
    DEFAULT_NEW_TOKENS,
    DEFAULT_ONNX_EXPORTER,
    DEFAULT_ONNX_IMPORTER,
    DEFAULT_OUTPUT_KIND,
    DEFAULT_PARAMS,
    DEFAULT_SEED,
    DEFAULT_SEQ_LEN,
    DEFAULT_TARGET,
    DEFAULT_VIA,
    DEVICES,
    EXPORT_MODES,
    GROUP_KEYS,
    MATRIX_CUDA_ARCHS,
    MATRIX_JOBS,
    MATRIX_MEMORY_GB,
    MATRIX_OUTPUT,
    MATRIX_TIMEOUT_S,
    MAX_SEED,
    MAX_SEQ_LEN,
    MODEL_DTYPES,
    ONNX_EXPORTERS,
    ONNX_IMPORTERS,
    ONNX_VIAS,
    OUTPUT_KINDS,
    PARAMS_AUTO_BYTES,
    PARAMS_MODES,
    PARAMS_SUFFIX,
    SUITES,
    TARGETS,
    VERIFY_SEED,
    VERIFY_TOLERANCES,
    VIAS,
)
from frontend_mess.importers.hf import (  # noqa: E402  (no heavy imports)
    ATTENTION,
    GENERATION_TASK,
    TASK_ALIASES,
    TASK_NAMES,
    TASKS,
)
from frontend_mess.reduce.mlir_stage import STAGES as MLIR_STAGES  # no heavy imports
from frontend_mess.store.objects import STORE_ENV
from frontend_mess.support.capture import VERBOSE_ENV, verbose
from frontend_mess.support.errors import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_MISMATCH,
    EXIT_USAGE,
    FrontendError,
    first_lines,
)
from frontend_mess.support.paths import io_error_message
from frontend_mess.support.progress import QUIET, Progress

PROG = "frontend-mess"


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are the same one line as every other error, and each
    subcommand's help ends with examples (kept verbatim)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        raise FrontendError(f"{message} (see `{self.prog} --help`)")


SOURCE_HELP = (
    "torchvision name (resnet18, torchvision:resnet18), path/model.py[:NAME], "
    "hf:DIR, hf-config:DIR_OR_FILE or path/model.onnx"
)
EXAMPLES = {
    "import": """
examples:
  frontend-mess import resnet18 --to linalg -o resnet18.mlirbc
  frontend-mess import examples/nnmodule.py:TinyConvNet --to stablehlo
  frontend-mess import model.py --input-shape 1x3x64x64 --dynamic-dim 0
  frontend-mess import hf:./my-gpt2 --to torch --dynamic-dim 1
  frontend-mess import model.onnx --input-shape input=1x3x224x224 --onnx-importer iree""",
    "compile": """
examples:
  frontend-mess compile resnet18 -o resnet18.vmfb
  frontend-mess compile model.onnx --via onnx-iree
  frontend-mess compile model.py --dynamic-dim 0 --via fx-linalg
  frontend-mess compile resnet18 --target cuda --cuda-arch sm_80
  frontend-mess compile resnet18.linalg.mlir""",
    "run": """
examples:
  frontend-mess run resnet18.vmfb --input 1x3x224x224xf32=random
  frontend-mess run bert.vmfb --input 1x8:i64 --input 1x8:i64 --output out.npz
  frontend-mess run model.vmfb --input x.npy""",
    "verify": """
examples:
  frontend-mess verify resnet18
  frontend-mess verify model.py --dynamic-dim 0          # two batch sizes
  frontend-mess verify model.onnx --via onnx-iree        # against onnxruntime
  frontend-mess verify hf-config:config.json --via fx-linalg --rtol 1e-4""",
    "generate": """
examples:
  frontend-mess generate hf-config:llama.json --prompt-ids 1,2,3 --max-new-tokens 16
  frontend-mess generate hf:./my-gpt2 --prompt-ids 464,3290 --check      # vs transformers
  frontend-mess import hf:./my-gpt2 --task text-generation-with-past --to linalg""",
    "analyze": """
examples:
  frontend-mess analyze resnet18
  frontend-mess analyze resnet18 --group-by iterators
  frontend-mess analyze model.linalg.mlir --json
  frontend-mess analyze resnet50 --html r50.html""",
    "tune": """
examples:
  frontend-mess tune mobilenet_v3_small             # every candidate of the flag space
  frontend-mess tune resnet18 --candidates default,vector-256,no-im2col
  frontend-mess compile mobilenet_v3_small --preset tuned   # the stored winner""",
    "reduce": """
examples:
  frontend-mess reduce model.onnx -o repro/                 # via onnx, on llvm-cpu
  frontend-mess reduce model.onnx --via onnx-iree -o repro/
  frontend-mess reduce --cell reports/matrix-onnx-models.jsonl:21 -o repro/
  frontend-mess reduce --cell reports/matrix-hf-tiny.jsonl:179 -o repro/  # whisper, turbine
  frontend-mess reduce model.tosa.mlir --input-type tosa -o repro/   # fails in iree-compile
  frontend-mess reduce model.torch.mlir --stage lower --to tosa -o repro/""",
    "bench": """
examples:
  frontend-mess bench resnet18                      # iree, eager, inductor, onnxruntime
  frontend-mess bench mobilenet_v3_small --runtimes iree,onnxruntime --dispatches
  frontend-mess bench model.onnx --json > bench.json
  frontend-mess bench resnet18 --batch 8 --threads 2 --html bench.html""",
    "store": """
examples:
  frontend-mess store log
  frontend-mess store show last
  frontend-mess store diff last~1 last        # flags, versions, and the IR that changed
  frontend-mess store ls resnet18
  frontend-mess store export resnet18 ./resnet18-run
  frontend-mess store gc --keep-last 20 --max-size 20G""",
    "matrix": """
examples:
  frontend-mess matrix --suite hf-tiny --match bert --list
  frontend-mess matrix --suite onnx-node -j 2 -o reports/matrix-onnx-node.jsonl
  frontend-mess matrix --render reports/matrix-*.jsonl --html matrix.html
  frontend-mess matrix --compare old.jsonl new.jsonl""",
}


def _subparser(sub, name: str, help_text: str, description: str):
    return sub.add_parser(name, help=help_text, description=description, epilog=EXAMPLES[name])


def _add_quiet(p) -> None:
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress or notes on stderr (CI: no progress)",
    )


def _tolerance_defaults(which: int) -> str:
    """verify's default rtol (0) or atol (1) for each --dtype, as the help prints them."""
    return ", ".join(f"{t[which]:g} for {d}" for d, t in VERIFY_TOLERANCES.items())


def _add_import(sub) -> None:
    p = _subparser(
        sub,
        "import",
        "import a model to MLIR",
        "Import a model to MLIR (or its FX graph) and print or save it.",
    )
    p.add_argument("source", help=SOURCE_HELP)
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
    _add_params_options(p)
    p.add_argument("--func-name", default="main", type=_symbol, help="name of the MLIR function")
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
    _add_quiet(p)


def _add_source_options(p) -> None:
    """What decides what a source becomes; the same for import, compile, verify, analyze."""
    p.add_argument(
        "--input-shape",
        action="append",
        default=[],
        type=_input_shape,
        metavar="SHAPE[:DTYPE]",
        help="example input, e.g. 1x3x224x224, 2x16:i64 or 2x16xi64 (ONNX: NAME=1x3x224x224); "
        "repeat for each input",
    )
    p.add_argument(
        "--dynamic-dim",
        action="append",
        default=[],
        type=_dynamic_dim,
        metavar="[ARG:]DIM",
        help="make a dimension symbolic: DIM of every input, or ARG:DIM of one input "
        "(Hugging Face text models: 0 batch, 1 sequence)",
    )
    p.add_argument(
        "--bind",
        action="append",
        default=[],
        type=_bind,
        metavar="NAME=V[,V...]",
        help="ONNX: make graph input NAME the constant integers V (a reduction's axes given as "
        "an input, which the compiler needs as a constant); repeat for each input",
    )
    p.add_argument("--weights", metavar="FILE", help="state dict for a torchvision model")
    p.add_argument(
        "--dtype",
        choices=MODEL_DTYPES,
        default=DEFAULT_MODEL_DTYPE,
        help="element type of the model's weights, floating-point inputs and compute: a "
        "PyTorch source is cast, an ONNX file's float32 tensors retyped (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=_seed,
        default=DEFAULT_SEED,
        help="seed random weights are drawn from (torchvision without --weights, hf-config:, "
        "a model file's own init) (default: %(default)s)",
    )
    p.add_argument(
        "--export",
        choices=EXPORT_MODES,
        default=DEFAULT_EXPORT_MODE,
        help="torch.export mode: auto tries non-strict, then strict where tracing meets a "
        "data-dependent value (default: %(default)s)",
    )
    hf = p.add_argument_group("Hugging Face sources (hf:, hf-config:)")
    hf.add_argument(
        "--task",
        choices=list(TASK_NAMES),
        metavar="TASK",
        help=f"model head: {', '.join(TASKS)}, or optimum's names for them "
        f"({', '.join(TASK_ALIASES)}) (default: from the config)",
    )
    hf.add_argument(
        "--seq-len",
        type=_seq_len,
        default=DEFAULT_SEQ_LEN,
        help="tokens in the example input (default: %(default)s)",
    )
    hf.add_argument(
        "--max-cache-len",
        type=_seq_len,
        default=DEFAULT_MAX_CACHE_LEN,
        help=f"--task {GENERATION_TASK}: positions in the KV cache, the prompt and every new "
        f"token (default: %(default)s)",
    )
    hf.add_argument(
        "--attention",
        choices=ATTENTION,
        help="attention implementation (default: sdpa where supported, else eager)",
    )
    _add_store_options(p)
    _add_env_option(p)
    ox = p.add_argument_group("ONNX (.onnx sources, and the onnx paths for torch sources)")
    ox.add_argument(
        "--onnx-importer",
        choices=ONNX_IMPORTERS,
        default=DEFAULT_ONNX_IMPORTER,
        help="which ONNX importer (default: %(default)s)",
    )
    ox.add_argument(
        "--onnx-exporter",
        choices=ONNX_EXPORTERS,
        default=DEFAULT_ONNX_EXPORTER,
        help="torch.onnx.export's exporter for --via onnx/onnx-iree (default: %(default)s)",
    )


def _add_params_options(p, *, file_option: bool = True) -> None:
    p.add_argument(
        "--params",
        choices=PARAMS_MODES,
        default=DEFAULT_PARAMS,
        help=f"weights in the IR (inline) or in an IREE parameter archive beside it "
        f"(external); auto: external from {PARAMS_AUTO_BYTES // 1024} KiB of weights, when "
        f"writing a file (default: %(default)s)",
    )
    if file_option:
        p.add_argument(
            "--params-file",
            metavar="FILE.irpa",
            help="where the archive goes (default: the output's name with .irpa)",
        )


def _add_env_option(p) -> None:
    p.add_argument(
        "--env",
        metavar="NAME",
        help="run in an environment variant, envs/NAME (torch-next, iree-prev; built with "
        "`uv sync --project envs/NAME`) (default: this environment)",
    )


def _add_store_options(p) -> None:
    st = p.add_argument_group("the artifact store (README: The store)")
    st.add_argument(
        "--store",
        metavar="DIR",
        help=f"content-addressed store of every stage's output (default: ${STORE_ENV}, else "
        f"~/.cache/frontend-mess/store)",
    )
    st.add_argument("--no-store", action="store_true", help="neither read nor write the store")
    st.add_argument(
        "--fresh", action="store_true", help="recompute every stage (and store the results)"
    )


def _int_at_least(minimum: int):
    """An argparse type: a whole number no smaller than `minimum`, else a usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _seed(text: str) -> int:
    value = _non_negative_int(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SEED}, got {value}")
    return value


def _seq_len(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_SEQ_LEN:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SEQ_LEN}, got {value}")
    return value


def _float_at_least(minimum: float, *, strictly: bool = False):
    """An argparse type: a finite number no smaller than (or, `strictly`, above) `minimum`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if value < minimum or (strictly and value == minimum):
            bound = "above" if strictly else "at least"
            raise argparse.ArgumentTypeError(f"must be {bound} {minimum:g}, got {text}")
        return value

    return parse


_tolerance = _float_at_least(0.0)
_positive_float = _float_at_least(0.0, strictly=True)


def _symbol(text: str) -> str:
    """An MLIR function name a user can type on the next tool's command line."""
    if not re.fullmatch(r"[A-Za-z_][\w.$-]*", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a function name: letters, digits, _ . $ -, not starting with a digit"
        )
    return text


def _input_shape(text: str):
    from frontend_mess.shapes import parse_input_spec

    try:
        return parse_input_spec(text)
    except FrontendError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bind(text: str) -> tuple[str, list[int]]:
    name, sep, values = text.partition("=")
    try:
        numbers = [int(v) for v in values.split(",")] if values else []
    except ValueError:
        numbers = []
    if not sep or not name or not numbers:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give NAME=V[,V...] with integers, e.g. --bind axes=1 or axes=0,2"
        )
    return name, numbers


def _dynamic_dim(text: str):
    from frontend_mess.shapes import DynamicDim

    try:
        return DynamicDim.parse(text)
    except FrontendError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_target_options(p, *, preset: bool = True) -> None:
    if preset:
        p.add_argument(
            "--preset",
            choices=TUNE_PRESETS,
            default="default",
            help="llvm-cpu flags: frontend-mess's defaults, or what `frontend-mess tune` found "
            "best for this source on this machine (from the store; default: %(default)s)",
        )
    p.add_argument(
        "--target",
        choices=TARGETS,
        default=DEFAULT_TARGET,
        help="IREE target (default: %(default)s)",
    )
    p.add_argument(
        "--cpu",
        default=DEFAULT_CPU,
        help="llvm-cpu: host, generic (any x86-64), or a CPU name (default: %(default)s)",
    )
    p.add_argument(
        "--cuda-arch",
        default=DEFAULT_CUDA_ARCH,
        help="cuda: sm_80, sm_86, sm_89, sm_90, a100, h100, ... (default: %(default)s)",
    )
    p.add_argument(
        "--via",
        choices=VIAS,
        help=f"import path to IREE (default: {DEFAULT_VIA} for torch sources; for ONNX files "
        f"onnx or onnx-iree, by --onnx-importer)",
    )
    p.add_argument(
        "--iree-flag",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra iree-compile flag, after the defaults; repeat for more",
    )
    p.add_argument(
        "--keep-diagnostics",
        metavar="DIR",
        help="on a compile failure, write the full diagnostics and the IR to DIR",
    )
    _add_quiet(p)


def _add_compile(sub) -> None:
    p = _subparser(
        sub,
        "compile",
        "compile a model or an MLIR file with IREE",
        "Import (unless the input is .mlir/.mlirbc) and compile with IREE to a .vmfb.",
    )
    p.add_argument("source", help="anything `import` takes, or a .mlir/.mlirbc file")
    p.add_argument("-o", "--output", metavar="FILE.vmfb", help="default: SOURCE_NAME.vmfb")
    _add_target_options(p)
    _add_params_options(p)
    _add_source_options(p)


def _add_run(sub) -> None:
    p = _subparser(
        sub,
        "run",
        "run a compiled .vmfb",
        "Run a function of a .vmfb on inputs from .npy files or random ones.",
    )
    p.add_argument("module", help="a .vmfb from `frontend-mess compile`")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="[NAME=]FILE.npy|SHAPE",
        help="one per function input, in order, or each as NAME=... by the input names the "
        "module records (input_ids=ids.npy): a .npy file, or a random tensor as "
        "1x3x224x224xf32=random or 1x3x224x224:f32 (the --input-shape spelling)",
    )
    p.add_argument(
        "--output", metavar="FILE.npz", help="save the outputs here (bf16 ones as f32, exactly)"
    )
    p.add_argument(
        "--params",
        action="append",
        default=[],
        metavar="FILE.irpa",
        help="a parameter archive the module reads its weights from (default: MODULE.irpa "
        "beside it, if there is one); repeat for more",
    )
    p.add_argument("--function", help="function to call (default: main, or the only one)")
    p.add_argument("--device", choices=DEVICES, help="IREE runtime device (default: local-task)")
    p.add_argument(
        "--input-seed",
        "--seed",
        type=_seed,
        default=VERIFY_SEED,
        help="seed for random inputs (default: %(default)s)",
    )


def _add_verify(sub) -> None:
    p = _subparser(
        sub,
        "verify",
        "compile, run and compare with the framework",
        "Import, compile, run on fresh seeded random inputs and compare every output with "
        "PyTorch eager (onnxruntime for ONNX). Exit 1 past tolerance; with --dynamic-dim, "
        "each dynamic dim is checked at two sizes.",
    )
    p.add_argument("source", help="anything `import` takes")
    p.add_argument(
        "--input-seed",
        type=_seed,
        default=VERIFY_SEED,
        help="seed for the random inputs compared (default: %(default)s; --seed is the weights')",
    )
    p.add_argument(
        "--rtol",
        type=_tolerance,
        help="relative tolerance, of the output's largest magnitude (default: "
        f"{_tolerance_defaults(0)})",
    )
    p.add_argument(
        "--atol",
        type=_tolerance,
        help=f"absolute tolerance (default: {_tolerance_defaults(1)})",
    )
    p.add_argument("--device", choices=DEVICES, help="IREE runtime device")
    p.add_argument(
        "--localize",
        action="store_true",
        help="compare every intermediate value (each ONNX node's or ATen op's) and name the "
        "first op past tolerance (exit 1 if one is)",
    )
    _add_target_options(p)
    _add_params_options(p, file_option=False)
    _add_source_options(p)


def _add_generate(sub) -> None:
    p = _subparser(
        sub,
        "generate",
        "greedy decoding on the compiled prefill and decode step",
        f"Import a decoder-only causal LM as --task {GENERATION_TASK} (prefill and "
        f"decode_step, the KV cache as tensors), compile it and decode greedily on the "
        f"artifact; prints the new token ids. --check compares them with transformers' own "
        f"generate on the same weights, and each step's logits with PyTorch's (exit 1 if "
        f"either differs).",
    )
    p.add_argument("source", help="a Hugging Face causal LM: hf:DIR_OR_ID or hf-config:FILE")
    p.add_argument(
        "--prompt-ids", required=True, metavar="IDS", help="the prompt's token ids, e.g. 1,2,3"
    )
    p.add_argument(
        "--max-new-tokens",
        type=_positive_int,
        default=DEFAULT_NEW_TOKENS,
        help="tokens to generate (default: %(default)s)",
    )
    p.add_argument(
        "--check", action="store_true", help="compare with transformers' generate and PyTorch"
    )
    p.add_argument(
        "--rtol",
        type=_tolerance,
        help="--check: logits' relative tolerance, of their largest magnitude "
        f"(default: {_tolerance_defaults(0)})",
    )
    p.add_argument("--atol", type=_tolerance, help=f"absolute (default: {_tolerance_defaults(1)})")
    p.add_argument("--device", choices=DEVICES, help="IREE runtime device")
    _add_target_options(p)
    _add_params_options(p, file_option=False)
    _add_source_options(p)


def _add_analyze(sub) -> None:
    p = _subparser(
        sub,
        "analyze",
        "characterize the linalg workload, op by op",
        "Import to linalg (unless given a linalg .mlir/.mlirbc), generalize, and count ops, "
        "loop structures, work and traffic.",
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
    _add_quiet(p)
    _add_source_options(p)


def _names_from(choices, what: str):
    """An argparse type: a comma-separated list of some of `choices`."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(unknown) or repr(text)}: use a comma-separated "
                f"list of {', '.join(choices)}"
            )
        return names

    return parse


def _add_timing_options(p) -> None:
    """`bench`'s and `tune`'s: threads for every runtime, and rounds of taking turns."""
    p.add_argument(
        "--threads",
        type=_positive_int,
        help="threads for every runtime (default: the CPUs this process may use)",
    )
    p.add_argument(
        "--rounds",
        type=_positive_int,
        default=BENCH_ROUNDS,
        help="rounds of timed blocks (default: %(default)s)",
    )


def _add_bench(sub) -> None:
    p = _subparser(
        sub,
        "bench",
        "time the IREE artifact beside PyTorch and onnxruntime",
        "Compile the source as `compile` does and time it beside PyTorch eager, torch.compile "
        "and onnxruntime on the same weights and inputs, in one process, taking turns; "
        "numerics checked, threads equal. Latency, throughput, compile time, cold start, peak "
        "memory, artifact size; --dispatches: where IREE's time goes, against this machine's "
        "roofline.",
    )
    p.add_argument("source", help="anything `import` takes (a torch source or an .onnx file)")
    p.add_argument(
        "--runtimes",
        type=_names_from(BENCH_RUNTIMES, "runtime"),
        metavar="A,B",
        help=f"some of {', '.join(BENCH_RUNTIMES)} (default: all that can run the source; "
        f"the reference, eager or onnxruntime, is always run)",
    )
    _add_timing_options(p)
    p.add_argument(
        "--batch",
        type=_positive_int,
        help="batch size: dim 0 of every input (torch sources; default: the source's)",
    )
    p.add_argument(
        "--cold-runs",
        type=_int_at_least(0),
        default=BENCH_COLD_RUNS,
        help="fresh processes for the cold start, 0 for none (default: %(default)s)",
    )
    p.add_argument(
        "--dispatches",
        action="store_true",
        help="profile IREE's artifact per dispatch, against this machine's measured peaks",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--html", metavar="OUT.html", help="also write a self-contained HTML page")
    _add_target_options(p)
    _add_params_options(p, file_option=False)
    _add_source_options(p)


def _add_tune(sub) -> None:
    p = _subparser(
        sub,
        "tune",
        "search IREE's CPU flags for this model on this machine",
        "Compile the source with each candidate of a documented flag space (backend/targets.py "
        "TUNE_SPACE), check each against the framework's outputs, time the verified ones side "
        "by side, and store the winner: `compile --preset tuned` uses it.",
    )
    p.add_argument("source", help="anything `import` takes (a torch source or an .onnx file)")
    p.add_argument(
        "--candidates",
        type=_names_from(TUNE_SPACE, "candidate"),
        metavar="A,B",
        help=f"some of {', '.join(TUNE_SPACE)} (default: all; the default is always one)",
    )
    _add_timing_options(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_target_options(p, preset=False)
    _add_params_options(p, file_option=False)
    _add_source_options(p)


def _add_matrix(sub) -> None:
    p = _subparser(
        sub,
        "matrix",
        "run sources × paths × targets, one process per cell",
        "Run a compatibility matrix; results go to --output as each cell ends; rerunning resumes.",
    )
    p.add_argument("--suite", action="append", choices=SUITES, help="default: all")
    p.add_argument("--path", action="append", choices=VIAS, help="default: all")
    p.add_argument("--target", action="append", choices=TARGETS, help="default: llvm-cpu")
    p.add_argument(
        "--cuda-arch",
        action="append",
        metavar="ARCH",
        help=f"cuda cells: one per architecture (default: {', '.join(MATRIX_CUDA_ARCHS)}; "
        "sm_90 compiles sm_89 PTX and assembles it for sm_90)",
    )
    p.add_argument(
        "--device",
        choices=("cuda",),
        help="cuda cells: run and verify them on this machine's GPU (default: compile and "
        "assemble with ptxas only)",
    )
    p.add_argument("--limit", type=_positive_int, help="at most this many sources per suite")
    p.add_argument(
        "--match",
        action="append",
        metavar="TEXT",
        help="only sources whose name contains TEXT (repeatable)",
    )
    p.add_argument(
        "--max-params",
        type=_positive_float,
        metavar="MILLIONS",
        help="torchvision: skip models with more parameters",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        help=f"cells at once (default: {MATRIX_JOBS}; with --executor ray, the cluster's CPUs)",
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where cells run: this machine's processes, or Ray tasks on a cluster "
        "(`uv sync --extra ray`; README: The matrix on a Ray cluster) (default: %(default)s)",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="--executor ray: the cluster to join (`HOST:6379`, or `auto` inside `ray job "
        "submit`); default: a Ray instance started for this run",
    )
    p.add_argument(
        "--timeout",
        type=_positive_int,
        default=MATRIX_TIMEOUT_S,
        help="seconds per cell (default: %(default)s)",
    )
    p.add_argument(
        "--memory-gb",
        type=_positive_float,
        default=MATRIX_MEMORY_GB,
        help="address-space limit per cell (default: %(default)s)",
    )
    p.add_argument(
        "-o",
        "--output",
        default=MATRIX_OUTPUT,
        metavar="RESULTS.jsonl",
        help="result file, one JSON record per cell, appended as cells end (default: %(default)s)",
    )
    p.add_argument("--markdown", metavar="FILE", help="also write the summary here")
    p.add_argument(
        "--html", metavar="FILE", help="also write a self-contained page to sort and filter cells"
    )
    p.add_argument("--list", action="store_true", help="print the cells, run nothing")
    _add_params_options(p, file_option=False)
    _add_store_options(p)
    _add_env_option(p)
    p.add_argument("--no-resume", action="store_true", help="start over")
    p.add_argument(
        "--rerun-failures", action="store_true", help="rerun the cells that did not pass"
    )
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
    _add_quiet(p)


def _open_store(args, progress: Progress, *, create: bool = True):
    """The store a command's `--store`/`--no-store` name (store/objects.py open_store)."""
    from frontend_mess.store.objects import open_store

    if args.store is not None and not args.store.strip():
        raise FrontendError("--store needs a directory, got ''")
    disabled = getattr(args, "no_store", False)
    return open_store(args.store, disabled=disabled, create=create, progress=progress)


def _matrix_cuda_archs(args) -> tuple[str, ...]:
    """`--cuda-arch`, each as the architecture it names (`h100` is `sm_90`), else
    MATRIX_CUDA_ARCHS, or with `--device cuda` on this machine, its GPU's own. `--device
    cuda` needs a GPU here (with --executor ray, on some node: ray_executor.connect)."""
    from frontend_mess.backend.targets import device_arch, gpu_arch, gpu_present

    archs = args.cuda_arch or list(MATRIX_CUDA_ARCHS)
    if args.device == "cuda":
        if "cuda" not in (args.target or []):
            raise FrontendError("--device cuda runs cuda cells: add --target cuda")
        if args.executor == "local":
            if not gpu_present():
                raise FrontendError(
                    "--device cuda: this machine has no NVIDIA GPU (no /dev/nvidia*); without "
                    "--device, cuda cells compile and assemble their PTX with ptxas"
                )
            # code for a newer GPU than this one cannot run here: its own, unless asked
            archs = args.cuda_arch or [gpu_arch() or MATRIX_CUDA_ARCHS[0]]
    return tuple(dict.fromkeys(device_arch(arch) for arch in archs))


def _run_matrix(args) -> int:
    from pathlib import Path

    from frontend_mess.matrix import report as matrix_report
    from frontend_mess.matrix import runner as matrix
    from frontend_mess.support.atomic import write_atomically

    progress = Progress(quiet=True if args.quiet else None)
    _check_outputs(args, "--markdown", "--html")
    if args.address and args.executor != "ray":
        raise FrontendError("--address names a Ray cluster: add --executor ray")
    if args.address and args.env:
        raise FrontendError(
            "--env with --address: a cluster's nodes run their own environment; run the "
            "variant there (`uv run --project envs/NAME ...` on every node) instead"
        )
    if args.compare:
        old, new = (
            matrix.read_results(Path(p), must_exist=True, progress=progress) for p in args.compare
        )
        args.out.write(matrix_report.compare_runs(old, new, matrix_report.committed_repros()))
        return 0
    if args.render:
        records = [
            r
            for p in args.render
            for r in matrix.read_results(Path(p), must_exist=True, progress=progress)
        ]
    else:
        store = _open_store(args, progress)
        todo = matrix.cells(
            args.suite or list(SUITES),
            args.path or list(VIAS),
            args.target or [DEFAULT_TARGET],
            limit=args.limit,
            max_params_m=args.max_params,
            match=args.match,
            cuda_archs=_matrix_cuda_archs(args),
            on_gpu=args.device == "cuda",
            store=store,
            progress=progress,
        )
        if not todo:
            raise FrontendError(
                "no cells to run: no source of the chosen suites matches (check --suite, "
                "--match, --max-params; `--list` shows the cells)"
            )
        if args.list:
            for cell in todo:
                target = matrix_report.target_label(cell)
                print(cell["suite"], cell["source"], cell["path"], target, file=args.out)
            return 0
        _check_outputs(args, "--output", make_parents=True)
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        records = matrix.run_matrix(
            todo,
            output,
            jobs=args.jobs,
            executor=args.executor,
            address=args.address,
            resume=not args.no_resume,
            rerun_failures=args.rerun_failures,
            timeout_s=args.timeout,
            memory_gb=args.memory_gb,
            store=store,
            params=args.params,
            fresh=args.fresh,
            progress=progress,
        )
    summary = matrix_report.summary_markdown(records)
    if args.markdown:
        write_atomically(args.markdown, lambda handle: handle.write(summary.encode()))
    if args.html:
        links = matrix_report.repro_links(Path(args.html).resolve())
        page = matrix_report.html_page(records, repro_links=links).encode()
        write_atomically(args.html, lambda handle: handle.write(page))
    args.out.write(summary)
    return 0


def _size(text: str) -> int:
    """An argparse type: bytes, with an optional K/M/G/T suffix (powers of 1024)."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size such as 500M or 20G, got {text!r}")
    return int(float(match[1]) * units[match[2].upper()])


def _add_store(sub) -> None:
    p = _subparser(
        sub,
        "store",
        "look at, compare, check and trim the artifact store",
        "The content-addressed store of every stage's output and every run's manifest.",
    )
    p.add_argument(
        "--store",
        metavar="DIR",
        help=f"the store (default: ${STORE_ENV}, else ~/.cache/frontend-mess/store)",
    )
    actions = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    a = actions.add_parser("log", help="list the runs, newest first")
    a.add_argument("-n", type=_positive_int, help="at most this many")
    a = actions.add_parser("show", help="print a run's manifest")
    a.add_argument("ref", help="a run id (or prefix), last, last~N, or a model name")
    a = actions.add_parser("diff", help="what changed between two runs")
    a.add_argument("ref_a")
    a.add_argument("ref_b")
    actions.add_parser("verify", help="re-hash every object; remove corrupt ones (exit 1)")
    a = actions.add_parser("gc", help="forget old runs and remove the objects no run names")
    a.add_argument("--older-than", type=_positive_float, metavar="DAYS")
    a.add_argument("--max-size", type=_size, metavar="SIZE", help="e.g. 20G")
    a.add_argument("--keep-last", type=_non_negative_int, metavar="N")
    a.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    a = actions.add_parser("ls", help="the browsable tree: models/NAME/RUN/ and its files")
    a.add_argument("name", nargs="?")
    a = actions.add_parser("export", help="copy a run out as plain files and its manifest")
    a.add_argument("ref")
    a.add_argument("directory")


def _run_store(args) -> int:
    from frontend_mess.store import commands

    store = _open_store(args, QUIET, create=False)
    if store is None:
        raise FrontendError(f"the store is off (${STORE_ENV}=off): give one with --store DIR")
    code = 0
    if args.action == "log":
        text = commands.log(store, args.n)
    elif args.action == "show":
        text = commands.show(store, args.ref)
    elif args.action == "diff":
        text = commands.diff(store, args.ref_a, args.ref_b)
    elif args.action == "verify":
        text, ok = commands.verify(store)
        code = 0 if ok else EXIT_MISMATCH
    elif args.action == "gc":
        if args.older_than is None and args.max_size is None and args.keep_last is None:
            raise FrontendError("store gc needs --older-than, --max-size or --keep-last")
        text = commands.gc(
            store,
            older_than_days=args.older_than,
            max_bytes=args.max_size,
            keep_last=args.keep_last,
            dry_run=args.dry_run,
        )
    elif args.action == "ls":
        text = commands.ls(store, args.name)
    else:  # a new or empty directory (commands.export); each file written atomically
        if not args.directory.strip():
            raise FrontendError("store export needs a directory, got ''")
        text = commands.export(store, args.ref, args.directory)
    args.out.write(text)
    return code


def _add_reduce(sub) -> None:
    p = _subparser(
        sub,
        "reduce",
        "shrink a failing ONNX graph or MLIR function to the few ops that fail the same way",
        "Run the source (or a matrix cell) once to learn how it fails (status, stage, error "
        "class), then search for the smallest part that fails the same way. An ONNX graph: "
        "windows of its nodes, each candidate run as a matrix cell; a mismatch starts from "
        "the first diverging node (verify --localize). An MLIR file, or a cell of an FX path "
        "or turbine failing at compile or lower: the ops of the failing stage's function, "
        "each candidate run through that stage. Writes DIR/model.onnx (or DIR/model.mlir), "
        "DIR/repro.json and DIR/ISSUE.md.",
    )
    p.add_argument("source", nargs="?", help="an .onnx or .mlir file")
    p.add_argument(
        "--cell",
        metavar="RECORD",
        help="a matrix record: its JSON line, or REPORT.jsonl:LINE (instead of SOURCE)",
    )
    p.add_argument(
        "--via",
        choices=list(ONNX_VIAS),
        default=next(v for v, i in ONNX_VIAS.items() if i == DEFAULT_ONNX_IMPORTER),
        help="the ONNX importer's path (default: %(default)s)",
    )
    p.add_argument(
        "--target",
        choices=TARGETS,
        default=DEFAULT_TARGET,
        help="IREE target (default: %(default)s)",
    )
    p.add_argument(
        "--stage",
        choices=MLIR_STAGES,
        default="compile",
        help="an .mlir file: the stage it fails at: iree-compile, or torch-mlir's lowering "
        "of a torch-backend module (default: %(default)s)",
    )
    p.add_argument(
        "--to",
        choices=("linalg", "tosa", "stablehlo"),
        help="--stage lower: the kind it lowers to",
    )
    p.add_argument(
        "--input-type",
        help="--stage compile: iree-compile's --iree-input-type (default: what IREE detects)",
    )
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="the repro directory")
    p.add_argument(
        "--timeout",
        type=_positive_int,
        default=MATRIX_TIMEOUT_S,
        help="seconds per candidate (default: %(default)s)",
    )
    p.add_argument(
        "--memory-gb",
        type=_positive_float,
        default=MATRIX_MEMORY_GB,
        help="address-space limit per candidate (default: %(default)s)",
    )
    _add_quiet(p)


def _run_reduce(args) -> None:
    from frontend_mess.matrix.runner import context
    from frontend_mess.reduce.repro import write_repro
    from frontend_mess.reduce.run import cell_of_record, reduce
    from frontend_mess.support.paths import input_file

    if (args.source is None) == (args.cell is None):
        raise FrontendError(
            "reduce takes an .onnx or .mlir SOURCE or --cell RECORD (one of the two)"
        )
    expected = None
    mlir = args.source is not None and args.source.endswith(".mlir")
    if args.cell is not None:
        cell, expected = cell_of_record(args.cell)
        mlir = _mlir_cell(cell)
    else:
        input_file(args.source, "MLIR file" if mlir else "ONNX model")
        cell = {
            "suite": "file",
            "source": os.path.abspath(args.source),
            "path": "mlir" if mlir else args.via,
            "target": args.target,
        }
    output = Path(args.output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise FrontendError(f"{output} exists and is not an empty directory: name a new one")
    progress = _progress(args)
    if mlir:
        _reduce_mlir(args, cell, expected, output, progress)
        return
    reduced = reduce(
        cell,
        timeout_s=args.timeout,
        memory_gb=args.memory_gb,
        expected=expected,
        progress=progress,
    )
    write_repro(output, reduced, context(cell))
    print(
        f"{cell['source']}: {reduced.original_ops} -> {reduced.ops} nodes, failing as it did "
        f"({reduced.failure.record['status']} at {reduced.failure.record['stage']}: "
        f"{reduced.failure.record['error_class']}); {reduced.candidates} candidates in "
        f"{reduced.seconds:.0f} s; repro in {output}/",
        file=args.out,
    )


def _mlir_cell(cell: dict) -> bool:
    """Whether reduce takes a cell's MLIR (an FX path or turbine) rather than its ONNX graph."""
    from frontend_mess.reduce.mlir_run import MLIR_PATHS

    return cell["suite"] != "onnx-node" and cell["path"] in MLIR_PATHS


def _reduce_mlir(args, cell: dict, expected, output: Path, progress) -> None:
    from frontend_mess.matrix.runner import context
    from frontend_mess.reduce.mlir_run import reduce_mlir, stage_input_of_cell
    from frontend_mess.reduce.repro import write_mlir_repro

    if args.source is not None:  # an .mlir file, and the stage it fails at
        if args.stage == "lower" and args.to is None:
            raise FrontendError("reduce --stage lower needs --to linalg, tosa or stablehlo")
        request = {"stage": "compile", "input_type": args.input_type, "target": args.target}
        if args.stage == "lower":
            request = {"stage": "lower", "to": args.to}
        try:
            text = Path(cell["source"]).read_text()
        except UnicodeDecodeError as exc:
            raise FrontendError(f"{cell['source']} is not MLIR text ({exc.reason})") from exc
    else:
        if expected is None:  # a record without a verdict: run the cell once to learn it
            from frontend_mess.matrix.runner import Worker

            worker = Worker(args.memory_gb, None, False)
            try:
                with progress.step(f"running {cell['source']} via {cell['path']} once"):
                    record = worker.run(cell, args.timeout)
            finally:
                worker.close()
            from frontend_mess.reduce.run import signature_of

            expected = None if record["status"] == "pass" else signature_of(record)
        else:
            record = dict(zip(("status", "stage", "error_class"), expected, strict=True))
        if record["status"] == "pass":
            raise FrontendError(
                f"{cell['source']} passes via {cell['path']} on {cell['target']}: there is no "
                f"failure to reduce"
            )
        text, request = stage_input_of_cell(cell, record, progress)
    reduced = reduce_mlir(
        cell, text, request, timeout_s=args.timeout, expected=expected, progress=progress
    )
    write_mlir_repro(output, reduced, context(cell))
    print(
        f"{cell['source']}: {reduced.original_ops} -> {reduced.ops} ops, failing as it did "
        f"({reduced.failure['status']} at {reduced.failure['stage']}: "
        f"{reduced.failure['error_class']}); {reduced.candidates} candidates in "
        f"{reduced.seconds:.0f} s; repro in {output}/",
        file=args.out,
    )


def _add_models(sub) -> None:
    sub.add_parser("models", help="list the named model sources and their default inputs")


def build_parser() -> argparse.ArgumentParser:
    from frontend_mess.support.versions import frontend_mess_version

    parser = _Parser(prog=PROG, description="Import neural nets into MLIR.")
    parser.add_argument("--version", action="version", version=f"{PROG} {frontend_mess_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_import(sub)
    _add_compile(sub)
    _add_run(sub)
    _add_verify(sub)
    _add_generate(sub)
    _add_analyze(sub)
    _add_bench(sub)
    _add_tune(sub)
    _add_reduce(sub)
    _add_matrix(sub)
    _add_models(sub)
    _add_store(sub)
    versions = sub.add_parser("versions", help="print the versions of the upstream tools in use")
    _add_env_option(versions)
    return parser


def _progress(args) -> Progress:
    return Progress(quiet=True if args.quiet else None)


def _options(args):
    from frontend_mess.api import make_options

    return make_options(
        input_shapes=args.input_shape,
        dynamic_dims=args.dynamic_dim,
        weights=args.weights,
        task=args.task,
        seq_len=args.seq_len,
        max_cache_len=args.max_cache_len,
        attention=args.attention,
        export=args.export,
        onnx_importer=args.onnx_importer,
        onnx_exporter=args.onnx_exporter,
        seed=args.seed,
        dtype=args.dtype,
        bind=dict(args.bind),
    )


def _memo(args, progress: Progress, func_name: str = "main"):
    """The command's run in the store (store/manifest.py) and its source's cached stages."""
    from frontend_mess.sources import short_name
    from frontend_mess.store.manifest import Run
    from frontend_mess.store.stages import Memo

    store = _open_store(args, progress)
    run = Run(store, args.command, short_name(args.source), fresh=args.fresh, progress=progress)
    args.run = run
    params = getattr(args, "params", DEFAULT_PARAMS)
    return Memo(
        run, args.source, _options(args), func_name=func_name, params=params, progress=progress
    )


def _load(args, progress: Progress, func_name: str = "main"):
    from frontend_mess.pipeline import load, report_choices

    loaded = load(args.source, _options(args), func_name=func_name, progress=progress)
    report_choices(loaded, progress)
    return loaded


def _inputs_of(args) -> list[str]:
    """The files a command reads: its source (the file part of `model.py:Net`, `hf-config:`'s
    file), `--weights`, a run's module and `.npy` inputs. An output may be none of them."""
    from frontend_mess.importers import hf, pyfile

    found = []
    source = getattr(args, "source", None) or getattr(args, "module", None)
    if source:
        if pyfile.looks_like_python_file(source):
            source = str(pyfile.split_source(source)[0])
        for prefix in hf.PREFIXES:
            source = source.removeprefix(prefix)
        found.append(source)
    found += [getattr(args, "weights", None) or ""]
    found += [i for i in getattr(args, "input", []) if i.endswith(".npy")]
    found += list(getattr(args, "render", None) or [])
    return [f for f in found if f]


def _check_outputs(args, *options: str, make_parents: bool = False) -> None:
    """Refuse the command's output paths before any work (support/paths.py), and two outputs
    on one file; then hold them as absolute paths, so that a model file's `os.chdir` cannot
    move them (or aim them at the model file itself)."""
    from frontend_mess.support.paths import output_file

    inputs = _inputs_of(args)
    seen: dict[str, str] = {}
    for option in options:
        attr = option.lstrip("-").replace("-", "_")
        value = getattr(args, attr, None)
        if value is None:
            continue
        if not str(value).strip():
            raise FrontendError(f"{option} needs a file name, got {value!r}")
        output_file(value, inputs, option=option, make_parents=make_parents)
        absolute = os.path.abspath(value)
        if absolute in seen:
            raise FrontendError(
                f"{seen[absolute]} and {option} both name {value}: give each its own file"
            )
        seen[absolute] = option
        setattr(args, attr, absolute)


def _check_diagnostics_dir(args) -> None:
    directory = getattr(args, "keep_diagnostics", None)
    if directory is not None and not directory.strip():
        raise FrontendError("--keep-diagnostics needs a directory, got ''")
    if directory:
        args.keep_diagnostics = os.path.abspath(directory)
    if directory and os.path.exists(directory) and not os.path.isdir(directory):
        raise FrontendError(
            f"--keep-diagnostics {directory} is a file: it takes a directory (made if missing)"
        )


def _params_target(args) -> str:
    """The --params mode an import or compile runs with, and (in `args.params_file`) where
    an archive goes: the output's name with .irpa unless given. Printed to stdout, `auto`
    keeps the weights inline (one stream has room for one file); `external` needs a file."""
    if args.params_file is not None and not args.params_file.strip():
        raise FrontendError("--params-file needs a file name, got ''")
    if args.params_file is None and args.output:
        args.params_file = str(Path(args.output).with_suffix(PARAMS_SUFFIX))
    if args.params_file is None:
        if args.params == "external":
            raise FrontendError(
                "--params external writes the weights to a file: give -o FILE (they go to "
                "FILE.irpa) or --params-file FILE.irpa"
            )
        return "inline"
    return args.params


def _run_import(args) -> None:
    from frontend_mess.imported import BYTECODE_SUFFIX
    from frontend_mess.support.atomic import write_atomically

    params = _params_target(args)
    _check_outputs(args, "--output", "--params-file")
    progress = _progress(args)
    if args.to not in OUTPUT_KINDS:
        raise FrontendError(
            f"unknown output kind {args.to!r}: use one of {', '.join(OUTPUT_KINDS)}"
        )
    memo = _memo(args, progress, args.func_name)
    bytecode = bool(args.output) and args.output.endswith(BYTECODE_SUFFIX)
    result = memo.imported(
        args.to, bytecode=bytecode, strip_weights=args.strip_weights, params=params
    )
    name = next(n for n in result.outputs if n != "stats.txt")
    if bytecode and not name.endswith(BYTECODE_SUFFIX):
        raise FrontendError(
            f"cannot write {args.output}: the {args.to!r} output is not MLIR; "
            f"use a .txt or .py file name"
        )
    data = result.outputs[name]
    if "params.irpa" in result.outputs:
        archive = result.outputs["params.irpa"]
        write_atomically(args.params_file, lambda handle: handle.write(archive))
        progress.note(f"wrote the weights to {args.params_file}")
    if args.output:
        with progress.step(f"writing {args.output}"):
            write_atomically(args.output, lambda handle: handle.write(data))
    if args.stats:
        args.out.write(result.outputs["stats.txt"].decode())
    elif not args.output:
        args.out.write(data.decode())


def _run_models(args) -> None:
    from frontend_mess.sources import known_models

    for name, specs in known_models().items():
        print(f"{name:<40} {', '.join(map(str, specs))}", file=args.out)


def _cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _batched(args, progress: Progress):
    """`--batch N`: the source's own inputs with dim 0 set to N, as --input-shape."""
    from frontend_mess.shapes import InputSpec, spec_of

    if args.input_shape:
        raise FrontendError("give --batch or --input-shape, not both")
    loaded = _load(args, progress)
    if loaded.torch is None:
        raise FrontendError(f"--batch needs a torch source; for {args.source} give --input-shape")
    specs = []
    for arg in loaded.torch.main.example_args:
        spec = spec_of(arg)
        if not spec.shape:
            raise FrontendError(f"{args.source} takes a scalar input: it has no batch dim")
        specs.append(InputSpec((args.batch, *spec.shape[1:]), spec.dtype))
    args.input_shape = specs


def _run_bench(args) -> None:
    from frontend_mess.bench import report
    from frontend_mess.bench.run import bench
    from frontend_mess.support.atomic import write_atomically

    _check_outputs(args, "--html")
    if args.target != "llvm-cpu":
        raise FrontendError("bench times runtimes on this machine's CPU: use --target llvm-cpu")
    progress = _progress(args)
    if args.batch is not None:
        _batched(args, progress)
    memo = _memo(args, progress)
    result = bench(
        memo,
        _preset(args, memo, progress),
        via=args.via,
        runtimes=args.runtimes,
        threads=args.threads or _cpus(),
        rounds=args.rounds,
        cold_runs=args.cold_runs,
        dispatches=args.dispatches,
        progress=progress,
    )
    if args.html:
        page = report.html_page(result).encode()
        write_atomically(args.html, lambda handle: handle.write(page))
    args.out.write(report.json_text(result) if args.json else report.text(result))


def _run_tune(args) -> None:
    from frontend_mess.bench.tune import TuneResult, search

    progress = _progress(args)
    memo = _memo(args, progress)
    spec = _spec(args)
    threads = args.threads or _cpus()

    def compute():
        found = search(
            memo,
            spec,
            args.via,
            threads=threads,
            names=args.candidates,
            rounds=args.rounds,
            progress=progress,
        )
        return {"tuned.json": found.to_json().encode()}, {"winner": found.winner}

    how = {"threads": threads, "candidates": args.candidates, "rounds": args.rounds}
    result = memo.tune(spec, args.via, compute, search=how)
    found = TuneResult.from_json(result.outputs["tuned.json"].decode())
    args.out.write(found.to_json() if args.json else found.text())
    if memo.run.store is None or not memo.cacheable:
        progress.note(
            "not stored (no store, or a source without a stable identity): "
            "--preset tuned will not find it"
        )
    else:
        progress.note(f"stored: `frontend-mess compile {args.source} --preset tuned` uses it")


def _run_versions(args) -> None:
    from frontend_mess.envs import DEFAULT_ENV, current
    from frontend_mess.support.versions import frontend_mess_version, tool_versions

    print(f"frontend-mess {frontend_mess_version()}", file=args.out)
    if current() != DEFAULT_ENV:
        print(f"environment variant {current()}", file=args.out)
    for name, version in tool_versions().items():
        print(f"{name} {version}", file=args.out)


def _spec(args):
    from frontend_mess.backend.targets import target_spec

    return target_spec(
        args.target, cpu=args.cpu, cuda_arch=args.cuda_arch, extra_flags=tuple(args.iree_flag)
    )


def _preset(args, memo, progress: Progress):
    """The target's flags, with what `tune` stored for this source where `--preset tuned`."""
    import dataclasses

    spec = _spec(args)
    if getattr(args, "preset", "default") != "tuned":
        return spec
    if spec.target != "llvm-cpu":
        raise FrontendError("--preset tuned is for llvm-cpu (tune searches CPU flags)")
    flags = memo.tuned_flags(spec, args.via)
    if flags is None:
        raise FrontendError(
            f"no tuned preset for {args.source} on this machine in the store: run "
            f"`frontend-mess tune {args.source}` first, with the same --cpu, --via, --params "
            f"and --iree-flag"
        )
    progress.note(f"preset: tuned ({' '.join(flags) or 'the defaults won'}; from the store)")
    return dataclasses.replace(spec, flags=(*spec.flags, *flags))


def _run_compile(args) -> None:
    from frontend_mess.sources import short_name

    progress = _progress(args)
    if args.output is None:
        args.output = f"{short_name(args.source)}.vmfb"
    output = args.output  # as the user wrote it, for the message
    _params_target(args)
    archive_name = args.params_file
    _check_outputs(args, "--output", "--params-file")
    _check_diagnostics_dir(args)
    memo = _memo(args, progress)
    spec = _preset(args, memo, progress)
    artifact = memo.artifact(spec, args.via, keep_diagnostics=args.keep_diagnostics)
    if spec.target == "cuda":  # before anything is written: PTX ptxas rejects is no module
        from frontend_mess import pipeline

        assembly = pipeline.assemble(artifact, spec, progress=progress)
        if assembly is not None:
            progress.note(assembly.line())
    params = ""
    if artifact.parameters:
        from frontend_mess.support.atomic import write_atomically

        archive = Path(artifact.parameters[0]).read_bytes()
        write_atomically(args.params_file, lambda handle: handle.write(archive))
        params = f"; weights in {archive_name} ({len(archive)} bytes)"
    artifact.save(args.output)
    print(
        f"wrote {output} ({artifact.size} bytes, {artifact.target}, via {artifact.via}, "
        f"input {artifact.input_type}{params})",
        file=args.out,
    )


def _run_run(args) -> None:
    import numpy as np

    from frontend_mess.backend.artifact import Artifact
    from frontend_mess.backend.runtime import as_declared, parse_run_input, place_named_inputs
    from frontend_mess.backend.signature import ELEMENT_TYPES, element_type_name

    _check_outputs(args, "--output")
    artifact = Artifact.load(args.module, tuple(args.params))  # the module is checked first
    beside = artifact.path.with_suffix(PARAMS_SUFFIX)
    if not artifact.parameters and beside.is_file() and beside != artifact.path:
        artifact = Artifact.load(artifact.path, (beside,))
        print(f"{PROG}: parameters from {beside} (beside the module)", file=sys.stderr)
    module = artifact.module(args.device)
    function = args.function or module.default_function()
    signature = module.signature(function)
    rng = np.random.default_rng(args.input_seed)
    texts = place_named_inputs(args.input, signature, function)
    inputs = [parse_run_input(text, rng) for text in texts]
    if len(inputs) == len(signature.inputs):
        inputs = [as_declared(a, t) for a, t in zip(inputs, signature.inputs, strict=True)]
    outputs = module.call(function, inputs)
    if args.output:
        from frontend_mess.support.atomic import write_atomically

        # bf16 as f32 (exact): NumPy's .npz has no bf16 and would keep raw 2-byte records
        arrays = {
            f"output{i}": o.astype(np.float32) if o.dtype == ELEMENT_TYPES["bf16"] else o
            for i, o in enumerate(outputs)
        }
        write_atomically(args.output, lambda handle: np.savez(handle, **arrays))
    print(f"{function}{signature}", file=args.out)
    dropped = len(signature.roles) - signature.roles.count("user") if signature.roles else 0
    if dropped:
        mutated = ", ".join(r.partition(":")[2] for r in signature.roles if r != "user")
        print(f"({dropped} output(s) dropped: the model mutates {mutated} in place)", file=args.out)
    for index, output in enumerate(outputs):
        flat = output.reshape(-1)
        head = " ".join(f"{v:.6g}" for v in flat[:6].tolist())
        print(
            f"output {index}: {'x'.join(map(str, output.shape))}x{element_type_name(output.dtype)} "
            f"[{head}{' ...' if flat.size > 6 else ''}]",
            file=args.out,
        )


def _tolerances(args) -> None:
    """--rtol/--atol not given: the defaults for the model's --dtype."""
    from frontend_mess.verify import tolerances

    args.rtol, args.atol = tolerances(args.dtype, args.rtol, args.atol)


def _run_verify(args) -> int:
    _tolerances(args)
    _check_diagnostics_dir(args)
    progress = _progress(args)
    memo = _memo(args, progress)
    if args.localize:
        from frontend_mess.localize import localize

        for option, value in (
            ("--device", args.device),
            ("--keep-diagnostics", args.keep_diagnostics),
        ):
            if value is not None:
                raise FrontendError(
                    f"--localize runs on local-task and keeps nothing: drop {option}"
                )

        spec = _preset(args, memo, progress)
        loaded = memo.loaded()
        result = localize(
            loaded,
            spec,
            via=args.via,
            seed=args.input_seed,
            rtol=args.rtol,
            atol=args.atol,
            progress=progress,
        )
        args.out.write(result.text())
        return 0 if result.ok else EXIT_MISMATCH
    if _is_generation(args):  # the decoding check's prompt must fit, before any compile
        from frontend_mess import generate
        from frontend_mess.importers.hf_generation import GENERATION_PROMPT

        shape = {"prompt_len": args.seq_len, "max_cache_len": args.max_cache_len}
        generate.check_fits(GENERATION_PROMPT, DEFAULT_NEW_TOKENS, **shape)
    spec = _preset(args, memo, progress)
    report = memo.verify(
        spec,
        args.via,
        seed=args.input_seed,
        rtol=args.rtol,
        atol=args.atol,
        device=args.device,
        keep_diagnostics=args.keep_diagnostics,
    )
    text, ok = report.text(), report.ok
    if _is_generation(args):  # and greedy decoding, as `generate --check` judges it
        line, decoded = _verify_generation(args, memo, spec, progress)
        text, ok = text + line, ok and decoded
    args.out.write(text)  # once everything has run
    return 0 if ok else EXIT_MISMATCH


def _is_generation(args) -> bool:
    from frontend_mess.importers import hf

    return hf.is_source(args.source) and hf.canonical_task(args.task) == GENERATION_TASK


def _verify_generation(args, memo, spec, progress: Progress) -> tuple[str, bool]:
    from frontend_mess import generate
    from frontend_mess.importers.hf_generation import GENERATION_PROMPT

    artifact = memo.artifact(spec, args.via)
    with progress.step(f"greedy decoding of {DEFAULT_NEW_TOKENS} tokens, artifact and framework"):
        check = generate.check_artifact(
            memo.loaded(), artifact, list(GENERATION_PROMPT), DEFAULT_NEW_TOKENS,
            rtol=args.rtol, atol=args.atol, device=args.device,
        )  # fmt: skip
    return f"generate (prompt {list(GENERATION_PROMPT)}): {check.line()}\n", check.ok


def _run_generate(args) -> int:
    from frontend_mess import generate
    from frontend_mess.importers import hf

    if not hf.is_source(args.source):
        raise FrontendError(
            f"generate takes a Hugging Face causal LM (hf:DIR_OR_ID or hf-config:FILE), not "
            f"{args.source}"
        )
    if hf.canonical_task(args.task) not in (None, GENERATION_TASK):
        raise FrontendError(f"generate runs --task {GENERATION_TASK} (the default here)")
    args.task = GENERATION_TASK
    _tolerances(args)
    prompt = generate.parse_prompt(args.prompt_ids)
    shape = {"prompt_len": args.seq_len, "max_cache_len": args.max_cache_len}
    generate.check_fits(prompt, args.max_new_tokens, **shape)
    _check_diagnostics_dir(args)
    generate.check_vocabulary(prompt, getattr(hf.load_config(args.source), "vocab_size", None))
    progress = _progress(args)
    memo = _memo(args, progress)
    spec = _preset(args, memo, progress)
    artifact = memo.artifact(spec, args.via, keep_diagnostics=args.keep_diagnostics)
    with progress.step(f"decoding {args.max_new_tokens} tokens on the artifact"):
        made = generate.on_artifact(
            artifact, prompt, args.max_new_tokens, device=args.device, **shape
        )
    lines = [",".join(map(str, made.tokens))]
    ok = True
    if args.check:
        with progress.step("decoding with PyTorch and with transformers' generate"):
            check = generate.check_against_framework(
                memo.loaded(), made, prompt, rtol=args.rtol, atol=args.atol, **shape
            )
        lines.append(check.line())
        ok = check.ok
    print("\n".join(lines), file=args.out)  # once everything has run
    return 0 if ok else EXIT_MISMATCH


def _run_generate_isolated(args) -> int:
    with _isolated_calls():
        return _run_generate(args)


def _run_analyze(args) -> None:
    from frontend_mess.support.atomic import write_atomically

    _check_outputs(args, "--html", "--strip-weights")
    progress = _progress(args)
    result = _memo(args, progress).analysis(
        group_by=args.group_by, html=bool(args.html), strip=bool(args.strip_weights)
    )
    for option, name in ((args.strip_weights, "stripped.mlir"), (args.html, "analysis.html")):
        if option:
            data = result.outputs[name]
            write_atomically(option, lambda handle, data=data: handle.write(data))
    args.out.write(result.outputs["analysis.json" if args.json else "analysis.txt"].decode())


@contextmanager
def _isolated_calls() -> Iterator[None]:
    """`run` and `verify` call compiled code in a child process (backend/runtime.py), so a
    module that crashes is an error line, not a dead frontend-mess."""
    from frontend_mess.backend.runtime import ISOLATE

    ISOLATE.enabled = True
    try:
        yield
    finally:
        ISOLATE.enabled = False


def _run_run_isolated(args) -> None:
    with _isolated_calls():
        _run_run(args)


def _run_verify_isolated(args) -> int:
    with _isolated_calls():
        return _run_verify(args)


COMMANDS = {
    "import": _run_import,
    "compile": _run_compile,
    "run": _run_run_isolated,
    "verify": _run_verify_isolated,
    "generate": _run_generate_isolated,
    "analyze": _run_analyze,
    "bench": _run_bench,
    "tune": _run_tune,
    "reduce": _run_reduce,
    "matrix": _run_matrix,
    "store": _run_store,
    "models": _run_models,
    "versions": _run_versions,
}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that `finally` blocks and the atomic writer
    clean up as they do for Ctrl-C (support/atomic.py)."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    def handler(signum, frame):
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an API user's worker): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def _results_stdout() -> Iterator:
    """A file object on the real stdout for the command's result (the MLIR, a report), while
    `sys.stdout` and fd 1 point at stderr: a `print` in a user's model file, or text an
    upstream library writes, cannot end up inside the MLIR a user pipes into another tool.
    (Where `sys.stdout` is not fd 1, a test's capture, it is the result stream itself.)"""
    python_stdout = sys.stdout
    if threading.current_thread() is not threading.main_thread():
        # an API user's worker thread: the process-wide swap would race other threads
        yield python_stdout
        return
    try:
        on_fd_1 = python_stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):
        on_fd_1 = False
    python_stdout.flush()
    saved = os.dup(1) if on_fd_1 else None
    out = os.fdopen(saved, "w", encoding="utf-8", closefd=True) if on_fd_1 else python_stdout
    if on_fd_1:
        os.dup2(2, 1)
    # a stream of its own on stderr: a model that closes sys.stdout closes only this one
    sys.stdout = os.fdopen(os.dup(2), "w", encoding=sys.stderr.encoding, errors="replace")
    try:
        yield out
    finally:
        try:
            out.flush()
        finally:
            try:
                sys.stdout.close()
            except (OSError, ValueError):
                pass
            sys.stdout = python_stdout
            if saved is not None:
                os.dup2(saved, 1)
                try:
                    out.close()
                except OSError:  # a reader that went away; reported where it was written
                    pass


def _finish_run(args, status: str) -> None:
    """Write the command's manifest to the store (the stages it got through, even when a
    later one failed); a store that cannot be written is a warning, not the command's end."""
    run = getattr(args, "run", None)
    if run is None:
        return
    try:
        path = run.finish(status)
    except (OSError, FrontendError) as exc:
        print(f"{PROG}: warning: the run's manifest was not written: {exc}", file=sys.stderr)
        return
    if path is not None and not run.progress.quiet_notes:
        print(f"{PROG}: run {run.id} in {run.store.root} (store show {run.id})", file=sys.stderr)


def _user_code_exit(exc: SystemExit) -> FrontendError:
    return FrontendError(
        f"the model's own code called sys.exit({exc.code!r}) (a model file, its forward or "
        f"example_inputs): frontend-mess stopped, and treats that as a failure, not success"
    )


def _std_streams() -> None:
    """A closed stdin, stdout or stderr (`>&-`) becomes /dev/null: libraries write to fds 1
    and 2 and flush `sys.stdout` unasked, and an error line must never land on stdout."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)  # the lowest free fd: this one
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False))  # noqa: SIM115


def _error(message: object) -> None:
    """The one error line: a newline in a file name must not make it two."""
    text = str(message).replace("\r", "\\r").replace("\n", "\\n")
    print(f"{PROG}: error: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    _std_streams()
    try:
        os.getcwd()
    except OSError:
        _error("the current directory no longer exists: cd somewhere that does")
        return EXIT_USAGE
    tmpdir = os.environ.get("TMPDIR")
    if tmpdir and not os.path.isdir(tmpdir):
        _error(f"TMPDIR={tmpdir} is not a directory: iree-compile and torch write temporary files")
        return EXIT_USAGE
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "env", None):
            from frontend_mess import envs

            envs.reexec(args.env, list(sys.argv[1:] if argv is None else argv))
    except FrontendError as exc:
        _error(exc)
        return exc.exit_code
    try:
        with _sigterm_raises(), _results_stdout() as out:
            args.out = out
            status = "interrupted"
            try:
                code = COMMANDS[args.command](args) or 0
                status = f"exit {code}"
            except SystemExit as exc:  # only user code exits: argparse is done by now
                status = "failed"
                raise _user_code_exit(exc) from None
            except FrontendError as exc:
                status = f"failed: {exc}"
                raise
            finally:
                _finish_run(args, status)
            out.flush()
        return code
    except FrontendError as exc:
        _error(exc)
        return exc.exit_code
    except Terminated:
        print(f"{PROG}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours.
        sys.stderr.close()
        return 0
    except OSError as exc:  # the user's environment (a full disk, permissions), not our bug
        _error(io_error_message(exc))
        return EXIT_USAGE
    except ImportError as exc:  # a broken install, or too little address space (ulimit -v)
        _error(
            f"a library failed to load: {first_lines(exc, 1)} (reinstall with `uv sync`; under "
            f"`ulimit -v`, allow more address space)"
        )
        return EXIT_USAGE
    except MemoryError:
        _error(
            f"out of memory running {args.command}: the model or its inputs are too large for "
            f"this machine"
        )
        return EXIT_FAILED
    except Exception as exc:  # a bug, or an upstream failure no importer anticipated
        if verbose():
            raise
        _error(
            f"unexpected {type(exc).__name__}: {first_lines(exc, 1)} "
            f"(rerun with {VERBOSE_ENV}=1 for the traceback, and please report it)"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
