"""matplotlib for files, never a window: every plot the package draws starts here."""

from __future__ import annotations


def pyplot():
    """matplotlib.pyplot on the Agg backend (PNG files; no display needed, none opened)."""
    # Imported here, not at the top: matplotlib comes with the training extras only.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


__all__ = ["pyplot"]
