"""The content-addressed artifact store: objects, keys, run manifests, the browsable view
and the cached pipeline stages (store/stages.py)."""
