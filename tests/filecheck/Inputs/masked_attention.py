"""Scaled-dot-product attention with a boolean mask, as transformers' sdpa attention calls it:
torch's SDPA math checks for fully masked rows with `all(scores == -inf)`, a bool reduction
(tests/filecheck/iree/cuda-i1-reduction.mlir). Its first query row is masked everywhere,
so the check finds one."""

import torch
from torch import nn


class MaskedAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(16, 48)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).unflatten(-1, (3, 2, 8)).permute(2, 0, 3, 1, 4)
        mask = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).tril()
        mask[0] = False  # a fully masked row: SDPA's math gives it zeros, not NaN
        return nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def example_inputs():
    return (torch.randn(1, 8, 16),)
