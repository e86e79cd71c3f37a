"""The run and compare stages: run the compiled module on fresh seeded random inputs and
compare every output with the framework's own result, PyTorch eager for torch sources and
onnxruntime for ONNX models. A model with dynamic dims is checked at two sizes of each."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np

from frontend_mess.defaults import (
    MIN_DYNAMIC_EXAMPLE_SIZE,
    VERIFY_SEED,
    VERIFY_TOLERANCES,
)
from frontend_mess.shapes import DynamicDim
from frontend_mess.support.arrays import to_numpy
from frontend_mess.support.errors import FrontendError, RunError, first_lines
from frontend_mess.support.progress import QUIET, Progress


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

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, allow_nan=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> VerifyReport:
        data = json.loads(text)
        checks = [OutputCheck(**{**c, "shape": tuple(c["shape"])}) for c in data.pop("checks")]
        return cls(**data, checks=checks)

    def text(self) -> str:
        head = (
            f"verify {self.source} on {self.target} via {self.via} against {self.reference}"
            f" (seed {self.seed}, rtol {self.rtol:g}, atol {self.atol:g})"
        )
        verdict = "PASS" if self.ok else "FAIL"
        return "\n".join([head, *(c.line() for c in self.checks), verdict]) + "\n"


def allowed_error(peak: float, rtol: float, atol: float) -> float:
    """The largest absolute error an output passes with: atol + rtol x its largest magnitude."""
    return atol + rtol * peak


def tolerances(dtype: str, rtol: float | None, atol: float | None) -> tuple[float, float]:
    """(rtol, atol): the given ones, else the defaults for the model's --dtype."""
    default_rtol, default_atol = VERIFY_TOLERANCES[dtype]
    return (default_rtol if rtol is None else rtol, default_atol if atol is None else atol)


def compare(
    function: str, index: int, got: np.ndarray, want: np.ndarray, rtol: float, atol: float
) -> OutputCheck:
    if got.shape != want.shape:
        return OutputCheck(function, index, want.shape, float("inf"), float("inf"), False, 1.0)
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    with np.errstate(all="ignore"):  # inf - inf would be NaN: equal values differ by 0
        same = (got64 == want64) | (np.isnan(got64) & np.isnan(want64))
        # matching infinities and NaNs are a match, not a NaN error (0-d outputs included)
        diff = np.where(same, 0.0, np.abs(got64 - want64))
        max_abs = float(diff.max()) if diff.size else 0.0
        scale = np.maximum(np.abs(want64), np.finfo(np.float32).tiny)
        max_rel = float((diff / scale).max()) if diff.size else 0.0
    # Scale-aware: the error may be rtol of the output's largest magnitude (its finite values:
    # an infinity matched exactly says nothing about scale). Elementwise relative error is
    # reported but not judged: it blows up where values cancel to near zero.
    finite = np.abs(want64[np.isfinite(want64)])
    peak = float(finite.max()) if finite.size else 0.0
    ok = bool(np.isfinite(max_abs) and max_abs <= allowed_error(peak, rtol, atol)) or (
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
            with np.errstate(all="ignore"):
                change = float(np.abs(a - b).max())
            check.insensitive = change <= INSENSITIVE_BELOW * max(float(np.abs(a).max()), 1e-30)


def fresh_like(example, generator, shape: tuple | None = None):
    """A new random tensor like an example input (of `shape` if given). Integer inputs stay in
    the example's range (token ids below the vocabulary size); a constant integer input (an
    all-ones attention mask) stays constant."""
    import torch

    shape = tuple(example.shape) if shape is None else shape
    if example.dtype.is_floating_point:
        return torch.randn(shape, generator=generator).to(example.dtype)
    low, high = int(example.min()), int(example.max())
    if low == high:
        return torch.full(shape, low, dtype=example.dtype)
    return torch.randint(low, high + 1, shape, generator=generator).to(example.dtype)


def check_shapes(example_args: tuple, dynamic: list[DynamicDim]) -> list[list[tuple]]:
    """The input shapes to check a function at: the traced ones, and, where dims are
    dynamic, a second set with each dynamic dim one larger (so a dynamic batch is run at two
    batch sizes)."""
    traced = [tuple(a.shape) for a in example_args]
    if not dynamic:
        return [traced]
    sets = []
    for extra in (0, 1):
        shapes = [list(s) for s in traced]
        for entry in dynamic:
            for index in entry.inputs(len(shapes)):
                if index < len(shapes) and entry.dim < len(shapes[index]):
                    size = max(traced[index][entry.dim], MIN_DYNAMIC_EXAMPLE_SIZE)
                    shapes[index][entry.dim] = size + extra
        sets.append([tuple(s) for s in shapes])
    return sets


def flatten_outputs(result) -> list:
    """Eager outputs in the order torch.export flattens them (pytree leaves: a dict's values
    in order, nested tuples), numbers as 0-d tensors as the exported program returns them."""
    import torch
    from torch.utils import _pytree as pytree

    if hasattr(result, "to_tuple"):  # a transformers ModelOutput
        result = result.to_tuple()
    leaves = []
    for leaf in pytree.tree_leaves(result):
        if isinstance(leaf, torch.Tensor):
            leaves.append(leaf)
        elif isinstance(leaf, bool | int | float):
            leaves.append(torch.tensor(leaf))
    return leaves


def torch_checks(
    functions: dict,
    module,
    *,
    seed: int,
    rtol: float,
    atol: float,
    dynamic: list[DynamicDim] | None = None,
    progress: Progress = QUIET,
) -> list[OutputCheck]:
    """Run each traced function in PyTorch eager and in the loaded IREE module on the same
    fresh inputs (at two sizes of each dynamic dim), and compare every output the model
    returns (outputs that are mutated inputs are dropped on both sides)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    checks: list[OutputCheck] = []
    for name, function in functions.items():
        iree_name = name if len(functions) > 1 else module.default_function()
        for shapes in check_shapes(function.example_args, dynamic or []):
            pairs = zip(function.example_args, shapes, strict=True)
            inputs = tuple(fresh_like(e, generator, s) for e, s in pairs)
            others = tuple(
                fresh_like(e, generator, s)
                for e, s in zip(function.example_args, shapes, strict=True)
            )
            # eager may mutate its inputs in place: give IREE its own copy, taken first
            arrays = [to_numpy(i.clone()) for i in inputs]
            try:
                with torch.no_grad():
                    expected = [to_numpy(t) for t in flatten_outputs(function.module(*inputs))]
                    second = [to_numpy(t) for t in flatten_outputs(function.module(*others))]
            except SystemExit as exc:
                raise FrontendError(
                    f"{name}: the model called sys.exit({exc.code!r}) in PyTorch eager"
                ) from None
            except Exception as exc:  # the user's model on the user's input shapes
                raise FrontendError(
                    f"{name}: PyTorch eager, the reference, failed on inputs "
                    f"{_shapes_text(shapes)}: {type(exc).__name__}: {first_lines(exc, 1)} "
                    f"(check --input-shape)"
                ) from exc
            with progress.step(f"running {iree_name} on {module.config.device}"):
                got = module.call(iree_name, arrays)
            if len(got) != len(expected):
                raise RunError(f"{name}: IREE returned {len(got)} outputs, PyTorch {len(expected)}")
            label = name if len(shapes) == 0 or not dynamic else f"{name} at {_shapes_text(shapes)}"
            these = [
                compare(label, i, g, e, rtol, atol)
                for i, (g, e) in enumerate(zip(got, expected, strict=True))
            ]
            mark_insensitive(these, expected, second)
            checks += these
    return checks


def _shapes_text(shapes: list[tuple]) -> str:
    return ", ".join("x".join(map(str, s)) or "scalar" for s in shapes)


def onnx_dynamic_inputs(model) -> list[str]:
    """Inputs of an ONNX model with a dimension that is not a fixed number."""
    from frontend_mess.importers.onnx_graph import graph_inputs

    return [
        i.name
        for i in graph_inputs(model)
        if any(not d.HasField("dim_value") for d in i.type.tensor_type.shape.dim)
    ]


def onnx_checks(model, module, *, seed: int, rtol: float, atol: float) -> list[OutputCheck]:
    """Run the ONNX model in onnxruntime and the loaded IREE module on the same random inputs
    (drawn from the compiled signature, and handed to onnxruntime in the types its graph
    declares: the float32 reference of a --dtype model takes the f16 draw exactly), and
    compare every output."""
    import onnxruntime

    from frontend_mess.importers.onnx_dtype import as_inputs_of

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
    expected = session.run(None, dict(zip(names, as_inputs_of(model, inputs), strict=True)))
    others = [t.random(rng) for t in signature.inputs]
    second = session.run(None, dict(zip(names, as_inputs_of(model, others), strict=True)))
    got = module.call(function, inputs)
    checks = [
        compare(function, i, g, np.asarray(e), rtol, atol)
        for i, (g, e) in enumerate(zip(got, expected, strict=True))
    ]
    mark_insensitive(checks, expected, second)
    return checks


def _check_comparable(loaded) -> None:
    if loaded.kind == "mlir":
        raise FrontendError(
            f"{loaded.name} is MLIR: there is no framework to compare with; verify the model "
            f"it came from"
        )


def check_verifiable(loaded) -> None:
    """What makes a loaded source impossible to verify, said before a full compile."""
    if loaded.kind == "onnx":
        dynamic = onnx_dynamic_inputs(loaded.onnx)
        if dynamic:
            raise FrontendError(
                f"{loaded.name} has inputs with dynamic dims ({', '.join(dynamic)}): give their "
                f"sizes with --input-shape NAME=DIMS to verify"
            )
    _check_comparable(loaded)


def verify_artifact(
    loaded,
    artifact,
    *,
    seed: int = VERIFY_SEED,
    rtol: float | None = None,
    atol: float | None = None,
    device: str | None = None,
    progress: Progress = QUIET,
) -> VerifyReport:
    """The run and compare stages for a source the pipeline loaded (pipeline.Loaded) and
    compiled into `artifact`; `rtol`/`atol` default to the --dtype's (VERIFY_TOLERANCES)."""
    _check_comparable(loaded)
    rtol, atol = tolerances(loaded.options.dtype, rtol, atol)
    via = artifact.via or "?"
    module = artifact.module(device)
    if loaded.kind == "onnx":
        report = VerifyReport(loaded.name, artifact.target, via, seed, rtol, atol, "onnxruntime")
        reference = loaded.onnx_reference()
        report.checks = onnx_checks(reference, module, seed=seed, rtol=rtol, atol=atol)
        return report
    report = VerifyReport(loaded.name, artifact.target, via, seed, rtol, atol, "PyTorch eager")
    report.checks = torch_checks(
        loaded.torch.functions,
        module,
        seed=seed,
        rtol=rtol,
        atol=atol,
        dynamic=loaded.options.dynamic_dims,
        progress=progress,
    )
    return report


def verify(
    loaded,
    spec,
    *,
    via: str | None = None,
    seed: int = VERIFY_SEED,
    rtol: float | None = None,
    atol: float | None = None,
    device: str | None = None,
    keep_diagnostics=None,
    options=None,
    progress: Progress = QUIET,
) -> VerifyReport:
    """Compile a loaded source (pipeline.Loaded, or a source string loaded here with
    `options`) for `spec` by `via` and verify it (every stage)."""
    from frontend_mess.pipeline import compile_loaded, load

    if isinstance(loaded, str):
        loaded = load(loaded, options, progress=progress)
    check_verifiable(loaded)
    artifact = compile_loaded(
        loaded, spec, via=via, keep_diagnostics=keep_diagnostics, progress=progress
    )
    return verify_artifact(
        loaded, artifact, seed=seed, rtol=rtol, atol=atol, device=device, progress=progress
    )
