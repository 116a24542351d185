"""A model as files: the `.nrv` model file (docs/model-format.md) written and read, the
ONNX and TorchScript exports, and what a model costs to play (cost.py, torch-free for
`neurorave info`). Imports nn/ and the base layer (neurorave/__init__.py)."""
