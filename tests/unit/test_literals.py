"""The fast literal hook must build exactly what torch-mlir's default path builds."""

import torch
from torch_mlir import fx

from frontend_mess.importers.literals import torch_mlir_hooks


class Mixed(torch.nn.Module):
    """Weights of several dtypes and a one-element buffer (which the default path splats)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(5, 7)
        self.register_buffer("table", torch.arange(12, dtype=torch.int64).reshape(3, 4))
        self.register_buffer("scale", torch.tensor([0.5]))
        self.register_buffer("offset", torch.randn(7).half())
        self.register_buffer("mask", torch.tensor([True, False, True, True, False, True, False]))

    def forward(self, x, i):
        y = self.fc(x) * self.scale + self.offset.float()
        return torch.where(self.mask, y, 0.0), self.table[i]


def test_same_module_text_as_the_default_path():
    program = torch.export.export(Mixed(), (torch.randn(2, 5), torch.tensor([1, 2])), strict=False)
    for kind in ("raw", "linalg-on-tensors"):
        default = str(fx.export_and_import(program, output_type=kind))
        fast = str(fx.export_and_import(program, output_type=kind, hooks=torch_mlir_hooks()))
        assert fast == default
