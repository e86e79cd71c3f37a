"""What hf-tiny's models do with int64 (token ids, an attention mask): a lookup in an int64
buffer by the ids and the mask cast to float. torch-mlir's TOSA keeps the int64, which TOSA's
profiles do not have (IREE rejects `tosa.gather` and `tosa.cast` on it)."""

import torch


class TokenTypes(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("types", torch.arange(16, dtype=torch.int64) % 3)

    def forward(self, ids, mask):
        return self.types[ids].to(torch.float32) * mask.to(torch.float32)


def example_inputs():
    return (torch.randint(0, 16, (1, 8)), torch.ones(1, 8, dtype=torch.int64))
