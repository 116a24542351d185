"""Playing a model file with the C++ core: `neurorave.Engine` (engine.py, numpy alone),
the default model, and the benchmark against ONNX Runtime and TorchScript (bench.py).
Imports format/, nn/ and the base layer (neurorave/__init__.py)."""
