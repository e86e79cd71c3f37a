"""`frontend-mess bench`: frontend-mess's IREE artifact beside PyTorch eager, `torch.compile`
and onnxruntime on the same weights and inputs, in one process, numerics checked; where the
artifact's time goes, dispatch by dispatch, against this machine's measured roofline.

The flow: `run.bench` prepares each runtime (runtimes.py), times them taking turns in blocks
(timing.py), starts fresh processes for cold start and peak memory (cold.py), asks
`iree-benchmark-module` for the runtime's own figure and, with `--dispatches`, profiles the
artifact per dispatch (dispatches.py) against the peaks machine.py measures; report.py writes
the table, the JSON and the HTML page.
"""
