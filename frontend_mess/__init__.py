"""frontend-mess: get a neural net out of its framework and into MLIR, correctly.

import frontend_mess
model = frontend_mess.import_model("resnet18", to="linalg")
model.save("resnet18.mlirbc")
print(model.format_stats())
"""

from .api import import_model
from .errors import FrontendError
from .imported import ImportedModel

__all__ = ["FrontendError", "ImportedModel", "import_model"]
