"""The MLP of issue 13's zoo: 512-1024-1024-10 with ReLUs, batch 32."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def example_inputs() -> tuple[torch.Tensor]:
    return (torch.randn(32, 512),)
