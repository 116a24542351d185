"""Paired augmentation and the control loss, on real rendered notes."""

from __future__ import annotations

from dataclasses import replace

import audio_fixtures
import numpy as np
import pytest
import torch
from neurorave import descriptors
from neurorave.config import TrainConfig
from neurorave.train import descriptors_torch
from neurorave.train.augment import (
    LOWPASS_PRICED_DB,
    RESAMPLED_PASSBAND,
    AugmentConfig,
    band_limited_transform,
    pitch_shifted_crops,
    random_transform,
)
from neurorave.train.control import (
    CURVE_KINDS,
    control_losses,
    coupled_targets,
    draw_targets,
    drawn_curve,
    kept_loud_enough,
    released_followers,
)
from neurorave.train.lightning_module import NeuroRaveTraining, without_conflict

RATE, COMPRESSION = 16000, 16
NAMES = ("rms", "centroid", "bandwidth", "sharpness", "boominess")


@pytest.fixture(scope="module")
def notes(tmp_path_factory) -> torch.Tensor:
    """(4, 1, 8192): piano, violin and flute, a chord over a bass line (FluidR3_GM)."""
    folder = tmp_path_factory.mktemp("notes")
    audio = audio_fixtures.load_mono(audio_fixtures.render_gm_notes(folder, RATE), RATE)
    clips = [audio[int(start * RATE):int(start * RATE) + 8192] for start in (0.0, 1.5, 2.7, 4.4)]
    return torch.from_numpy(np.stack(clips).astype(np.float32))[:, None]


def _entries(audio: torch.Tensor) -> list[dict]:
    values = descriptors.compute(audio[:, 0].numpy(), RATE, COMPRESSION, NAMES)
    return descriptors.descriptor_statistics(values, NAMES)


def _ranges_and_own_curves(notes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The notes' fader ranges and their own curves, normalised to them: (n, 2), (B, n, F)."""
    ranges = torch.tensor([e["range"] for e in _entries(notes)], dtype=torch.float32)
    return ranges, descriptors_torch.normalise(
        descriptors_torch.compute(notes, RATE, COMPRESSION, NAMES), ranges)


def _darker(notes: torch.Tensor) -> torch.Tensor:
    """The notes through a 9-tap moving average: a low-pass."""
    return torch.nn.functional.avg_pool1d(notes, 9, stride=1, padding=4)


def test_a_transform_of_no_strength_returns_the_input(notes):
    """The STFT path alone is transparent: every change comes from a drawn parameter."""
    none = AugmentConfig(gain_db=0, tilt_db_per_octave=0, shelf_db=0, lowpass_probability=0,
                         saturation_probability=0)
    same = random_transform(notes, RATE, torch.Generator().manual_seed(0), none)
    np.testing.assert_allclose(same.numpy(), notes.numpy(), atol=1e-5)


def test_transforms_are_drawn_again_and_stay_below_full_scale(notes):
    a, b = (random_transform(notes, RATE, torch.Generator().manual_seed(s)) for s in (1, 2))
    assert a.shape == notes.shape and not torch.allclose(a, b)
    assert a.abs().max() <= 0.99 + 1e-6 and torch.isfinite(a).all()
    replay = random_transform(notes, RATE, torch.Generator().manual_seed(1))
    assert torch.equal(a, replay)                      # a resumed run draws the same


def test_a_low_passed_copy_is_priced_up_to_where_its_filter_takes_20_db(notes):
    """band_limited_transform: with a low-pass drawn for every copy, each copy's share of
    the spectrum lies where the filter (at its highest cutoff) takes LOWPASS_PRICED_DB; the
    copy is that much darker above it than the same draw without the filter, and the
    audio is random_transform's, draw for draw."""
    flat = AugmentConfig(gain_db=0, tilt_db_per_octave=0, shelf_db=0, saturation_probability=0,
                         lowpass_probability=1.0)
    noise = torch.randn(4, 1, 16384, generator=torch.Generator().manual_seed(2)) * 0.1
    darker, heard = band_limited_transform(noise, RATE, torch.Generator().manual_seed(5), flat)
    assert torch.equal(darker, random_transform(noise, RATE, torch.Generator().manual_seed(5),
                                                flat))
    assert heard.shape == (4,) and (heard > 0).all() and (heard < 1).any()
    freqs = np.fft.rfftfreq(16384, 1 / RATE)
    for copy, original, share in zip(darker, noise, heard, strict=True):
        if share >= 1:
            continue
        above = freqs > share.item() * RATE / 2
        taken_db = 10 * np.log10((np.abs(np.fft.rfft(copy[0].numpy())) ** 2)[above].mean()
                                 / (np.abs(np.fft.rfft(original[0].numpy())) ** 2)[above].mean())
        assert taken_db < -LOWPASS_PRICED_DB + 1, (share, taken_db)
    unfiltered = replace(flat, lowpass_probability=0.0)
    assert (band_limited_transform(noise, RATE, torch.Generator().manual_seed(5),
                                   unfiltered)[1] == 1).all()


def test_paired_views_recompute_the_curves_from_the_transformed_audio(notes):
    """The rebuilt copy's curves are measured on that copy, not carried over from the
    original window: a transform that moves loudness moves the rms curve."""
    module = NeuroRaveTraining(TrainConfig(config="tiny", augment_probability=1.0).to_dict(),
                               "unused", _entries(notes))
    curves, bins = module._measured(notes)
    generator = torch.Generator().manual_seed(3)
    source, source_bins, target, target_curves, _ = module._paired_views(notes, curves, bins,
                                                                         generator)
    assert not torch.allclose(source, notes) and not torch.allclose(target, source)
    expected, _ = module._measured(target)
    torch.testing.assert_close(target_curves, expected)
    assert (target_curves - curves).abs().max() > 0.1
    _, expected_bins = module._measured(source)
    assert torch.equal(source_bins, expected_bins)
    # bins as the data set quantises them, on the frames analysed (the others hold the
    # next analysed value: at 16 samples per frame, windows of 1024 overlap 64 times)
    reference = descriptors.quantise(descriptors.compute(notes[0, 0].numpy(), RATE,
                                                         COMPRESSION, ["centroid"])[0],
                                     module.hparams.descriptor_entries[1]["bins"])
    step = descriptors_torch.analysis_step(COMPRESSION)
    analysed = slice(step - 1, None, step)
    assert (bins[0, 1, analysed].numpy() == reference[analysed]).mean() > 0.98


def _peak_hz(signal: torch.Tensor) -> float:
    spectrum = np.abs(np.fft.rfft(signal.numpy().ravel() * np.hanning(signal.shape[-1]), 1 << 16))
    return float(np.argmax(spectrum) * RATE / (1 << 16))


def test_pitch_shifted_crops_move_a_tone_within_the_range_and_keep_length():
    """A 440 Hz tone: each shifted crop plays at 440 * 2^(s/12) for some |s| <= 5, the
    shifts differ between windows, and a share 0 gives back spans of the windows as they
    are; a window too short for the crop once shifted up is refused in one line."""
    t = torch.arange(16384, dtype=torch.float64) / RATE
    tones = (0.5 * torch.sin(2 * torch.pi * 440.0 * t)).float().expand(6, 1, -1).clone()
    shifted, limits = pitch_shifted_crops(tones, 4096, 5.0, 1.0,
                                          torch.Generator().manual_seed(0))
    assert shifted.shape == (6, 1, 4096)
    semitones = [12 * np.log2(_peak_hz(s) / 440.0) for s in shifted]
    assert all(abs(s) <= 5.05 for s in semitones), semitones
    # What a shift down leaves of the spectrum: 2^(s/12) of it, less the filter's edge.
    expected = [RESAMPLED_PASSBAND * min(1.0, 2.0 ** (s / 12.0)) for s in semitones]
    np.testing.assert_allclose(limits.numpy(), expected, atol=0.005)
    assert max(semitones) - min(semitones) > 2.0
    assert 0.45 < float(shifted.abs().max()) < 0.55            # the level is kept
    kept, whole = pitch_shifted_crops(tones, 4096, 5.0, 0.0, torch.Generator().manual_seed(0))
    assert all(abs(_peak_hz(s) - 440.0) < 1.0 for s in kept) and (whole == 1.0).all()
    assert any(torch.equal(tones[0, 0, i:i + 4096], kept[0, 0]) for i in range(16384 - 4095))
    with pytest.raises(ValueError, match="shorter than the 13000-sample crop"):
        pitch_shifted_crops(tones, 13000, 5.0, 0.5, torch.Generator().manual_seed(0))


def test_a_pitch_shifted_batch_is_cropped_and_its_curves_measured_again(notes):
    """With the shift on, `_crop` returns crops whose curves and bins are measured on the
    shifted audio (a shifted note's centroid moves), not the stored ones."""
    config = TrainConfig(config="tiny", pitch_shift_semitones=7.0, pitch_shift_probability=1.0,
                         crop_samples=4096)
    module = NeuroRaveTraining(config.to_dict(), "unused", _entries(notes))
    curves, bins = module._measured(notes)
    audio, crop_curves, crop_bins, _ = module._crop(notes, curves, bins,
                                                    torch.Generator().manual_seed(1))
    assert audio.shape == (4, 1, 4096) and crop_curves.shape == (4, 5, 4096 // COMPRESSION)
    expected_curves, expected_bins = module._measured(audio)
    torch.testing.assert_close(crop_curves, expected_curves)
    assert torch.equal(crop_bins, expected_bins)
    with pytest.raises(ValueError, match="pitch_shift_semitones must lie in"):
        TrainConfig(pitch_shift_semitones=13.0)


def test_drawn_targets_replace_one_to_four_curves_of_every_kind():
    curves = torch.rand(16, 5, 32) * 2 - 1
    generator = torch.Generator().manual_seed(0)
    targets, replaced = draw_targets(curves, generator)
    counts = replaced.sum(1)
    assert counts.min() >= 1 and counts.max() <= 4
    assert torch.equal(targets[~replaced], curves[~replaced])
    assert (targets[replaced] != curves[replaced]).any(dim=-1).all()
    _, alone = draw_targets(curves, generator, max_replaced=1)   # control_max_replaced=1
    assert (alone.sum(1) == 1).all()
    for kind in CURVE_KINDS:
        curve = drawn_curve(kind, curves, 1, 0, generator)
        assert curve.shape == (32,) and curve.abs().max() <= 1.0 + 1e-6


def test_control_loss_is_zero_on_the_targets_own_audio_and_sees_shortcuts(notes):
    ranges, targets = _ranges_and_own_curves(notes)

    def losses(output: torch.Tensor) -> dict[str, torch.Tensor]:
        return control_losses(output, notes, targets, NAMES, ranges, RATE, COMPRESSION)

    exact = losses(notes)
    assert exact["control"] < 1e-4 and exact["noise_guard"] == 0
    assert losses(0.1 * notes)["control"] > 0.2          # 20 dB quieter than asked
    assert losses(torch.zeros_like(notes))["control"] > 0.5   # silence dodges nothing
    noise = torch.randn(notes.shape, generator=torch.Generator().manual_seed(0))
    noisy = notes + 0.3 * noise * notes.abs().amax(-1, keepdim=True)
    assert losses(noisy)["noise_guard"] > 0.05
    louder = (0.5 * notes).requires_grad_()
    losses(louder)["control"].backward()
    assert torch.isfinite(louder.grad).all()


def test_a_descriptor_weight_scales_only_that_descriptors_error(notes):
    """The control term is linear in the descriptor weights: the terms with one weight
    each add up to the unweighted one, and a heavier sharpness weighs only sharpness."""
    ranges, targets = _ranges_and_own_curves(notes)
    darker = _darker(notes)

    def control(weights=None) -> dict[str, torch.Tensor]:
        return control_losses(darker, notes, targets, NAMES, ranges, RATE, COMPRESSION,
                              descriptor_weights=weights)

    plain = control()
    alone = [control([float(i == k) for i in range(len(NAMES))])["control"]
             for k in range(len(NAMES))]
    assert torch.allclose(sum(alone), plain["control"], rtol=1e-4)
    assert plain["control_sharpness"] > 0.01 and alone[NAMES.index("sharpness")] > 0
    heavier = control([3.0 if n == "sharpness" else 1.0 for n in NAMES])
    expected = plain["control"] + 2 * alone[NAMES.index("sharpness")]
    assert torch.allclose(heavier["control"], expected, rtol=1e-4)
    assert all(torch.equal(heavier[f"control_{n}"], plain[f"control_{n}"]) for n in NAMES)


def test_a_tolerance_prices_only_the_error_beyond_it(notes):
    """With a tolerance, a darker rendition's control term falls, reaches zero once the
    tolerance exceeds every frame's error, and the logged per-descriptor errors stay whole."""
    ranges, targets = _ranges_and_own_curves(notes)
    darker = _darker(notes)

    def control(tolerance: float) -> dict[str, torch.Tensor]:
        return control_losses(darker, notes, targets, NAMES, ranges, RATE, COMPRESSION,
                              tolerance=tolerance)

    whole, some, beyond_all = control(0.0), control(0.05), control(100.0)
    assert 0 < some["control"] < whole["control"] - 0.01
    assert beyond_all["control"] == 0
    assert all(torch.equal(some[f"control_{n}"], whole[f"control_{n}"]) for n in NAMES)
    with pytest.raises(ValueError, match="control_tolerance must not be negative"):
        TrainConfig(control_tolerance=-0.1)


def test_a_coupled_follower_is_released_while_its_partner_moves(notes):
    """Of the pair (centroid, sharpness), the one that follows its window is released
    where the other is replaced, and its target then no longer counts in that window."""
    replaced = torch.zeros(4, len(NAMES), dtype=torch.bool)
    centroid, sharpness = NAMES.index("centroid"), NAMES.index("sharpness")
    replaced[0, centroid] = replaced[1, sharpness] = replaced[3, 0] = True
    replaced[2, [centroid, sharpness]] = True
    released = released_followers(replaced, NAMES, [["centroid", "sharpness"]])
    expected = torch.zeros_like(replaced)
    expected[0, sharpness] = expected[1, centroid] = True
    assert torch.equal(released, expected)

    ranges, targets = _ranges_and_own_curves(notes)
    darker = _darker(notes)
    moved = targets.clone()
    moved[0, sharpness] = 1.0        # window 0's sharpness target, released there
    every = torch.zeros_like(replaced)
    every[0, sharpness] = True

    def control(curves: torch.Tensor, released: torch.Tensor | None) -> torch.Tensor:
        return control_losses(darker, notes, curves, NAMES, ranges, RATE, COMPRESSION,
                              released=released)["control"]

    assert control(moved, every) == control(targets, every)
    assert control(moved, None) > control(targets, None)


def test_a_coupled_pair_replaced_together_is_drawn_together(notes):
    """Where a draw replaces both centroid and sharpness, sharpness gets centroid's target
    (they correlate at 0.96 in the data: drawn apart they ask for spectra it never holds);
    everything else keeps its draw."""
    _, curves = _ranges_and_own_curves(notes)
    centroid, sharpness = NAMES.index("centroid"), NAMES.index("sharpness")
    generator = torch.Generator().manual_seed(3)
    both_seen = False
    for _ in range(20):
        targets, replaced = draw_targets(curves, generator)
        coupled = coupled_targets(targets, replaced, NAMES, [["centroid", "sharpness"]])
        both = replaced[:, centroid] & replaced[:, sharpness]
        both_seen |= bool(both.any())
        assert torch.equal(coupled[both, sharpness], targets[both, centroid])
        untouched = torch.ones_like(replaced)
        untouched[both, sharpness] = False
        assert torch.equal(coupled[untouched], targets[untouched])
        assert torch.equal(coupled_targets(targets, replaced, NAMES, []), targets)
    assert both_seen


@pytest.mark.parametrize("field", ["control_released_pairs", "control_coupled_pairs"])
@pytest.mark.parametrize("pairs", [[["centroid", "loudness"]], [["centroid"]], ["centroid"]])
def test_a_pair_of_unknown_descriptors_is_refused_naming_the_field(field, pairs):
    with pytest.raises(ValueError, match=f"^{field} must list pairs of descriptors"):
        TrainConfig(**{field: pairs})
    assert TrainConfig(**{field: [["centroid", "sharpness"]]}).__dict__[field] == (
        ("centroid", "sharpness"),)


def test_partials_are_kept_where_the_requested_level_stays_near_the_windows_own(notes):
    """A drawn rms curve 20 dB under the window's own in its second half leaves that half
    out of the partials term; a darker centroid curve or a louder rms leaves nothing out."""
    ranges, curves = _ranges_and_own_curves(notes)
    frames, row = curves.shape[-1], NAMES.index("rms")
    db = descriptors_torch.denormalise(curves, ranges)
    quieter, brighter = db.clone(), db.clone()
    quieter[:, row, frames // 2:] -= 20.0
    quieter[:, row, :frames // 2] += 6.0
    brighter[:, NAMES.index("centroid")] *= 2.0
    kept = [kept_loud_enough(descriptors_torch.normalise(t, ranges), curves, NAMES, ranges,
                             COMPRESSION, 10.0) for t in (quieter, brighter)]
    assert kept[0].shape == notes.shape
    half = frames // 2 * COMPRESSION
    assert kept[0][..., :half].all() and not kept[0][..., half:].any()
    assert kept[1].all()
    assert kept_loud_enough(curves, curves, NAMES, ranges, COMPRESSION, float("inf")) is None
    assert kept_loud_enough(curves[:, 1:], curves[:, 1:], NAMES[1:], ranges[1:], COMPRESSION,
                            10.0) is None


def _with_noise(notes: torch.Tensor, level: float) -> torch.Tensor:
    """The notes plus white noise at `level` times their peak (a fixed draw)."""
    noise = torch.randn(notes.shape, generator=torch.Generator().manual_seed(0))
    return notes + level * noise * notes.abs().amax(-1, keepdim=True)


def _noise_guard(notes: torch.Tensor, output: torch.Tensor, margin_db: float | None,
                 against: torch.Tensor | None = None) -> float:
    """control_losses' noise guard for `output`, decoded from `notes` with their own curves."""
    ranges, targets = _ranges_and_own_curves(notes)
    return float(control_losses(output, notes, targets, NAMES, ranges, RATE, COMPRESSION,
                                noise_margin_db=margin_db,
                                flatness_reference=against)["noise_guard"])


def test_the_noise_guard_in_db_sees_what_the_linear_one_lets_through(notes):
    """Noise 50 and 40 dB under the notes' peak lifts their flatness (about -32 dB) by
    several dB, which stays under the linear margin (0.05, -13 dB) and costs nothing
    there; in dB, beyond a 3 dB margin, it costs, and more for the louder noise."""
    def guards(output: torch.Tensor) -> tuple[float, float]:
        linear, in_db = (_noise_guard(notes, output, margin) for margin in (None, 3.0))
        return linear, in_db

    assert guards(notes) == (0.0, 0.0)
    quiet, louder = (guards(_with_noise(notes, level)) for level in (0.003, 0.01))
    assert quiet[0] == 0.0 and louder[0] == 0.0
    assert 0.05 < quiet[1] < louder[1]


def test_the_noise_guard_against_the_rendition_prices_only_what_the_curves_add(notes):
    """Against the decoder's own rendition (here: the notes over a noise floor 50 dB under
    their peak), an output with that floor costs nothing, and one with a floor 10 dB higher
    costs, less than against the clean notes, which also price the floor itself."""
    rendition, noisier = (_with_noise(notes, level) for level in (0.003, 0.01))
    assert _noise_guard(notes, rendition, 3.0, against=rendition) == 0.0
    assert 0.0 < _noise_guard(notes, noisier, 3.0, against=rendition) \
        < _noise_guard(notes, noisier, 3.0)


def test_control_trains_keeps_the_control_terms_to_the_named_layers(notes):
    """With control_trains, the control terms' gradient reaches the named layers and no
    other; without it, it would reach the decoder's other layers too."""
    config = TrainConfig(config="tiny", control_trains=("decoder.layers.0.",))
    module = NeuroRaveTraining(config.to_dict(), "unused", _entries(notes))
    curves, _ = module._measured(notes)
    mean = module._posterior(notes)[0].detach()
    rendition = module.model.decode(mean, curves).detach()

    def control() -> torch.Tensor:
        return module._control_terms(mean, mean, curves, notes, rendition,
                                     torch.Generator().manual_seed(0), {})

    names = {id(p): name for name, p in module.model.named_parameters()}
    kept = {names[id(p)]: g for p, g in module._gradients_of_control(control())}
    assert kept and all(name.startswith("decoder.layers.0.") for name in kept)
    assert all(g.abs().sum() > 0 for g in kept.values())
    control().backward()
    reached = {name for name, p in module.model.named_parameters()
               if p.grad is not None and p.grad.abs().sum() > 0}
    assert reached - set(kept), "without control_trains the other layers would learn too"
    with pytest.raises(ValueError, match="control_trains .* names none of the model's"):
        NeuroRaveTraining(TrainConfig(config="tiny", control_trains=("decoder.nothing",)
                                      ).to_dict(), "unused", _entries(notes))


def _with_grad(values: list[float], grad: list[float]) -> torch.nn.Parameter:
    parameter = torch.nn.Parameter(torch.tensor(values))
    parameter.grad = torch.tensor(grad)
    return parameter


def test_the_projection_cuts_only_what_opposes_the_rest():
    """PCGrad over the whole model: a control gradient pointing against the rest's (cosine
    below 0) loses its component along it (what is left is orthogonal to the rest), one
    pointing with it is kept; per tensor, each tensor is judged on its own."""
    a, b = _with_grad([0.0, 0.0], [1.0, 0.0]), _with_grad([0.0], [1.0])
    control = [(a, torch.tensor([-1.0, 1.0])), (b, torch.tensor([0.5]))]
    pairs, cosine = without_conflict(control, per_tensor=False)
    assert cosine.item() == pytest.approx(-0.5 / (2.25 * 2.0) ** 0.5)
    cut = dict((id(p), g) for p, g in pairs)
    rest_dot = sum(float((cut[id(p)] * p.grad).sum()) for p in (a, b))
    assert rest_dot == pytest.approx(0.0, abs=1e-7)
    assert torch.allclose(cut[id(a)], torch.tensor([-0.75, 1.0]))
    assert torch.allclose(cut[id(b)], torch.tensor([0.75]))
    agreeing = [(a, torch.tensor([1.0, 1.0])), (b, torch.tensor([0.5]))]
    assert without_conflict(agreeing, per_tensor=False)[0] is agreeing
    per_tensor = dict((id(p), g) for p, g in without_conflict(control, per_tensor=True)[0])
    assert torch.equal(per_tensor[id(a)], torch.tensor([0.0, 1.0]))
    assert torch.equal(per_tensor[id(b)], torch.tensor([0.5]))
    unreached = torch.nn.Parameter(torch.zeros(1))
    assert without_conflict([(unreached, torch.ones(1))], per_tensor=True)[0][0][1].item() == 1.0
    with pytest.raises(ValueError, match="control_projection must be one of"):
        TrainConfig(control_projection="layers")
