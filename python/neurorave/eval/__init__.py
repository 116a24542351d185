"""Judging models: the metrics, `neurorave evaluate` (its report), the fidelity figures
of held-out notes, and `neurorave demo`. Imports every layer below it: train/, data/,
play/, format/, nn/ and the base layer (neurorave/__init__.py)."""
