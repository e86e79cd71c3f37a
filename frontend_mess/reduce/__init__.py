"""`frontend-mess reduce`: the smallest ONNX graph that still fails the way a source or a
matrix cell fails (same stage, same error class), written out as a repro directory.

graph.py searches windows of the graph (an oracle says whether a candidate fails the same
way); run.py runs each candidate as a matrix cell in a worker process and drives the
search; repro.py writes the directory: the reduced model, the command, the versions, the
first error and an upstream issue's text.
"""
