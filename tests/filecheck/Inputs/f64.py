"""A module that computes in f64 between f32 inputs and outputs (torch-mlir's TOSA form casts
through f64, which TOSA's profiles do not have)."""

import torch


class DoubleScale(torch.nn.Module):
    def forward(self, x):
        return (x.double() * 2.5).float()


def example_inputs():
    return (torch.randn(3, 4),)
