"""Characterize a model's workload: linalg ops, loop structures, MACs, FLOPs and bytes.

`frontend_mess.analyze` imports to linalg and counts, op by op, without compiling or running.
First a tiny model whose MACs are easy to count by hand (the check: the analysis counts the
same), then a model by name (default ResNet-18 at 224x224: its overview text, and its total
MACs, checked against the published 1.82 G where the model has a published count).

    uv run python examples/analyze.py
    uv run python examples/analyze.py --model mobilenet_v2
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import nn

import frontend_mess
from frontend_mess.analysis import report


class ConvAndLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.fc = nn.Linear(8 * 16 * 16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))


#: one multiply-accumulate per output element per reduction step
EXPECTED_MACS = (8 * 16 * 16) * (3 * 3 * 3) + 10 * (8 * 16 * 16)
#: published MACs at the default 224x224 input (torchvision's model docs), and how close to be
PUBLISHED_MACS = {"resnet18": 1.82e9, "mobilenet_v2": 0.30e9}
PUBLISHED_TOLERANCE = 0.02


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", help="any source `import` takes")
    parser.add_argument("--input-shape", help="e.g. 1x3x64x64 (default: the model's own)")
    args = parser.parse_args()

    tiny = frontend_mess.analyze(ConvAndLinear().eval(), (torch.randn(1, 3, 16, 16),))
    macs = tiny.totals()["macs"]
    print(f"tiny conv + linear: {macs:,} MACs (by hand: {EXPECTED_MACS:,})")
    if macs != EXPECTED_MACS:
        sys.exit(f"FAIL: the analysis counts {macs:,} MACs, expected {EXPECTED_MACS:,}")

    options = {"input_shapes": [args.input_shape]} if args.input_shape else {}
    analysis = frontend_mess.analyze(args.model, **options)
    text = report.text(analysis)
    # The overview: everything before the per-op tables.
    print(text.split("\niterators")[0].rstrip())
    total = analysis.totals()["macs"]
    published = PUBLISHED_MACS.get(args.model.removeprefix("torchvision:"))
    if published is None or args.input_shape:
        print(f"total MACs of {args.model}: {total / 1e9:.3f} G")
        print("OK: MACs counted as by hand")
        return
    print(f"total MACs of {args.model}: {total / 1e9:.3f} G (published: {published / 1e9:.2f} G)")
    if abs(total - published) > PUBLISHED_TOLERANCE * published:
        sys.exit(f"FAIL: {total:,} MACs is more than {PUBLISHED_TOLERANCE:.0%} off the published")
    print("OK: MACs counted as by hand and as published")


if __name__ == "__main__":
    main()
