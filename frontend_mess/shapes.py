"""Example-input specifications: `1x3x224x224`, `2x16:i64`, `x=1x3x224x224:f16`.

A spec names the shape and dtype of one example input. frontend-mess makes seeded random
tensors from specs, because torch.export traces with concrete values and the importer only
needs their shapes and dtypes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from frontend_mess.defaults import (
    DEFAULT_DTYPE,
    DTYPES,
    EXAMPLE_INPUT_SEED,
    INT_INPUT_HIGH,
    MAX_INPUT_ELEMENTS,
)
from frontend_mess.support.errors import FrontendError

_SPEC = re.compile(r"^(?:(?P<name>[A-Za-z_][\w.]*)=)?(?P<dims>\d+(?:x\d+)*|)(?::(?P<dtype>\w+))?$")
# IREE's spelling of the same thing, as `run --input 2x16xi64=random` takes it: the dtype is
# the last `x`-separated part.
_IREE_SPEC = re.compile(r"^(?:(?P<dims>\d+(?:x\d+)*)x)?(?P<dtype>[a-z][a-zA-Z0-9]*)$")
# IREE's element names that differ from the short names above.
_IREE_NAMES = {"u8": "ui8"}


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int, ...]
    dtype: str = DEFAULT_DTYPE
    name: str | None = None

    def __str__(self) -> str:
        dims = "x".join(str(d) for d in self.shape)
        prefix = f"{self.name}=" if self.name else ""
        return f"{prefix}{dims}:{self.dtype}"

    @property
    def iree_dtype(self) -> str:
        """The element type as IREE's signatures spell it (`u8` -> `ui8`)."""
        return _IREE_NAMES.get(self.dtype, self.dtype)

    @property
    def torch_dtype(self):  # -> torch.dtype, without importing torch at module load
        import torch

        return getattr(torch, DTYPES[self.dtype])

    def random(self, generator=None):
        """A random tensor of this spec: normal floats, or integers in [0, INT_INPUT_HIGH)."""
        import torch

        dtype = self.torch_dtype
        if dtype.is_floating_point:
            return torch.randn(self.shape, generator=generator, dtype=torch.float32).to(dtype)
        if dtype == torch.bool:
            return torch.randint(0, 2, self.shape, generator=generator).to(torch.bool)
        return torch.randint(0, INT_INPUT_HIGH, self.shape, generator=generator, dtype=dtype)


def parse_input_spec(text: str) -> InputSpec:
    """Parse `[NAME=]D0xD1x...[:DTYPE]` (a bare `:i64` is a scalar tensor), or IREE's spelling
    `D0xD1x...xDTYPE` (`2x16xi64`), so `import --input-shape` and `run --input` take both."""
    match = _SPEC.match(text.strip())
    if not match:
        iree = _IREE_SPEC.match(text.strip())
        known = (*DTYPES, *_IREE_NAMES.values())
        match = iree if iree and iree["dtype"] in known else None
    if not match:
        raise FrontendError(
            f"malformed input shape {text!r}: expected dimensions joined by 'x' with an optional "
            f"dtype, e.g. 1x3x224x224 or 2x16:i64"
        )
    dtype = match["dtype"] or DEFAULT_DTYPE
    dtype = {iree: short for short, iree in _IREE_NAMES.items()}.get(dtype, dtype)
    if dtype not in DTYPES:
        raise FrontendError(
            f"unknown dtype {dtype!r} in input shape {text!r}: use one of {', '.join(DTYPES)}"
        )
    dims = match["dims"]
    shape = tuple(int(d) for d in dims.split("x")) if dims else ()
    check_elements(shape, text)
    return InputSpec(shape=shape, dtype=dtype, name=match.groupdict().get("name"))


def check_elements(shape: tuple[int, ...], text: str) -> None:
    """Refuse a shape too large to allocate before anything tries to (a 99999999x99999999
    input would fail deep inside torch or NumPy with an out-of-memory or overflow error)."""
    elements = 1
    for dim in shape:
        elements *= dim
    if elements > MAX_INPUT_ELEMENTS:
        raise FrontendError(
            f"input shape {text!r} has {elements:.3g} elements; frontend-mess makes inputs of "
            f"at most {MAX_INPUT_ELEMENTS:,} elements"
        )


def spec_of(tensor) -> InputSpec:
    """The spec that describes an existing tensor, for messages and signatures."""
    reverse = {v: k for k, v in DTYPES.items()}
    dtype = reverse.get(str(tensor.dtype).removeprefix("torch."), str(tensor.dtype))
    return InputSpec(shape=tuple(tensor.shape), dtype=dtype)


def random_inputs(specs: list[InputSpec], seed: int = EXAMPLE_INPUT_SEED) -> tuple:
    """Seeded random tensors, so the same specs always give the same example inputs."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return tuple(spec.random(generator) for spec in specs)


@dataclass(frozen=True)
class DynamicDim:
    """Dimension `dim` of input `arg`, or of every input when `arg` is None (a shared symbol,
    the usual meaning of "dynamic batch")."""

    dim: int
    arg: int | None = None

    @classmethod
    def parse(cls, text: str) -> DynamicDim:
        arg, sep, dim = text.strip().rpartition(":")
        try:
            parsed = cls(dim=int(dim), arg=int(arg) if sep else None)
            if parsed.dim < 0 or (parsed.arg or 0) < 0:
                raise ValueError("negative")
            return parsed
        except ValueError:
            raise FrontendError(
                f"malformed dynamic dimension {text!r}: expected DIM (every input) or "
                f"ARG:DIM, e.g. 0 or 1:0"
            ) from None

    def inputs(self, count: int) -> list[int]:
        """The indices of the inputs (of `count`) this dim is on."""
        return list(range(count)) if self.arg is None else [self.arg]

    def symbol(self) -> str:
        return f"dim{self.dim}" if self.arg is None else f"arg{self.arg}_dim{self.dim}"
