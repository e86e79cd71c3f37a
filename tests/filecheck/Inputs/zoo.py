"""Several modules in one file, so a test must name one: `zoo.py:NAME`."""

import torch
from torch import nn


class Embed(nn.Module):
    """Token ids in, embeddings summed over the sequence out: needs an i64 input."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Embedding(10, 6)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table(ids).sum(dim=1)


class AddMul(nn.Module):
    """Two inputs: checks that each gets its own --input-shape."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * b + a


def make_conv() -> nn.Module:
    """A factory, not a class."""
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())


class DataDependent(nn.Module):
    """Python control flow on a tensor value: torch.export cannot trace this."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2
        return x - 1


class Vanishing(nn.Module):
    """Its output all but ignores the input, as an untrained googlenet's does: a check that
    passes on it says little, and verify says so."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=1, keepdim=True) * 1e-12 + self.bias
