"""Data: audio files, rendering real sounds, the NSynth layout and its builders, and the
window store that preprocessing writes and training reads. Needs neither torch nor any
layer above it (see neurorave/__init__.py)."""

# Every data set of the package splits its files into these three, in this order: the
# NSynth layout's folders (data/nsynth.py), and the window store's split numbers 0, 1, 2
# (data/store.py).
SPLITS = ("train", "valid", "test")
