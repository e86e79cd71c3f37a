"""torch tensors <-> NumPy arrays, bfloat16 included.

`Tensor.numpy()` refuses bfloat16 (NumPy has no such type); IREE's runtime takes and returns
ml_dtypes' `bfloat16` arrays (backend/signature.py). The bits are the same, so a bf16 tensor
crosses as a view of its 16-bit words, with no rounding on the way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ml_dtypes
import numpy as np

if TYPE_CHECKING:
    import torch


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A NumPy array of a CPU tensor's values (a copy-free view where NumPy allows it)."""
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.contiguous().view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


def to_torch(array: np.ndarray) -> torch.Tensor:
    """A tensor of an array's values (bf16 arrays as bfloat16 tensors)."""
    import torch

    array = np.asarray(array)
    if array.dtype == ml_dtypes.bfloat16:
        return torch.from_numpy(np.ascontiguousarray(array).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(array))
