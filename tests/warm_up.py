"""How long a centred model's stream takes to equal its offline output."""

from __future__ import annotations

import math

from neurorave.config import ModelConfig


def warm_up_frames(config: ModelConfig, padding_frames: int) -> int:
    """Frames before a stream and the offline forward agree: none for a causal model; for
    a centred one, `padding_frames` (its layers pad offline, and the stream does not), and
    then the bands' DC blocker's memory of those frames, until it has decayed by 1e-6."""
    if config.causal:
        return 0
    memory = sum(period * math.log(1e-6) / math.log(pole)
                 for pole, period in config.band_blockers)
    return padding_frames + math.ceil(memory / math.prod(config.ratios))
