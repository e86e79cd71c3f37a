"""The project's facts in one place: output kinds, dtype spellings, default sizes.

Everything else imports these names instead of repeating the literals, so a version bump or a
new output kind is a one-line change here (and the tests that read this module follow).
"""

from __future__ import annotations

# Output kinds of `frontend-mess import --to`, mapped to torch-mlir's `OutputType` names.
# `fx` is not MLIR: it is the exported program's FX graph, printed, which is what a user
# needs when the question is "what did torch.export produce before any MLIR tool saw it?".
TORCH_MLIR_OUTPUT_TYPES: dict[str, str | None] = {
    "fx": None,
    "raw": "raw",
    "torch": "torch",
    "linalg": "linalg-on-tensors",
    "tosa": "tosa",
    "stablehlo": "stablehlo",
}
OUTPUT_KINDS: tuple[str, ...] = tuple(TORCH_MLIR_OUTPUT_TYPES)
DEFAULT_OUTPUT_KIND = "linalg"

# Short dtype names used by `--input-shape 2x16:i64`, the spelling MLIR users already read.
DTYPES: dict[str, str] = {
    "f64": "float64",
    "f32": "float32",
    "f16": "float16",
    "bf16": "bfloat16",
    "i64": "int64",
    "i32": "int32",
    "i16": "int16",
    "i8": "int8",
    "u8": "uint8",
    "i1": "bool",
}
DEFAULT_DTYPE = "f32"

# Integer example inputs are drawn from [0, INT_INPUT_HIGH): small enough to be valid token
# ids or class indices for any real vocabulary, so an embedding lookup never goes out of range.
INT_INPUT_HIGH = 2

# torchvision classification models take 224x224 unless their weights or config say otherwise.
DEFAULT_IMAGE_SIZE = 224

# ONNX models older than this opset are upgraded with onnx.version_converter before import:
# torch-mlir's OnnxToTorch patterns are written against recent opsets (notes/onnx.md).
MIN_ONNX_OPSET = 17
ONNX_IMPORTERS: tuple[str, ...] = ("torch-mlir", "iree")
DEFAULT_ONNX_IMPORTER = "torch-mlir"
# ONNX models are constant-folded (onnxscript's optimizer) before import unless their weights
# exceed this: the optimizer holds a second copy of every tensor (importers/onnx_graph.py).
ONNX_FOLD_MAX_BYTES = 1 << 30
# ONNX operators that ONNX defines by a function body and that the importers expand into that
# body instead of emitting `onnx.<Op>` for OnnxToTorch: the ops whose direct lowering is missing
# or wrong in torch-mlir 20261001, chosen per op from the onnx-node cases and their `_expanded`
# twins (notes/onnx.md,
# "Function expansion"). Expanding every function op (the
# importer's Config with no allowlist) breaks Softmax in f16 and DynamicQuantizeLinear.
# MeanVarianceNormalization stays with the importer's own expansion (its default): expanded
# and folded here, test_mvn mismatches.
ONNX_EXPAND_FUNCTIONS: dict[str, frozenset[str]] = {
    "": frozenset(
        {
            "Attention",
            "CausalConvWithState",
            "NegativeLogLikelihoodLoss",
            "RMSNormalization",
            "SoftmaxCrossEntropyLoss",
            "SwiGLU",
            "Swish",
        }
    )
}
# torch.onnx.export's exporters for the `onnx` paths: `dynamo` (torch.export + onnxscript, what
# torch 2.14 recommends), the older TorchScript tracer, or `auto`: dynamo, then TorchScript
# where dynamo fails (importers/onnx_export.py).
ONNX_EXPORTERS: tuple[str, ...] = ("auto", "dynamo", "torchscript")
DEFAULT_ONNX_EXPORTER = "auto"

# torch.export modes (importers/fx.py): `auto` is non-strict, retried strict where tracing
# meets a data-dependent value (`int(tensor)`).
EXPORT_MODES: tuple[str, ...] = ("auto", "non-strict", "strict")
DEFAULT_EXPORT_MODE = "auto"

# Import paths to IREE (`--via`, pipeline.py). Torch sources default to DEFAULT_VIA; ONNX
# files take one of ONNX_VIAS, by default the one of DEFAULT_ONNX_IMPORTER.
VIAS: tuple[str, ...] = (
    "fx-torch",
    "fx-linalg",
    "fx-tosa",
    "fx-stablehlo",
    "turbine",
    "onnx",
    "onnx-iree",
)
DEFAULT_VIA = "fx-torch"
#: the paths through ONNX, and the ONNX importer each takes.
ONNX_VIAS: dict[str, str] = {"onnx": "torch-mlir", "onnx-iree": "iree"}

# IREE targets and their defaults (backend/targets.py has the flags).
TARGETS: tuple[str, ...] = ("llvm-cpu", "cuda")
DEFAULT_TARGET = "llvm-cpu"
DEFAULT_CPU = "host"
DEFAULT_CUDA_ARCH = "sm_80"
#: what `matrix --target cuda` compiles each cell for: Ampere, and Hopper (sm_89 PTX
#: assembled for sm_90: backend/targets.py NEWER_THAN_IREE)
MATRIX_CUDA_ARCHS: tuple[str, ...] = ("sm_80", "sm_90")

# Weights in the IR or beside it (`--params`, backend/params.py). `external` moves every
# constant of at least PARAMS_MIN_BYTES into an IREE parameter archive (.irpa) that the IR
# names (`#stream.parameter.named<"model"::"p0">`) and the runtime maps from disk; `auto`
# does so when the movable weights come to PARAMS_AUTO_BYTES or more: inline, as hex text,
# 512 KiB of weights alone make 1 MB of IR, past what a person reads or diffs (resnet18's
# 47 MB make 94 MB of text; external, its IR is 100 KB). Below it a model stays one file.
PARAMS_MODES: tuple[str, ...] = ("auto", "inline", "external")
DEFAULT_PARAMS = "auto"
PARAMS_AUTO_BYTES = 512 * 1024
# Constants smaller than this stay inline even when the weights go out: IREE's own default
# for `iree-io-export-parameters` (`minimum-size`, the pass behind iree-compile's parameter
# export), so frontend-mess and iree-compile split a model alike; below a few hundred bytes
# an archive entry's header and 64-byte alignment cost as much as the data, and an inline
# constant (a bias, a shape) lets the compiler fold it. iree-import-onnx's threshold is 100
# elements (`--num-elements-threshold`); iree-turbine externalizes every parameter.
PARAMS_MIN_BYTES = 256
# The parameter scope: `iree-run-module --parameters=model=FILE.irpa`.
PARAMS_SCOPE = "model"
PARAMS_SUFFIX = ".irpa"

# IREE runtime devices (`run --device`), by default the target's (backend/targets.py).
DEVICES: tuple[str, ...] = ("local-task", "local-sync", "cuda")

# `analyze --group-by`.
GROUP_KEYS: tuple[str, ...] = ("iterators", "maps", "body")

# `frontend-mess matrix`: suites, per-cell limits and parallelism.
#: torchvision's families beyond classification, a suite each (importers/torchvision_models.py)
TORCHVISION_FAMILY_SUITES: dict[str, str] = {
    "torchvision-segmentation": "segmentation",
    "torchvision-video": "video",
    "torchvision-optical-flow": "optical_flow",
    "torchvision-detection": "detection",
    "torchvision-quantization": "quantization",
}
SUITES: tuple[str, ...] = (
    "torchvision",
    *TORCHVISION_FAMILY_SUITES,
    "hf-tiny",
    # hf-tiny's decoder-only causal LMs as prefill + decode_step, judged by greedy generation
    "hf-generate",
    "onnx-models",
    "onnx-node",
)
MATRIX_TIMEOUT_S = 900
MATRIX_MEMORY_GB = 16.0
MATRIX_JOBS = 2
# `matrix --executor ray` (matrix/ray_executor.py): the memory a cell declares to Ray's
# scheduler, by suite, in GiB. Its hard cap is still --memory-gb (an address-space limit, which
# counts reservations a process never touches, so it is far above what a cell uses): an
# onnx-node case uses about 0.4 GiB, a model cell a few.
RAY_MEMORY_GB: dict[str, float] = {"onnx-node": 0.5, "default": 4.0}
# a worker process runs at most this many small cells (onnx-node cases) before a fresh one
# takes over, so what one case leaks or fragments does not pile up (matrix/runner.py Worker)
MATRIX_CELLS_PER_WORKER = 200
MATRIX_OUTPUT = "reports/matrix.jsonl"

# Hugging Face text models are traced with this many tokens unless --seq-len says otherwise.
DEFAULT_SEQ_LEN = 8
#: --task text-generation-with-past: positions in the static KV cache (prompt + new tokens;
#: the hf-tiny configs have 64 position embeddings); importers/hf_generation.py
DEFAULT_MAX_CACHE_LEN = 32
#: `generate --max-new-tokens`
DEFAULT_NEW_TOKENS = 16
# The bounds `--seq-len` and `--seed` accept (torch's and NumPy's generators take 32-bit
# seeds everywhere; no text model here has a million positions).
MAX_SEQ_LEN = 1 << 20
MAX_SEED = 2**32 - 1
# The most elements one example or run input may have, and the most bytes all the inputs of
# one call may take: a shape is checked against them before anything is allocated.
MAX_INPUT_ELEMENTS = 2**31 - 1
MAX_INPUT_BYTES = 8 * 2**30

# torch.export specializes a dimension whose example size is 1 (its "0/1 specialization"),
# so a dimension the user marks dynamic is traced with at least this size.
MIN_DYNAMIC_EXAMPLE_SIZE = 2

# Seed for the example inputs that frontend-mess makes up, so two imports print the same IR.
EXAMPLE_INPUT_SEED = 0
# `--seed`: the seed random weights are drawn from (a torchvision model without --weights, an
# hf-config: model, and whatever a model file draws while it builds its module: torch, NumPy
# and Python's `random` are seeded first), so the same command with the same pins writes
# byte-identical IR and .vmfb (tests/unit/test_determinism.py).
DEFAULT_SEED = 0

# `frontend-mess verify`: an output passes when max|iree - reference| <= VERIFY_ATOL +
# VERIFY_RTOL * max|reference|, the error measured against the output's own scale (randomly
# initialised nets such as inception_v3 produce logits near 1e9, where float32 rounding alone
# exceeds an elementwise rtol). torch-mlir's e2e suite uses rtol 1e-3; IREE's ONNX suites 1e-4
# for f32. notes/iree.md has the measured errors; --rtol/--atol tighten or loosen it.
VERIFY_RTOL = 1e-3
VERIFY_ATOL = 1e-4

# `--dtype`: the element type a PyTorch source's weights and floating-point inputs are cast to
# before tracing (sources.in_dtype), or an ONNX file's float32 tensors retyped to
# (importers/onnx_dtype.py), so the module computes in it. f32 is what every other
# default here was measured with.
MODEL_DTYPES: tuple[str, ...] = ("f32", "f16", "bf16")
DEFAULT_MODEL_DTYPE = "f32"
# verify's (rtol, atol) for each --dtype when --rtol/--atol are not given: a scale-aware bound
# as above, against PyTorch eager in the same dtype. Both sides round every op to the type, so
# they drift apart by a few units in the last place per layer: f16 keeps 11 significant bits
# (eps 9.8e-4), bf16 8 (eps 7.8e-3). 1e-2 and 5e-2 of the output's peak are about ten eps,
# above the errors measured on the hf-tiny BERT and ViT (notes/dtypes.md) and far below what
# a wrong lowering gives (an error of the output's own size).
VERIFY_TOLERANCES: dict[str, tuple[float, float]] = {
    "f32": (VERIFY_RTOL, VERIFY_ATOL),
    "f16": (1e-2, 1e-3),
    "bf16": (5e-2, 1e-2),
}
VERIFY_SEED = 1

# `frontend-mess bench` (bench/): runtimes, rounds of blocks, cold starts.
BENCH_RUNTIMES: tuple[str, ...] = ("iree", "eager", "inductor", "onnxruntime")
#: taking turns in rounds of blocks of about this many seconds, with a pause after each block
#: so the last runtime's spinning workers are idle before the next one starts (bench/timing.py).
BENCH_ROUNDS = 3
BENCH_BLOCK_S = 0.5
BENCH_PAUSE_S = 0.2
#: fresh processes per runtime for the cold start (load and first call) and peak memory.
BENCH_COLD_RUNS = 3
