# The Python API: import_model on an nn.Module returns an object with text, stats and save.
# RUN: %python %s %t | filecheck %s

import sys

import torch

import frontend_mess


class Scale(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x) * 3.0


model = frontend_mess.import_model(Scale(), (torch.randn(2, 3),), to="linalg")
# CHECK: kind=linalg source=Scale
print(f"kind={model.kind} source={model.source}")
# CHECK: func.func @main(%arg0: tensor<2x3xf32>) -> tensor<2x3xf32>
# CHECK: math.tanh
print(model.text)
# CHECK: math.tanh=1
print(f"math.tanh={model.stats()['math.tanh']}")
# CHECK: saved=True
print(f"saved={model.save(sys.argv[1] + '.mlir').read_text() == model.text}")
