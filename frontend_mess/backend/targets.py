"""IREE compile flags per target, in one place.

CPU defaults are for speed, not IREE's bare defaults (which run at O0): on this machine bare
flags ran ResNet-18 eleven times slower than PyTorch eager, and this set brought it level
(notes/iree.md, benchmarks/iree_cpu_flags.py). CUDA takes an architecture; names IREE 3.13 has
no target description for (Hopper, Blackwell) map to the newest it has, whose PTX the driver
JIT-compiles for the newer GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from frontend_mess.defaults import DEFAULT_CPU, DEFAULT_CUDA_ARCH, DEFAULT_TARGET, DEVICES, TARGETS
from frontend_mess.support.errors import FrontendError

__all__ = [
    "DEFAULT_CPU",
    "DEFAULT_CUDA_ARCH",
    "DEFAULT_TARGET",
    "DEVICES",
    "TARGETS",
    "target_spec",
]


CPU_SPEED_FLAGS: tuple[str, ...] = (
    "--iree-opt-level=O3",
    "--iree-opt-data-tiling",
    "--iree-global-opt-use-im2col-for-convs",
    "--iree-llvmcpu-enable-ukernels=all",
)
# IREE refuses a dispatch whose stack allocations exceed 32 KiB; torchvision's vit_b_16 needs
# 70 KiB in one attention dispatch. Its maintainers' workaround (iree #16421), which compiled
# and ran vit_b_16 here; notes/iree.md.
CPU_STACK_FLAGS: tuple[str, ...] = ("--iree-llvmcpu-fail-on-out-of-bounds-stack-allocation=false",)
# ...and such a dispatch then needs that stack on the runtime's worker thread, whose default is
# 128 KiB: with this host's AVX-512 the same vit_b_32 dispatch takes 143 KiB (146,688 bytes,
# measured with the check on), overflows the worker's stack and crashes with SIGSEGV. The
# runtime's workers get 2 MiB (backend/runtime.py::configure_runtime, and every IREE tool
# frontend-mess runs). Test: tests/unit/test_iree.py::test_worker_stack_holds_large_dispatches.
RUNTIME_WORKER_STACK_BYTES = 2 << 20
RUNTIME_FLAGS: tuple[str, ...] = (f"--task_worker_stack_size={RUNTIME_WORKER_STACK_BYTES}",)


def runtime_thread_flags(threads: int) -> list[str]:
    """IREE's task pool with `threads` workers (its topology counts physical cores): for the
    Python runtime (runtime.configure_runtime) and IREE's tools alike (bench/runtimes.py)."""
    return [f"--task_topology_max_group_count={threads}"]


# `generic` is an artifact that runs on any x86-64: no host-specific instructions.
GENERIC_CPU = "generic"

# `frontend-mess tune`'s search space on llvm-cpu: each candidate is these flags after the
# defaults above (later flags win), compiled, verified against the framework, then timed
# beside the others (bench/tune.py). Single changes first; the two best that beat the
# default are then tried together. What each is for:
TUNE_SPACE: dict[str, tuple[str, ...]] = {
    "default": (),
    # AVX-512 CPUs that execute 512-bit vectors as two 256-bit halves (AMD Zen 4, this host):
    # IREE picks 64-byte vectors from the CPU features; 32-byte ones may tile better.
    "vector-256": ("--iree-llvmcpu-target-vector-width-in-bytes=32",),
    # convolutions as direct convolution, not im2col + matmul (the im2col copy is up to 40% of
    # resnet18's time here: notes/bench.md)
    "no-im2col": ("--iree-global-opt-use-im2col-for-convs=false",),
    # no tiled layouts: nothing to pack (by the parameter encoder for external weights)
    "no-data-tiling": ("--iree-opt-data-tiling=false",),
    # NCHW convolutions rewritten channels-last before IREE's global optimization
    "channels-last": (
        "--iree-preprocessing-pass-pipeline="
        "builtin.module(util.func(iree-preprocessing-convert-conv-to-channels-last))",
    ),
    # IREE's own codegen instead of its hand-written microkernels
    "no-ukernels": ("--iree-llvmcpu-enable-ukernels=none",),
    # reductions reassociated (changes the rounding; verified at verify's tolerance)
    "reassociate": ("--iree-llvmcpu-reassociate-fp-reductions",),
}
TUNE_PRESETS = ("default", "tuned")

# User spellings -> the real architecture (what ptxas assembles for, what the GPU is).
CUDA_ALIASES: dict[str, str] = {
    "a100": "sm_80",
    "ampere": "sm_80",
    "a10": "sm_86",
    "rtx3090": "sm_86",
    "l4": "sm_89",
    "l40s": "sm_89",
    "ada": "sm_89",
    "rtx4090": "sm_89",
    "hopper": "sm_90",
    "h100": "sm_90",
    "h200": "sm_90",
    "blackwell": "sm_100",
    "b200": "sm_100",
}
KNOWN_CUDA_ARCHS = ("sm_60", "sm_61", "sm_70", "sm_75", "sm_80", "sm_86", "sm_87", "sm_89")
# IREE 3.13 says "missing GPU target in #hal.executable.target" for these (its --help names
# sm_90, its target table does not): compile for the newest architecture it describes. The
# embedded PTX is JIT-compiled by the driver on the newer GPU (PTX is forward compatible), and
# backend/ptx.py assembles it for the real one, so that "compiles for H100" is checked without
# one. notes/cuda.md; tests/unit/test_iree.py::test_iree_313_still_has_no_sm90_target.
NEWER_THAN_IREE: dict[str, str] = {
    "sm_90": "sm_89",
    "sm_90a": "sm_89",
    "sm_100": "sm_89",
    "sm_100a": "sm_89",
}
# CUDA codegen flags. IREE 3.13's reduction VectorDistribute pipeline fails ("'func.func' op
# failed to distribute") on a dispatch that both stores an elementwise result and reduces it:
# BatchNorm + ReLU feeding torchvision's SqueezeExcitation average pool (mobilenet_v3_small,
# efficientnet). The same class on HIP is iree #24282 / #24283. Off, such reductions take the
# warp-reduction pipeline, which compiles them. The pin, with the reduced dispatch:
# tests/filecheck/iree/cuda-reduction-distribute.mlir; notes/cuda.md.
CUDA_CODEGEN_FLAGS: tuple[str, ...] = (
    "--iree-codegen-llvmgpu-use-reduction-vector-distribution=false",
)

# IREE's input conversion demotes f64 to f32 but keeps f64 in the function's ABI, so every f64
# output comes back half-filled ("buffer view byte length 96 exceeds backing buffer byte
# length 48"; iree #24180, open). It hits every input dialect: ONNX, and torch from the default
# fx-torch path. Where a public function takes or returns f64 (read from the module with the
# MLIR bindings, backend/signature.py), keep f64 (the CPU computes it natively). Only there:
# with demotion off, an f64 constant inside an f32 model (the LRN of the shipped
# light_bvlc_alexnet) fails codegen on `arith.truncf` f64 -> f32. notes/iree.md;
# tests/unit/test_onnx_node.py, tests/unit/test_pipeline.py.
F64_CPU_FLAGS: tuple[str, ...] = ("--iree-input-demote-f64-to-f32=false",)
# IREE 3.13's im2col rewrite (ConvertConv2DToImg2ColPass, behind CPU_SPEED_FLAGS' im2col flag)
# builds a batched NCHW convolution with f16 or bf16 operands and an f32 accumulator (what
# torch and OnnxToTorch both emit for a low-precision conv) as a matmul whose body adds the
# narrow product to the f32 sum without widening it: "'arith.addf' op requires the same type
# for all operands and results", at batch 2 and up (batch 1 takes linalg.matmul and compiles).
# No upstream issue found; a six-line repro pins it (tests/unit/test_dtypes.py::
# test_iree_im2col_fails_on_a_batched_low_precision_conv). Where a public function takes or
# returns f16/bf16, convolutions stay direct on llvm-cpu; notes/dtypes.md.
LOW_PRECISION_CPU_FLAGS: tuple[str, ...] = ("--iree-global-opt-use-im2col-for-convs=false",)
# With data tiling (CPU_SPEED_FLAGS) IREE 3.13's CPU codegen builds vectors of a whole tile for
# some matmul-like dispatches with fused elementwise consumers (a 1x1 conv and its batch norm
# on AVX-512, maxvit_t's attention) and then refuses them: "One or more operations with large
# vector sizes (32768 bytes) were found" (iree #24876, closed upstream, still failing in 3.13).
# The same module compiles and verifies without data tiling, so a compile that fails with
# exactly this message is done once more with these flags, said in a note and recorded in the
# artifact's flags (backend/compiler.py). Test: tests/unit/test_iree.py::
# test_large_tiled_vectors_compile_again_without_data_tiling.
LARGE_VECTORS_ERROR = "One or more operations with large vector sizes"
# The second such failure: with data tiling, IREE 3.13's CPU codegen of the attention that
# torch-mlir's TOSA makes of a rotary-embedding decoder's prefill (Llama, Gemma, Mistral,
# Qwen2, Falcon on fx-tosa; `reduce` took Llama's to 38 ops,
# reports/repros/fx-tosa-compile-fail-compile-iree_codegen.load_from_buffer) fails with
# "'iree_codegen.load_from_buffer' op buffer and tensor shapes must be compatible"; without
# data tiling it compiles and verifies. No upstream issue found. Test:
# tests/unit/test_iree.py::test_tiled_load_from_buffer_compiles_again_without_data_tiling.
TILED_LOAD_ERROR = "'iree_codegen.load_from_buffer' op buffer and tensor shapes must be"
#: codegen failures of data tiling that a compile without it does not have: each message, and
#: what the retry's note says of it
DATA_TILING_ERRORS = {
    LARGE_VECTORS_ERROR: "refused the large vectors data tiling made (iree #24876)",
    TILED_LOAD_ERROR: "failed on a tiled load_from_buffer (no upstream issue found)",
}
DATA_TILING_RETRY_FLAGS: tuple[str, ...] = ("--iree-opt-data-tiling=false",)


def retry_flags_added(artifact_flags, spec_flags) -> list[str]:
    """The retry's flags in an artifact compiled for a spec that did not ask for them."""
    return [f for f in DATA_TILING_RETRY_FLAGS if f in artifact_flags and f not in spec_flags]


# Input dialect -> `--iree-input-type`. `none` is plain linalg/tensor/arith input; `tm_tensor`
# is linalg with torch-mlir's TMTensor ops (pipeline._INPUT_TYPE_OF_KIND).
INPUT_TYPES = ("torch", "onnx", "tosa", "stablehlo", "tm_tensor", "none")

# Runtime drivers per target.
DEFAULT_DEVICE = {"llvm-cpu": "local-task", "cuda": "cuda"}


@dataclass(frozen=True)
class TargetSpec:
    target: str
    flags: tuple[str, ...] = field(default=())
    #: what was asked for when it differs from what is compiled for (`sm_90` -> `sm_89`).
    substituted: str | None = None
    #: the CPU or GPU architecture the flags name.
    compiled_for: str = ""
    #: cuda: the GPU architecture the code is for, which ptxas assembles it for (`sm_90` where
    #: IREE compiles `sm_89` PTX for it); "" for the CPU.
    device_arch: str = ""

    @property
    def device(self) -> str:
        return DEFAULT_DEVICE[self.target]


def device_arch(arch: str) -> str:
    """The real architecture a user's spelling names (`h100` -> `sm_90`, `A100` -> `sm_80`)."""
    name = arch.strip().lower()
    name = CUDA_ALIASES.get(name, name)
    if name in NEWER_THAN_IREE or name in KNOWN_CUDA_ARCHS:
        return name
    choices = ", ".join([*KNOWN_CUDA_ARCHS, *NEWER_THAN_IREE, *CUDA_ALIASES])
    raise FrontendError(f"unknown CUDA architecture {arch!r}: use one of {choices}")


def resolve_cuda_arch(arch: str) -> tuple[str, str | None]:
    """(architecture to compile for, the name asked for if it was replaced)."""
    name = device_arch(arch)
    if name in NEWER_THAN_IREE:
        return NEWER_THAN_IREE[name], arch
    return name, None


#: iree-compile flags that change where or what it writes, or make it print and exit: the
#: artifact would not be the `.vmfb` frontend-mess saves (or would land somewhere else).
_OUTPUT_FLAGS = (
    "-o",
    "--o",
    "--output",
    "--output-file",
    "--output-format",
    "--compile-to",
    "--compile-from",
    "--help",
    "-h",
    "--version",
    "--print-pipeline-passes",
)


def check_extra_flags(flags: tuple[str, ...]) -> None:
    for flag in flags:
        name = flag.split("=", 1)[0]
        if name in _OUTPUT_FLAGS or name.startswith("--help"):
            raise FrontendError(
                f"--iree-flag={flag}: frontend-mess decides iree-compile's output (-o, "
                f"--compile-to, --output-format) and needs a module back; for IR at a phase, "
                f"run iree-compile yourself on `frontend-mess import` output"
            )


def target_spec(
    target: str,
    *,
    cpu: str = DEFAULT_CPU,
    cuda_arch: str = DEFAULT_CUDA_ARCH,
    fast: bool = True,
    extra_flags: tuple[str, ...] = (),
) -> TargetSpec:
    """The flags for a target; `fast=False` gives IREE's bare defaults (for comparisons);
    `extra_flags` (the CLI's --iree-flag) come last, so they override."""
    check_extra_flags(extra_flags)
    if target == "llvm-cpu":
        flags = [
            "--iree-hal-target-device=local",
            "--iree-hal-local-target-device-backends=llvm-cpu",
            f"--iree-llvmcpu-target-cpu={cpu}",
        ]
        if fast:
            flags += [*CPU_SPEED_FLAGS, *CPU_STACK_FLAGS]
        return TargetSpec(target, (*flags, *extra_flags), compiled_for=cpu)
    if target == "cuda":
        arch, asked = resolve_cuda_arch(cuda_arch)
        flags = ["--iree-hal-target-device=cuda", f"--iree-cuda-target={arch}"]
        if fast:
            flags.append("--iree-opt-level=O3")
        flags += CUDA_CODEGEN_FLAGS
        return TargetSpec(
            target,
            (*flags, *extra_flags),
            substituted=asked,
            compiled_for=arch,
            device_arch=device_arch(cuda_arch),
        )
    raise FrontendError(f"unknown target {target!r}: use one of {', '.join(TARGETS)}")


#: x86 vector extensions, widest first: what `--iree-llvmcpu-target-cpu=host` compiles for
#: decides codegen (notes/matrix.md: hf-tiny ResNet on fx-tosa fails data tiling with
#: AVX-512 and compiles for AVX2).
_ISA_LEVELS = ("avx512f", "avx2", "avx")


def host_cpu_flags() -> set[str]:
    """The CPU feature flags /proc/cpuinfo lists for this machine (empty where it has none)."""
    from pathlib import Path

    try:
        return set(
            next(
                line.split(":", 1)[1].split()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("flags")
            )
        )
    except (OSError, StopIteration):
        return set()


def host_cpu_key() -> dict:
    """What `--cpu host` code depends on, for a cache key: the architecture, the CPU model
    and its feature list (`flags` on x86, `Features` on ARM)."""
    import hashlib
    import platform
    from pathlib import Path

    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            name = name.strip()
            if name in ("flags", "Features", "model name", "CPU part", "CPU implementer"):
                fields.setdefault(name, value.strip())
    except OSError:
        pass
    features = " ".join(sorted(fields.pop("flags", fields.pop("Features", "")).split()))
    return {
        "machine": platform.machine(),
        **fields,
        "features": hashlib.sha256(features.encode()).hexdigest(),
    }


def host_key_for(flags) -> dict | None:
    """The host CPU's key (host_cpu_key) where `flags` compile for this host (`--cpu host`),
    else None: code compiled for a named CPU does not depend on the machine."""
    return host_cpu_key() if any(str(f).endswith("=host") for f in flags) else None


def host_isa() -> str:
    """The widest vector extension of this machine's CPU (`avx512f`, `avx2`, `avx`), or its
    architecture where /proc/cpuinfo says nothing of them."""
    import platform

    flags = host_cpu_flags()
    return next((isa for isa in _ISA_LEVELS if isa in flags), platform.machine())


def gpu_present() -> bool:
    """Whether this machine has an NVIDIA GPU device node (what a CUDA run needs first)."""
    from pathlib import Path

    return any(Path("/dev").glob("nvidia[0-9]*"))


def _nvidia_smi(fields: str) -> str:
    """The first GPU's line of `nvidia-smi --query-gpu=FIELDS`, "" where there is none."""
    import subprocess

    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.splitlines()[0] if out else ""


def gpu_description() -> str:
    """`NVIDIA H100 80GB HBM3, driver 550.54.15` for this machine's first GPU; "" where there
    is none (what a matrix record run on a GPU names)."""
    name, _, driver = _nvidia_smi("name,driver_version").partition(", ")
    return f"{name}, driver {driver}" if name else ""


def gpu_arch() -> str:
    """`sm_90` for this machine's first GPU (compute capability 9.0); "" where there is none
    or nvidia-smi cannot say."""
    major, _, minor = _nvidia_smi("compute_cap").partition(".")
    return f"sm_{major}{minor}" if major.isdigit() and minor.isdigit() else ""


def input_flags(
    input_type: str, target: str, f64_interface: bool = False, low_precision: bool = False
) -> list[str]:
    """`--iree-input-type`, plus what that input needs on that target to compute correctly
    (`f64_interface`: a public function takes or returns f64 tensors; `low_precision`: f16 or
    bf16 ones). After the target's flags: these win."""
    flags = [f"--iree-input-type={input_type}"]
    if target == "llvm-cpu" and f64_interface:
        flags += F64_CPU_FLAGS
    if target == "llvm-cpu" and low_precision:
        flags += LOW_PRECISION_CPU_FLAGS
    return flags
