"""The source resolver: one place that turns what a user names into modules and their inputs.

The CLI and the Python API both call `resolve`, so `frontend-mess import X` and
`import_model("X")` can never disagree about what X means.

Accepted forms:
  NAME, torchvision:NAME       a torchvision classification model (random weights by default)
  path/model.py[:NAME]         an nn.Module class, factory or instance in a Python file
  hf:DIR_OR_ID                 a Hugging Face transformers model, `from_pretrained`
  hf-config:DIR_OR_FILE        a transformers config.json, random weights
  path/model.onnx              an ONNX file (imported by importers/onnx.py, not traced)
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from frontend_mess.defaults import (
    DEFAULT_EXPORT_MODE,
    DEFAULT_MAX_CACHE_LEN,
    DEFAULT_MODEL_DTYPE,
    DEFAULT_ONNX_EXPORTER,
    DEFAULT_ONNX_IMPORTER,
    DEFAULT_SEED,
    DEFAULT_SEQ_LEN,
    DTYPES,
)
from frontend_mess.importers import hf, pyfile
from frontend_mess.importers import torchvision_models as torchvision
from frontend_mess.shapes import DynamicDim, InputSpec, random_inputs, spec_of
from frontend_mess.support.errors import FrontendError

FORMS = (
    "a torchvision model name (see `frontend-mess models`), path/model.py[:NAME], "
    "hf:DIR, hf-config:DIR_OR_FILE or path/model.onnx"
)
ONNX_SUFFIX = ".onnx"


@dataclass
class SourceOptions:
    """Everything besides the source string that decides what a source becomes: what is
    traced, how it is exported and imported. One object, built once by the CLI (`cli.py`) or
    the API (`api.py`) and read by every stage of the pipeline, so an option exists once."""

    input_specs: list[InputSpec] = field(default_factory=list)
    weights: str | Path | None = None
    task: str | None = None
    seq_len: int = DEFAULT_SEQ_LEN
    #: --task text-generation-with-past: the KV cache's positions (importers/hf_generation.py)
    max_cache_len: int = DEFAULT_MAX_CACHE_LEN
    attention: str | None = None
    #: dimensions traced as symbolic (torch sources; ONNX inputs keep their own `?` dims).
    dynamic_dims: list[DynamicDim] = field(default_factory=list)
    #: torch.export mode: auto (non-strict, strict on a data-dependent value), strict, ...
    export_mode: str = DEFAULT_EXPORT_MODE
    #: ONNX importer for ONNX files and for `--via onnx` (torch-mlir's or IREE's).
    onnx_importer: str = DEFAULT_ONNX_IMPORTER
    #: torch.onnx.export's exporter for the ONNX paths: dynamo (torch's current) or torchscript.
    onnx_exporter: str = DEFAULT_ONNX_EXPORTER
    #: the seed random weights are drawn from (`seeded`).
    seed: int = DEFAULT_SEED
    #: --dtype: weights, floating-point inputs and compute (in_dtype); f32, f16 or bf16.
    dtype: str = DEFAULT_MODEL_DTYPE
    #: --bind NAME=V,...: ONNX graph inputs made constants of these integers before import
    #: (importers/onnx_specialize.py: a reduction's axes given as an input).
    bound: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class Function:
    """One function of the MLIR module to be: a module to trace and its example inputs."""

    module: object  # torch.nn.Module
    example_args: tuple
    #: (input index, dim) -> the largest size that dim may take when it is made dynamic (a
    #: text model's sequence length is bounded by its position embeddings).
    dim_limits: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def input_specs(self) -> list[InputSpec]:
        return [spec_of(a) for a in self.example_args]

    @property
    def input_names(self) -> list[str]:
        """One name per input: the module's own `input_names` (the Hugging Face wrappers,
        whose forward takes `*tensors`), else its forward's positional parameters; [] where
        they do not match the inputs one to one."""
        import torch

        if not all(isinstance(a, torch.Tensor) for a in self.example_args):
            return []  # torch.export flattens tuples and drops the rest: no one-to-one names
        names = getattr(self.module, "input_names", None)
        if names is None:
            try:
                parameters = inspect.signature(self.module.forward).parameters.values()
            except (TypeError, ValueError, AttributeError):
                return []
            positional = (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            )
            names = [p.name for p in parameters if p.kind in positional]
        names = list(names)[: len(self.example_args)]
        return names if len(names) == len(self.example_args) else []


@dataclass
class ModelSource:
    name: str
    #: MLIR function name -> what to trace; one "main" for most models, an encoder and a
    #: decoder step for encoder-decoders.
    functions: dict[str, Function]
    #: choices made for the user (task, attention implementation), reported on stderr.
    choices: dict[str, str] = field(default_factory=dict)

    @classmethod
    def single(cls, name: str, module, example_args: tuple) -> ModelSource:
        return cls(name, {"main": Function(module, example_args)})

    @property
    def main(self) -> Function:
        return next(iter(self.functions.values()))


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Build a model with torch's, NumPy's and Python's generators seeded (all three restored
    afterwards, so an API caller's own streams are untouched): random initial weights are a
    function of `seed`, and two imports of the same source write the same bytes."""
    import random

    import numpy as np
    import torch

    numpy_state, python_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


def is_onnx(source: str) -> bool:
    return source.endswith(ONNX_SUFFIX)


def short_name(source: str) -> str:
    """A file-name stem for a source: `torchvision:resnet18` -> resnet18, `model.py:Net` ->
    Net, `hf-config:dir/bert.json` -> bert, `hf:./my-bert` -> my-bert."""
    if pyfile.looks_like_python_file(source):
        path, name = pyfile.split_source(source)
        return name or path.stem
    for prefix in (torchvision.PREFIX, *hf.PREFIXES):
        source = source.removeprefix(prefix)
    return Path(source.rstrip("/")).stem or "model"


def known_models() -> dict[str, list[InputSpec]]:
    """Named sources and the input each is imported with by default."""
    return {
        f"{torchvision.PREFIX}{name}": torchvision.default_input_specs(name)
        for name in torchvision.all_model_names()
    }


def check_arity(module, args: tuple, name: str) -> None:
    """`--input-shape` given once per input: a count `forward` cannot take is the user's
    mistake, said before torch.export fails on it ("too many positional arguments")."""
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):  # a builtin or C forward: torch.export will say
        return
    try:
        signature.bind(*args)
    except TypeError:
        takes = ", ".join(signature.parameters) or "no arguments"
        raise FrontendError(
            f"--input-shape given {len(args)} time(s), but {name}'s forward takes ({takes}): "
            f"give one --input-shape per input"
        ) from None


def _inputs(name: str, given: list[InputSpec], default: tuple | None) -> tuple:
    if given:
        return random_inputs(given)
    if default is None:
        raise FrontendError(
            f"{name} has no example inputs: define example_inputs() in the file or pass "
            f"--input-shape, e.g. --input-shape 1x3x224x224"
        )
    return default


def _resolve_hf(source: str, options: SourceOptions) -> ModelSource:
    if options.weights is not None:
        raise FrontendError("--weights applies to torchvision models; hf: loads its own weights")
    with seeded(options.seed):
        model, task, attention = hf.load(
            source, task=options.task, attention=options.attention, seed=options.seed
        )
    if options.dtype != DEFAULT_MODEL_DTYPE:  # before the example cache is computed from it
        model.to(torch_dtype(options.dtype))
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0:  # XLNet says -1: no limit
        limit = None
    if limit is not None and options.seq_len > limit:
        raise FrontendError(
            f"--seq-len {options.seq_len} is more than {source} has positions for "
            f"(max_position_embeddings {limit})"
        )
    parts = hf.functions(model, task, seq_len=options.seq_len, max_cache_len=options.max_cache_len)
    if options.input_specs:
        raise FrontendError(
            f"--input-shape does not apply to {source}: its inputs come from its config "
            f"(use --seq-len for the sequence length)"
        )
    functions = {
        name: Function(module, args, _sequence_limits(args, limit))
        for name, (module, args) in parts.items()
    }
    choices = {"task": task, "attention": attention, "functions": ", ".join(functions)}
    if task == hf.GENERATION_TASK:
        choices["cache"] = (
            f"static, {options.max_cache_len} positions (--max-cache-len); prompt padded to "
            f"{options.seq_len} (--seq-len)"
        )
    if not source.startswith(hf.PRETRAINED_PREFIX):
        choices["weights"] = f"random, --seed {options.seed}"
    return ModelSource(source, functions, choices)


def _sequence_limits(args: tuple, limit: int | None) -> dict[tuple[int, int], int]:
    """Token inputs (integer, batch x sequence) may grow to the position embeddings' size:
    torch.export rejects an unbounded dynamic sequence dim for such a model ("Not all values
    of dim1 ... satisfy the generated guard ... <= 64"; pytorch #140011's class of error)."""
    if not limit:
        return {}
    return {
        (index, 1): int(limit)
        for index, arg in enumerate(args)
        if getattr(arg, "dim", lambda: 0)() == 2 and not arg.dtype.is_floating_point
    }


def resolve(source: str, options: SourceOptions | None = None) -> ModelSource:
    """Turn a source string into modules in eval mode and example inputs for them (in
    `options.dtype`)."""
    options = options or SourceOptions()
    return in_dtype(_resolve(source, options), options.dtype)


def in_dtype(model: ModelSource, dtype: str) -> ModelSource:
    """--dtype: each function's module (its floating-point weights and buffers) and its
    floating-point example inputs cast to `dtype`, so torch.export traces the model computing
    in it, as `model.to(dtype)` would run in PyTorch; integer inputs (token ids, masks) stay."""
    if dtype == DEFAULT_MODEL_DTYPE:
        return model
    for function in model.functions.values():
        function.module.to(torch_dtype(dtype))
        function.example_args = cast_inputs(function.example_args, dtype)
    model.choices["dtype"] = f"{dtype} weights, inputs and compute (--dtype)"
    return model


def torch_dtype(dtype: str):  # -> torch.dtype, without importing torch at module load
    import torch

    return getattr(torch, DTYPES[dtype])


def cast_inputs(args: tuple, dtype: str) -> tuple:
    """Floating-point tensors cast to `dtype`; integer tensors and other values as they are."""
    import torch

    if dtype == DEFAULT_MODEL_DTYPE:
        return tuple(args)
    return tuple(
        a.to(torch_dtype(dtype)) if isinstance(a, torch.Tensor) and a.is_floating_point() else a
        for a in args
    )


def _resolve(source: str, options: SourceOptions) -> ModelSource:
    if hf.is_source(source):
        return _resolve_hf(source, options)
    if pyfile.looks_like_python_file(source):
        if options.weights is not None:
            raise FrontendError("--weights applies to torchvision models; load weights in the file")
        with seeded(options.seed):
            loaded = pyfile.load(source)
        args = _inputs(loaded.name, options.input_specs, loaded.example_args)
        if options.input_specs:
            check_arity(loaded.module, args, loaded.name)
        model = ModelSource.single(loaded.name, loaded.module, args)
        model.choices["seed"] = f"{options.seed} (torch, numpy, random seeded as the file runs)"
        return model
    name = source.removeprefix(torchvision.PREFIX)
    if torchvision.is_model_name(name):
        with seeded(options.seed):
            model = torchvision.build(name, options.weights)
        default = random_inputs(torchvision.default_input_specs(name))
        args = _inputs(name, options.input_specs, default)
        if options.input_specs:
            check_arity(model, args, name)
        resolved = ModelSource.single(f"{torchvision.PREFIX}{name}", model, args)
        if options.weights is None:
            resolved.choices["weights"] = f"random, --seed {options.seed}"
        fixed = torchvision.what_is_fixed(name)
        if fixed:
            resolved.choices["fixed"] = fixed
        return resolved
    if source.startswith(torchvision.PREFIX):
        torchvision.build(name)  # raises the unknown-name error with suggestions
    if Path(source).exists():
        raise FrontendError(f"{source} is not a model source frontend-mess can read: give {FORMS}")
    close = difflib.get_close_matches(name, torchvision.all_model_names(), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"give {FORMS}"
    raise FrontendError(f"unknown model {source!r}: {hint}")
