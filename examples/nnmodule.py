"""Import a small PyTorch module to every output kind and print each op histogram.

Run it with `uv run python examples/nnmodule.py`; it needs nothing but this repository. The same
module can be imported from the command line, since it is also a valid model file:

    uv run frontend-mess import examples/nnmodule.py:TinyConvNet --to linalg
"""

from __future__ import annotations

import torch
from torch import nn

import frontend_mess
from frontend_mess.defaults import OUTPUT_KINDS


class TinyConvNet(nn.Module):
    """A convolution, a batch norm, a pooling layer and a classifier: the ops most CNNs need."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.norm(self.conv(x)))
        return self.head(torch.flatten(self.pool(x), 1))


def example_inputs() -> tuple[torch.Tensor]:
    return (torch.randn(1, 3, 32, 32),)


def main() -> None:
    module = TinyConvNet().eval()
    for kind in OUTPUT_KINDS:
        imported = frontend_mess.import_model(module, example_inputs(), to=kind)
        print(f"== {kind}: {sum(imported.stats().values())} ops")
        print(imported.format_stats())


if __name__ == "__main__":
    main()
