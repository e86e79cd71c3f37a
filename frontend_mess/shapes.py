"""Example-input specifications: `1x3x224x224`, `2x16:i64`, `x=1x3x224x224:f16`.

A spec names the shape and dtype of one example input. frontend-mess makes seeded random
tensors from specs, because torch.export traces with concrete values and the importer only
needs their shapes and dtypes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .defaults import DEFAULT_DTYPE, DTYPES, EXAMPLE_INPUT_SEED, INT_INPUT_HIGH
from .errors import FrontendError

_SPEC = re.compile(r"^(?:(?P<name>[A-Za-z_][\w.]*)=)?(?P<dims>\d+(?:x\d+)*|)(?::(?P<dtype>\w+))?$")


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
    """Parse `[NAME=]D0xD1x...[:DTYPE]`; a bare `:i64` (no dims) is a scalar tensor."""
    match = _SPEC.match(text.strip())
    if not match:
        raise FrontendError(
            f"malformed input shape {text!r}: expected dimensions joined by 'x' with an optional "
            f"dtype, e.g. 1x3x224x224 or 2x16:i64"
        )
    dtype = match["dtype"] or DEFAULT_DTYPE
    if dtype not in DTYPES:
        raise FrontendError(
            f"unknown dtype {dtype!r} in input shape {text!r}: use one of {', '.join(DTYPES)}"
        )
    dims = match["dims"]
    shape = tuple(int(d) for d in dims.split("x")) if dims else ()
    return InputSpec(shape=shape, dtype=dtype, name=match["name"])


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
