"""Training losses on constructed signals, where the right answer is known."""

import math

import pytest
import torch
from neurorave.config import get_config
from neurorave.nn.model import NeuroRave
from neurorave.train.augment import pitch_shifted_crops
from neurorave.train.losses import (
    band_dc_excess,
    frame_line_excess,
    multiscale_spectral_distance,
    partial_distance,
    partial_level_distance,
    periodicity_distance,
)

RATE, FRAME, FRAMES = 44100, 128, 64


def _tone(freq: float, amplitude: float) -> torch.Tensor:
    t = torch.arange(FRAME * FRAMES, dtype=torch.float64) / RATE
    return (amplitude * torch.sin(2 * math.pi * freq * t)).float()[None, None]


@pytest.fixture
def note() -> torch.Tensor:
    """A 440 Hz note over a faint noise floor (440 Hz is no multiple of 44100 / 128)."""
    generator = torch.Generator().manual_seed(0)
    floor = 1e-4 * torch.randn(1, 1, FRAME * FRAMES, generator=generator)
    return _tone(440.0, 0.3) + floor


def test_the_spectral_distance_leaves_out_what_a_shift_down_emptied(note):
    """A window shifted down 6 semitones holds nothing in its top 30 %: a model that plays
    the unshifted floor there is not priced for it once the shift's band limit is given,
    and is, heavily (log of ~0 against a floor), without it. Below the limit nothing
    changes: a model wrong there is priced alike."""
    windows = note.expand(2, 1, -1).contiguous()
    shifted, limits = pitch_shifted_crops(windows, FRAME * 32, 6.0, 1.0,
                                          torch.Generator().manual_seed(3))
    down = limits.argmin()
    empty_top = shifted[down:down + 1]
    assert limits[down] < 0.75
    full_floor = empty_top + 1e-4 * torch.randn(empty_top.shape,
                                                generator=torch.Generator().manual_seed(1))
    limit = limits[down:down + 1]
    unmasked = multiscale_spectral_distance(empty_top, full_floor)
    masked = multiscale_spectral_distance(empty_top, full_floor, band_limits=limit)
    assert masked < 0.5 * unmasked, (masked, unmasked)
    assert multiscale_spectral_distance(empty_top, empty_top, band_limits=limit) == 0
    everything = multiscale_spectral_distance(empty_top, full_floor, band_limits=torch.ones(1))
    torch.testing.assert_close(everything, unmasked)
    wrong_note = 0.5 * empty_top
    assert multiscale_spectral_distance(empty_top, wrong_note, band_limits=limit) > 0.5


def test_the_log_weight_scales_the_log_term_alone(note):
    """A floor ten times too loud is priced almost only by the log term, a partial at half
    its level by both; the weight scales the log term's part of each and nothing else."""
    loud_floor = note + 1e-3 * torch.randn(note.shape, generator=torch.Generator().manual_seed(1))
    half_note = _tone(440.0, 0.15) + (note - _tone(440.0, 0.3))
    for wrong in (loud_floor, half_note):
        linear = multiscale_spectral_distance(note, wrong, log_weight=0.0)
        once = multiscale_spectral_distance(note, wrong)
        thrice = multiscale_spectral_distance(note, wrong, log_weight=3.0)
        torch.testing.assert_close(thrice - linear, 3 * (once - linear))
    floor_log = multiscale_spectral_distance(note, loud_floor) - multiscale_spectral_distance(
        note, loud_floor, log_weight=0.0)
    assert floor_log > 5 * multiscale_spectral_distance(note, loud_floor, log_weight=0.0)


def test_a_line_at_a_multiple_of_the_frame_rate_is_priced(note):
    line = _tone(3 * RATE / FRAME, 0.01)
    assert frame_line_excess(note, note, FRAME) == 0
    # One of the 63 multiples below Nyquist, 78 dB (18 nats) above the floor in its bin.
    assert frame_line_excess(note, note + line, FRAME) > 0.2
    assert frame_line_excess(note + line, note + line, FRAME) == 0, \
        "a line the target has too is no excess"


def test_a_tone_between_the_multiples_is_not_a_frame_line(note):
    between = _tone(3.5 * RATE / FRAME, 0.01)
    assert frame_line_excess(note, note + between, FRAME) < 1e-3


def test_noise_against_other_noise_has_no_lines():
    """Chance peaks of a noisy spectrum are not lines: a loss that priced them would
    reward an output with nulls at the frame rate's multiples."""
    generator = torch.Generator().manual_seed(1)
    x, y = (torch.randn(16, 1, FRAME * FRAMES, generator=generator) for _ in range(2))
    assert frame_line_excess(x, y, FRAME) < 0.01


def test_a_geometric_floor_finds_a_line_beside_a_partial(note):
    """A partial 6 bins from the multiple (inside the neighbourhood) lifts the mean of
    the neighbours' power tens of dB over the floor between partials, and hides a line
    there that a long analysis (the evaluation's) plainly shows; the mean of their logs
    does not."""
    bin_hz = RATE / (FRAME * FRAMES)
    partial = _tone(3 * RATE / FRAME + 6 * bin_hz, 0.3)
    line = _tone(3 * RATE / FRAME, 1e-3)   # 50 dB under the partial, 35 over the floor
    x = note + partial
    assert frame_line_excess(x, x + line, FRAME) == 0
    assert frame_line_excess(x, x + line, FRAME, geometric_floor=True) > 0.05
    assert frame_line_excess(x + line, x + line, FRAME, geometric_floor=True) == 0


def test_noise_has_few_lines_over_a_geometric_floor():
    generator = torch.Generator().manual_seed(1)
    x, y = (torch.randn(16, 1, FRAME * FRAMES, generator=generator) for _ in range(2))
    assert frame_line_excess(x, y, FRAME, geometric_floor=True) < 0.02


def test_its_gradient_lowers_the_line(note):
    amplitude = torch.tensor(0.01, requires_grad=True)
    output = note + amplitude * _tone(5 * RATE / FRAME, 1.0)
    frame_line_excess(note, output, FRAME).backward()
    assert amplitude.grad > 0


def test_it_wants_whole_frames(note):
    with pytest.raises(ValueError, match="whole number of frames"):
        frame_line_excess(note[..., :-1], note[..., :-1], FRAME)


def test_a_band_whose_mean_is_not_zero_plays_a_tone_at_its_edge():
    """Why band DC is priced: the synthesis plays band 2's DC at 44100 / 8 Hz."""
    model = NeuroRave(get_config("lowlatency"))
    bands = torch.zeros(1, 8, 4096)
    bands[:, 2] = 0.1
    with torch.no_grad():
        out = model.pqmf_synthesis(bands)[0, 0, 1024:-1024]
    spectrum = torch.fft.rfft(out * torch.hann_window(len(out))).abs()
    peak_hz = int(spectrum.argmax()) * 44100 / len(out)
    assert abs(peak_hz - 44100 / 8) < 2 * 44100 / len(out)


def test_band_dc_is_priced_in_tens_of_db_above_the_reference_or_the_floor():
    t = torch.arange(1024) / 5512.5
    whole = torch.sin(2 * math.pi * 56 * 5512.5 / 1024 * t)[None, None]   # 56 cycles
    part = torch.sin(2 * math.pi * 300 * t)[None, None]   # 55.7: its mean is not 0
    assert band_dc_excess(whole, whole) == 0 and band_dc_excess(part, part) == 0
    assert band_dc_excess(part, whole) > 0.3, "a mean the reference lacks"
    offset = torch.tensor(0.1 * math.sqrt(0.5), requires_grad=True)   # -20 dB of 0.5
    excess = band_dc_excess(whole + offset, whole)
    assert abs(float(excess) - (-20 + 50) / 10) < 0.05
    excess.backward()
    assert offset.grad > 0, "its gradient lowers the offset"


def _harmonics(f0: float, levels: list[float], seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(RATE * seconds), dtype=torch.float64) / RATE
    phases = torch.linspace(0.3, 2.0, len(levels))
    tone = sum(level * torch.sin(2 * math.pi * k * f0 * t + phase)
               for k, (level, phase) in enumerate(zip(levels, phases, strict=True), 1))
    return tone.float()[None, None]


def test_an_octave_up_is_far_in_periodicity_another_loudness_and_phase_near():
    """A plucked-string-like note (weak fundamental, 2nd harmonic strongest) against the
    same note without its odd harmonics, which a pitch tracker hears an octave up."""
    note = _harmonics(165.0, [0.06, 1.0, 0.4, 0.2, 0.5])
    octave_up = _harmonics(165.0, [0.0, 1.0, 0.0, 0.2, 0.0])
    quieter_other_phases = 0.5 * torch.roll(note, 37, dims=-1)
    assert periodicity_distance(note, note, RATE) == 0
    assert periodicity_distance(note, quieter_other_phases, RATE) < 0.02
    # The held-out notes the default model plays an octave off score 0.18-0.49.
    assert periodicity_distance(note, octave_up, RATE) > 0.1


def test_periodicity_scores_only_where_the_target_sounds():
    silence = torch.zeros(1, 1, RATE // 2)
    assert periodicity_distance(silence, _harmonics(220.0, [1.0, 0.5]), RATE) == 0


def test_periodicity_gradient_restores_a_missing_harmonic():
    note = _harmonics(165.0, [0.5, 1.0, 0.4])
    level = torch.tensor(0.1, requires_grad=True)
    output = _harmonics(165.0, [0.0, 1.0, 0.4]) + level * _harmonics(165.0, [1.0, 0.0, 0.0])
    periodicity_distance(note, output, RATE).backward()
    assert level.grad < 0, "its gradient raises the fundamental"


FULL = [1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12, 0.09, 0.06]


@pytest.mark.parametrize("f0", [110.0, 440.0, 1000.0])
def test_partials_keep_a_note_whatever_its_envelope_and_price_another_pitch(f0):
    """What a drawn curve may change (level, phase, brightness) against what it may not."""
    noise = torch.Generator().manual_seed(0)

    def heard(a: torch.Tensor) -> torch.Tensor:  # a floor 60 dB down, as real audio has
        return a + 1e-3 * torch.randn(a.shape, generator=noise)

    note = heard(_harmonics(f0, FULL))
    darker = heard(_harmonics(f0, [0.35 ** k for k in range(9)]))
    same = [heard(0.3 * torch.roll(_harmonics(f0, FULL), 37, dims=-1)), darker,
            heard(_harmonics(f0, [0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.0, 0.9, 0.8])),
            heard(_harmonics(f0, FULL + [0.3] * 8))]   # brighter by partials above the top
    other = [heard(_harmonics(2 * f0, FULL[:4])),                          # an octave up
             heard(_harmonics(f0 / 2, [0.3, 1.0, 0.2, 0.7, 0.1, 0.5, 0.05, 0.35])),  # down
             heard(_harmonics(1.5 * f0, FULL[:6]))]                        # a fifth up
    assert max(float(partial_distance(note, y, RATE)) for y in same) < 0.01
    assert min(float(partial_distance(note, y, RATE)) for y in other) > 0.2
    # Why not the autocorrelation: there, the darker copy reads like another pitch.
    assert periodicity_distance(note, darker, RATE) > 0.15


def test_partials_score_only_where_both_sound():
    silence = torch.zeros(1, 1, RATE // 2)
    note = _harmonics(220.0, [1.0, 0.5])
    assert partial_distance(note, silence, RATE) == 0
    assert partial_distance(silence, note, RATE) == 0


def test_partials_score_only_the_frames_asked_for():
    """An output an octave up in its second half: priced, unless that half is left out."""
    note = _harmonics(220.0, FULL)
    half = note.shape[-1] // 2
    output = torch.cat([note[..., :half], _harmonics(440.0, FULL[:4])[..., half:]], dim=-1)
    first_half = torch.zeros(note.shape, dtype=torch.bool)
    first_half[..., :half] = True
    assert partial_distance(note, output, RATE) > 0.1
    assert partial_distance(note, output, RATE, where=first_half) < 0.01
    assert partial_distance(note, output, RATE, where=~first_half) > 0.2


def test_partials_gradient_restores_the_missing_odd_partials():
    note = _harmonics(165.0, FULL)
    level = torch.tensor(0.05, requires_grad=True)
    odd = [v if k % 2 == 0 else 0.0 for k, v in enumerate(FULL)]
    output = _harmonics(165.0, [v - o for v, o in zip(FULL, odd, strict=True)]) \
        + level * _harmonics(165.0, odd)
    partial_distance(note, output, RATE).backward()
    assert level.grad < 0, "its gradient raises the odd partials"


def test_partials_price_a_subharmonic_the_target_lacks():
    """A reed's odd partials (523 Hz, a held-out reed note the default plays an octave
    down) with a tone at half its f0 16 dB under the fundamental: a few bins for the
    spectral distance, 0.008 for the periodicity term; the partials term prices it as a
    partial the target lacks and its gradient lowers it. (Below about 200 Hz the
    subharmonic shares its neighbourhood with the note's partials and is not a peak.)"""
    reed = [1.0, 0.0, 0.6, 0.0, 0.4, 0.0, 0.25, 0.0, 0.15]
    note = _harmonics(523.25, reed)
    level = torch.tensor(0.16, requires_grad=True)
    output = note + level * _harmonics(261.6, [1.0, 0.0, 0.5])   # at f0 / 2 and 3 f0 / 2
    distance = partial_distance(note, output, RATE)
    assert distance > 0.1
    assert periodicity_distance(note, output, RATE) < 0.02
    distance.backward()
    assert level.grad > 0, "its gradient lowers the subharmonic"


def test_a_narrower_neighbourhood_finds_a_low_note_s_subharmonic():
    """The reed's 131 Hz note (held out, played an octave down): its subharmonic is 65 Hz
    from the fundamental, inside the default 170 Hz neighbourhood, outside an 85 Hz one;
    the narrower one still leaves a darker or quieter copy at the note's pitch alone."""
    reed = [1.0, 0.0, 0.6, 0.0, 0.4, 0.0, 0.25, 0.0, 0.15]
    note = _harmonics(130.8, reed)
    output = note + 0.16 * _harmonics(65.4, [1.0, 0.0, 0.5])
    assert partial_distance(note, output, RATE) < 0.01
    assert partial_distance(note, output, RATE, peak_hz=85.0) > 0.1
    darker = _harmonics(130.8, [v * 0.5 ** k for k, v in enumerate(reed)])
    assert partial_distance(note, darker, RATE, peak_hz=85.0) < 0.01
    assert partial_distance(note, 0.3 * note, RATE, peak_hz=85.0) < 0.01


def _bright(f0: float, top_gain: float = 1.0, cents: float = 0.0) -> torch.Tensor:
    """Partials 1/k up to 20 kHz, those above 4 kHz scaled by top_gain, a floor 80 dB down."""
    f0 = f0 * 2.0 ** (cents / 1200.0)
    t = torch.arange(RATE // 2, dtype=torch.float64) / RATE
    partials = sum((top_gain if k * f0 > 4000.0 else 1.0) / k * torch.sin(2 * math.pi * k * f0 * t)
                   for k in range(1, int(20000.0 / f0)))
    floor = 1e-4 * torch.randn(t.shape, generator=torch.Generator().manual_seed(1))
    return (partials + floor).float()[None, None]


@pytest.mark.parametrize("f0", [110.0, 220.0, 880.0])
def test_partial_levels_price_weak_high_partials_not_a_few_cents(f0):
    note = _bright(f0)
    assert partial_level_distance(note, note, RATE) == 0
    assert partial_level_distance(note, 0.5 * note, RATE) == pytest.approx(math.log(2), rel=1e-3)
    # Every partial above 4 kHz 6 dB down: most partials of a bright note, most of the price.
    assert partial_level_distance(note, _bright(f0, top_gain=0.5), RATE) > 0.4
    assert partial_level_distance(note, _bright(f0, cents=10.0), RATE) < 0.15
    noise = 1e-2 * torch.randn(note.shape, generator=torch.Generator().manual_seed(2))
    assert partial_level_distance(note, note + noise, RATE) < 0.03


def test_a_missing_partial_costs_a_bounded_price_and_its_gradient_raises_it():
    note = _bright(220.0)
    assert partial_level_distance(note, torch.zeros_like(note), RATE) == pytest.approx(
        0.5 * math.log(1e4), rel=1e-3)
    level = torch.tensor(0.25, requires_grad=True)
    highs = _bright(220.0, top_gain=1.0) - _bright(220.0, top_gain=0.0)
    output = _bright(220.0, top_gain=0.0) + level * highs
    partial_level_distance(note, output, RATE).backward()
    assert level.grad < 0, "its gradient raises the high partials"
