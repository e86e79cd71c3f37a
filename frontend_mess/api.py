"""The Python API: `import_model`, `compile`, `verify`, `analyze`, a thin layer over the one
pipeline (pipeline.py), as torch-mlir's `fx.export_and_import` is over its `FxImporter` and
iree-turbine's `aot.export` over its exporter.

Each takes a source string (anything `frontend-mess import` takes) or an `nn.Module` with
example args, and the same options as the command line:

    model = frontend_mess.import_model(torch.nn.Linear(4, 2), (torch.randn(3, 4),))
    artifact = model.compile()          # -> Artifact (llvm-cpu)
    outputs = artifact.run(x)           # NumPy arrays
    report = frontend_mess.verify(module, (x,))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from frontend_mess.backend.artifact import Artifact
from frontend_mess.backend.targets import target_spec
from frontend_mess.defaults import (
    DEFAULT_CPU,
    DEFAULT_CUDA_ARCH,
    DEFAULT_EXPORT_MODE,
    DEFAULT_MAX_CACHE_LEN,
    DEFAULT_MODEL_DTYPE,
    DEFAULT_ONNX_EXPORTER,
    DEFAULT_ONNX_IMPORTER,
    DEFAULT_OUTPUT_KIND,
    DEFAULT_SEED,
    DEFAULT_SEQ_LEN,
    DEFAULT_TARGET,
    MODEL_DTYPES,
    VERIFY_SEED,
)
from frontend_mess.imported import ImportedModel
from frontend_mess.pipeline import (
    Loaded,
    load,
    parse_mlir_file,
    report_choices,
    to_kind,
)
from frontend_mess.shapes import DynamicDim, InputSpec, parse_input_spec
from frontend_mess.sources import SourceOptions
from frontend_mess.support.errors import FrontendError
from frontend_mess.support.mlir_types import walk
from frontend_mess.support.progress import QUIET, Progress
from frontend_mess.verify import VerifyReport, tolerances


def parse_specs(items: Sequence[str | InputSpec] | None) -> list[InputSpec]:
    return [s if isinstance(s, InputSpec) else parse_input_spec(s) for s in items or []]


def parse_dynamic(items: Sequence[int | str | DynamicDim] | None) -> list[DynamicDim]:
    return [d if isinstance(d, DynamicDim) else DynamicDim.parse(str(d)) for d in items or []]


def make_options(
    *,
    input_shapes: Sequence[str | InputSpec] | None = None,
    dynamic_dims: Sequence[int | str | DynamicDim] | None = None,
    weights: str | Path | None = None,
    task: str | None = None,
    seq_len: int = DEFAULT_SEQ_LEN,
    max_cache_len: int = DEFAULT_MAX_CACHE_LEN,
    attention: str | None = None,
    export: str = DEFAULT_EXPORT_MODE,
    onnx_importer: str = DEFAULT_ONNX_IMPORTER,
    onnx_exporter: str = DEFAULT_ONNX_EXPORTER,
    seed: int = DEFAULT_SEED,
    dtype: str = DEFAULT_MODEL_DTYPE,
    bind: dict[str, Sequence[int]] | None = None,
) -> SourceOptions:
    """The options of every command, from Python values (what the CLI's flags also build)."""
    if seq_len < 1:
        raise FrontendError(f"sequence length must be at least 1, got {seq_len}")
    if max_cache_len < 2:
        raise FrontendError(f"the KV cache needs at least 2 positions, got {max_cache_len}")
    if dtype not in MODEL_DTYPES:
        raise FrontendError(f"unknown dtype {dtype!r}: use one of {', '.join(MODEL_DTYPES)}")
    return SourceOptions(
        input_specs=parse_specs(input_shapes),
        weights=weights,
        task=task,
        seq_len=seq_len,
        max_cache_len=max_cache_len,
        attention=attention,
        dynamic_dims=parse_dynamic(dynamic_dims),
        export_mode=export,
        onnx_importer=onnx_importer,
        onnx_exporter=onnx_exporter,
        seed=seed,
        dtype=dtype,
        bound={name: [int(v) for v in values] for name, values in (bind or {}).items()},
    )


def _load(source, example_args, options: dict, progress: Progress, func_name="main") -> Loaded:
    if "onnx_importer_name" in options:  # the name this API used before
        options["onnx_importer"] = options.pop("onnx_importer_name")
    return load(
        source,
        make_options(**options),
        example_args=example_args,
        func_name=func_name,
        progress=progress,
    )


def _memo(source, example_args, options: dict, params: str, store, progress: Progress):
    """The source's stages (store/stages.py): through the store at `store` (a directory)
    where one is given, else computed here; the same stages the command line runs."""
    from frontend_mess.store.manifest import Run
    from frontend_mess.store.objects import Store
    from frontend_mess.store.stages import Memo

    if "onnx_importer_name" in options:  # the name this API used before
        options["onnx_importer"] = options.pop("onnx_importer_name")
    run = Run(Store(store, progress) if store is not None else None, "api", progress=progress)
    return Memo(
        run,
        source,
        make_options(**options),
        example_args=tuple(example_args) if example_args is not None else None,
        params=params,
        progress=progress,
    )


def import_model(
    source_or_module,
    example_args: Sequence | None = None,
    to: str = DEFAULT_OUTPUT_KIND,
    *,
    func_name: str = "main",
    progress: Progress = QUIET,
    **options,
) -> ImportedModel:
    """Import a model to MLIR of kind `to` (fx, raw, torch, linalg, tosa, stablehlo).

    `source_or_module` is anything `frontend-mess import` takes (a torchvision name,
    `path/model.py[:NAME]`, `hf:DIR`, `hf-config:DIR_OR_FILE`, `path/model.onnx`) or an
    `nn.Module`, which then needs `example_args` or `input_shapes`. Options as `make_options`
    takes them; `dynamic_dims` marks dimensions symbolic: `0` is dim 0 of every input, `"1:0"`
    dim 0 of input 1. The result can `.save()`, `.compile()` and `.verify()`.
    """
    loaded = _load(source_or_module, example_args, options, progress, func_name)
    report_choices(loaded, progress)
    return to_kind(loaded, to, progress)


def compile(  # noqa: A001  (the public name mirrors iree.compiler.compile_*)
    source_or_module,
    example_args: Sequence | None = None,
    target: str = DEFAULT_TARGET,
    *,
    via: str | None = None,
    cpu: str = DEFAULT_CPU,
    cuda_arch: str = DEFAULT_CUDA_ARCH,
    iree_flags: Sequence[str] = (),
    keep_diagnostics: str | Path | None = None,
    params: str = "inline",
    store: str | Path | None = None,
    progress: Progress = QUIET,
    **options,
) -> Artifact:
    """Import `source_or_module` (a source string, a .mlir/.mlirbc file, or an `nn.Module`
    with `example_args`) and compile it with IREE; returns an `Artifact` to save, inspect and
    `.run()`. `params="external"` (or `"auto"`) keeps the weights out of the `.vmfb`, in a
    parameter archive the artifact maps at run time (`artifact.parameters`); `store` names a
    store directory whose cached stages are used and filled (none by default)."""
    if isinstance(example_args, str):  # compile("resnet18", "cuda"): the old signature
        example_args, target = None, example_args
    spec = target_spec(target, cpu=cpu, cuda_arch=cuda_arch, extra_flags=tuple(iree_flags))
    memo = _memo(source_or_module, example_args, options, params, store, progress)
    artifact = memo.artifact(spec, via, keep_diagnostics=keep_diagnostics)
    memo.run.finish()
    return artifact


def verify(
    source_or_module,
    example_args: Sequence | None = None,
    target: str = DEFAULT_TARGET,
    *,
    via: str | None = None,
    input_seed: int = VERIFY_SEED,
    rtol: float | None = None,
    atol: float | None = None,
    device: str | None = None,
    cpu: str = DEFAULT_CPU,
    cuda_arch: str = DEFAULT_CUDA_ARCH,
    iree_flags: Sequence[str] = (),
    params: str = "inline",
    store: str | Path | None = None,
    progress: Progress = QUIET,
    **options,
) -> VerifyReport:
    """Compile, run on fresh seeded random inputs and compare every output with the
    framework's own (PyTorch eager, or onnxruntime for ONNX); `report.ok` says whether all
    outputs are within `atol + rtol * max|reference|`. The inputs are drawn from
    `input_seed`; `seed` (an option, as for `import_model`) is the random weights'. `params`
    and `store` as for `compile`. `rtol`/`atol` default to the `dtype` option's
    (defaults.VERIFY_TOLERANCES)."""
    spec = target_spec(target, cpu=cpu, cuda_arch=cuda_arch, extra_flags=tuple(iree_flags))
    memo = _memo(source_or_module, example_args, options, params, store, progress)
    rtol, atol = tolerances(memo.options.dtype, rtol, atol)
    report = memo.verify(spec, via, seed=input_seed, rtol=rtol, atol=atol, device=device)
    memo.run.finish()
    return report


def linalg_module(source, options: SourceOptions | None = None, progress: Progress = QUIET):
    """linalg-on-tensors as a torch_mlir `ir.Module`: imported from a source, or parsed from a
    `.mlir`/`.mlirbc` file (which must hold linalg already)."""
    loaded = load(source, options or SourceOptions(), progress=progress)
    if loaded.kind == "mlir":
        module = parse_mlir_file(loaded.mlir_path)
        if not _has_linalg(module.operation):
            raise FrontendError(
                f"{loaded.mlir_path} has no linalg op to analyze: give linalg-on-tensors IR "
                f"(`frontend-mess import MODEL --to linalg`) or the model source itself"
            )
        return module
    report_choices(loaded, progress)
    return to_kind(loaded, "linalg", progress).mlir_module


def _has_linalg(op) -> bool:
    return any(o.name.startswith("linalg.") for o in walk(op))


def analyze(source_or_module, example_args: Sequence | None = None, *, progress=QUIET, **options):
    """The linalg workload, op by op (-> `analysis.Analysis`): named ops, loop structures,
    MACs, FLOPs and bytes (notes/analysis.md)."""
    from frontend_mess.analysis.analyze import analyze_module

    if isinstance(source_or_module, str | Path):
        module = linalg_module(str(source_or_module), make_options(**options), progress)
        name = str(source_or_module)
    else:
        loaded = _load(source_or_module, example_args, options, progress)
        module = to_kind(loaded, "linalg", progress).mlir_module
        name = loaded.name
    return analyze_module(module, name)
