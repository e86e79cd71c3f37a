"""A module with a non-persistent buffer, the way BERT keeps `position_ids` and RoPE keeps
`inv_freq`: torch-mlir's frozen import fails on it unless frontend-mess handles it
(torch-mlir #4744)."""

import torch
from torch import nn


class Rotary(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("inv_freq", torch.linspace(0.1, 1.0, 8), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x * self.inv_freq)


def example_inputs():
    return (torch.randn(2, 8),)
