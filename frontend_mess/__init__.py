"""frontend-mess: get a neural net out of its framework and into MLIR, correctly.

import frontend_mess
model = frontend_mess.import_model("resnet18", to="linalg")
model.save("resnet18.mlirbc")
artifact = model.compile()                       # IREE, llvm-cpu
report = frontend_mess.verify(torch.nn.Linear(4, 2), (torch.randn(3, 4),))
"""

from frontend_mess.api import analyze, compile, import_model, verify
from frontend_mess.backend.artifact import Artifact
from frontend_mess.imported import ImportedModel
from frontend_mess.support.errors import FrontendError, StageError

__all__ = [
    "Artifact",
    "FrontendError",
    "ImportedModel",
    "StageError",
    "analyze",
    "compile",
    "import_model",
    "verify",
]
