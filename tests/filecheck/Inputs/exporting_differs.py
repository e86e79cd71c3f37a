"""A model whose exported program is not its eager self: it asks torch whether it is being
exported, and doubles its input only then. verify must catch it (tests that verify can fail)."""

import torch


class ExportingDiffers(torch.nn.Module):
    def forward(self, x):
        return x * (2.0 if torch.compiler.is_exporting() else 1.0)


def example_inputs():
    return (torch.randn(8, 4),)
