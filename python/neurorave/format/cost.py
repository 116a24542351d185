"""What a model costs to play, read from its description (no torch: `neurorave info`
runs on the numpy-only install)."""

from __future__ import annotations


def multiply_adds_per_second(description: dict) -> float:
    """Multiply-adds per second of audio for the streaming forward pass (encode + decode)."""
    sr, compression = description["sample_rate"], description["compression"]

    def ops_cost(ops: list[dict], rate: float) -> tuple[float, float]:
        total = 0.0
        for op in ops:
            if op["op"] == "conv":
                rate /= op["stride"]
                total += rate * op["out"] * op["in"] // op["groups"] * op["kernel"]
            elif op["op"] == "conv_transpose":
                total += rate * op["in"] * op["out"] * op["kernel"]
                rate *= op["stride"]
            elif op["op"] == "residual":
                total += ops_cost(op["branch"], rate)[0]
            elif op["op"] == "waveform_head" and op.get("subbands", 1) > 1:
                # Every band sample: each sub-band's kernel taps over its noise, then its gain.
                total += rate * op["bands"] * op["subbands"] * (op["subband_taps"] + 1)
        return total, rate

    pqmf = description["pqmf"]
    analysis, band_rate = ops_cost([pqmf["analysis"]], float(sr))
    encoder, _ = ops_cost(description["encoder"], band_rate)
    decoder, rate = ops_cost(description["decoder"], sr / compression)
    synthesis, _ = ops_cost([pqmf["synthesis"]], rate)
    shaper, _ = ops_cost(description.get("noise_shaper", []), sr / compression)
    return analysis + encoder + decoder + synthesis + shaper


__all__ = ["multiply_adds_per_second"]
