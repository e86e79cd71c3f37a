"""frontend-mess: get a neural net out of its framework and into MLIR, correctly.

import frontend_mess
model = frontend_mess.import_model("resnet18", to="linalg")
model.save("resnet18.mlirbc")
print(model.format_stats())
"""

from .api import compile, import_model
from .artifact import Artifact
from .errors import FrontendError
from .imported import ImportedModel

__all__ = ["Artifact", "FrontendError", "ImportedModel", "compile", "import_model"]
