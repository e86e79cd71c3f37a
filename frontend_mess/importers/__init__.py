"""One module per source framework; each turns its source into something `torch.py` (or, for
ONNX, its own importer) can bring into MLIR."""
