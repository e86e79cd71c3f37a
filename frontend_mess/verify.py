"""Compile, run on fresh seeded random inputs, and compare every output with the framework's
own result: PyTorch eager for torch sources, onnxruntime for ONNX files."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .defaults import VERIFY_ATOL, VERIFY_RTOL, VERIFY_SEED
from .errors import FrontendError
from .lowering import DEFAULT_VIA, lower_source
from .progress import QUIET, Progress
from .sources import SourceOptions, is_onnx, resolve
from .targets import TargetSpec


@dataclass
class OutputCheck:
    function: str
    index: int
    shape: tuple
    max_abs: float
    max_rel: float
    ok: bool
    #: the largest |reference| value: the scale the tolerance is judged against.
    peak: float = 0.0
    #: the reference hardly moves when the input changes (random weights whose signal dies
    #: out, e.g. torchvision's googlenet untrained): a pass then says little.
    insensitive: bool = False

    @property
    def scaled_error(self) -> float:
        """Max abs error over the output's largest magnitude: the quantity `ok` judges."""
        return self.max_abs / max(self.peak, float(np.finfo(np.float32).tiny))

    def line(self) -> str:
        status = "ok" if self.ok else "MISMATCH"
        shape = "x".join(map(str, self.shape)) or "scalar"
        weak = "  (weak: the reference hardly depends on the input)" if self.insensitive else ""
        return (
            f"{self.function} output {self.index} ({shape}): max abs error {self.max_abs:.3g},"
            f" max rel error {self.max_rel:.3g}  {status}{weak}"
        )


@dataclass
class VerifyReport:
    source: str
    target: str
    via: str
    seed: int
    rtol: float
    atol: float
    reference: str
    checks: list[OutputCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def text(self) -> str:
        head = (
            f"verify {self.source} on {self.target} via {self.via} against {self.reference}"
            f" (seed {self.seed}, rtol {self.rtol:g}, atol {self.atol:g})"
        )
        verdict = "PASS" if self.ok else "FAIL"
        return "\n".join([head, *(c.line() for c in self.checks), verdict]) + "\n"


def compare(
    function: str, index: int, got: np.ndarray, want: np.ndarray, rtol: float, atol: float
) -> OutputCheck:
    if got.shape != want.shape:
        return OutputCheck(function, index, want.shape, float("inf"), float("inf"), False, 1.0)
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    diff = np.abs(got64 - want64)
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = np.maximum(np.abs(want64), np.finfo(np.float32).tiny)
    max_rel = float((diff / scale).max()) if diff.size else 0.0
    # Scale-aware: the error may be rtol of the output's largest magnitude. Elementwise
    # relative error is reported but not judged: it blows up where values cancel to near zero.
    peak = float(np.abs(want64).max()) if want64.size else 0.0
    ok = bool(np.isfinite(max_abs) and max_abs <= atol + rtol * peak) or (
        bool(np.array_equal(got64, want64, equal_nan=True))
    )
    return OutputCheck(function, index, tuple(want.shape), max_abs, max_rel, ok, peak)


#: an output that changes by less than this fraction of its scale between two random inputs
#: is flagged as insensitive.
INSENSITIVE_BELOW = 1e-6


def mark_insensitive(checks: list[OutputCheck], first: list, second: list) -> None:
    """Flag each output whose reference barely differs between two different random inputs."""
    for check, a, b in zip(checks, first, second, strict=True):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape == b.shape and a.size:
            change = float(np.abs(a - b).max())
            check.insensitive = change <= INSENSITIVE_BELOW * max(float(np.abs(a).max()), 1e-30)


def fresh_like(example, generator):
    """A new random tensor shaped like an example input. Integer inputs stay in the example's
    range (token ids below the vocabulary size); a constant integer input (an all-ones
    attention mask) stays constant."""
    import torch

    if example.dtype.is_floating_point:
        return torch.randn(example.shape, generator=generator).to(example.dtype)
    low, high = int(example.min()), int(example.max())
    if low == high:
        return example.clone()
    return torch.randint(low, high + 1, example.shape, generator=generator).to(example.dtype)


def _flatten(result) -> list:
    import torch

    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, tuple | list):
        return [t for item in result for t in _flatten(item)]
    if hasattr(result, "to_tuple"):
        return _flatten(result.to_tuple())
    return []


def torch_checks(
    functions: dict, module, *, seed: int, rtol: float, atol: float, progress: Progress = QUIET
) -> list[OutputCheck]:
    """Run each traced function in PyTorch eager and in the loaded IREE module on the same
    fresh inputs, and compare every output."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    checks: list[OutputCheck] = []
    for name, function in functions.items():
        inputs = tuple(fresh_like(e, generator) for e in function.example_args)
        others = tuple(fresh_like(e, generator) for e in function.example_args)
        with torch.no_grad():
            expected = [t.numpy() for t in _flatten(function.module(*inputs))]
            second = [t.numpy() for t in _flatten(function.module(*others))]
        iree_name = name if len(functions) > 1 else module.default_function()
        with progress.step(f"running {iree_name} on {module.config.device}"):
            got = module.call(iree_name, [i.numpy() for i in inputs])
        if len(got) != len(expected):
            raise FrontendError(
                f"{name}: IREE returned {len(got)} outputs, PyTorch {len(expected)}"
            )
        these = [
            compare(name, i, g, e, rtol, atol)
            for i, (g, e) in enumerate(zip(got, expected, strict=True))
        ]
        mark_insensitive(these, expected, second)
        checks += these
    return checks


def onnx_checks(model, module, *, seed: int, rtol: float, atol: float) -> list[OutputCheck]:
    """Run the ONNX model in onnxruntime and the loaded IREE module on the same random inputs
    (drawn from the compiled signature), and compare every output."""
    import onnxruntime

    function = module.default_function()
    signature = module.signature(function)
    if any(d is None for t in signature.inputs for d in t.shape):
        raise FrontendError(
            "the model has dynamic input dims: fix them with --input-shape NAME=DIMS to verify"
        )
    rng = np.random.default_rng(seed)
    inputs = [t.random(rng) for t in signature.inputs]
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = [i.name for i in session.get_inputs()]
    expected = session.run(None, dict(zip(names, inputs, strict=True)))
    others = [t.random(rng) for t in signature.inputs]
    second = session.run(None, dict(zip(names, others, strict=True)))
    got = module.call(function, inputs)
    checks = [
        compare(function, i, g, np.asarray(e), rtol, atol)
        for i, (g, e) in enumerate(zip(got, expected, strict=True))
    ]
    mark_insensitive(checks, expected, second)
    return checks


def verify(
    source: str,
    spec: TargetSpec,
    *,
    via: str = DEFAULT_VIA,
    seed: int = VERIFY_SEED,
    rtol: float = VERIFY_RTOL,
    atol: float = VERIFY_ATOL,
    options: SourceOptions | None = None,
    device: str | None = None,
    progress: Progress = QUIET,
) -> VerifyReport:
    from .compiler import compile_text

    options = options or SourceOptions()
    if is_onnx(source):
        from .importers import onnx as onnx_importer

        model, mlir = onnx_importer.load_raw(source, options.input_specs, progress)
        artifact = compile_text(mlir, spec, input_type="onnx", name=source, progress=progress)
        report = VerifyReport(source, spec.target, "onnx", seed, rtol, atol, "onnxruntime")
        report.checks = onnx_checks(model, artifact.module(device), seed=seed, rtol=rtol, atol=atol)
        return report
    with progress.step(f"loading {source}"):
        resolved = resolve(source, options)
    mlir, input_type = lower_source(resolved, via, progress)
    artifact = compile_text(mlir, spec, input_type=input_type, name=source, progress=progress)
    report = VerifyReport(source, spec.target, via, seed, rtol, atol, "PyTorch eager")
    report.checks = torch_checks(
        resolved.functions,
        artifact.module(device),
        seed=seed,
        rtol=rtol,
        atol=atol,
        progress=progress,
    )
    return report
