"""Every configuration, torch-free: the model (`ModelConfig` and its named presets), what
to train (`TrainConfig`), how to run the training (`RunOptions`) and the prior
(`PriorConfig`).

Without torch on purpose: the command line reads its defaults from here, and must build
(`neurorave --help`, `neurorave info`) on the numpy-only install.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

DEFAULT_DESCRIPTORS = ("rms", "centroid", "bandwidth", "sharpness", "boominess")
# The data sets `neurorave data build` renders (data.builders.BUILDERS, in this order).
DATASET_KINDS = ("nsynth-like", "drums", "speech-digits")


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the NeuroRave auto-encoder.

    `compression` (audio samples per latent frame) is `n_bands * prod(ratios)`.
    """

    sample_rate: int = 44100
    n_bands: int = 16
    pqmf_taps_per_band: int = 8
    ratios: tuple[int, ...] = (4, 4, 4, 2)
    capacity: int = 64
    latent_size: int = 16
    encoder_kernel: int = 7
    decoder_kernel: int = 7
    residual_dilations: tuple[int, ...] = (1, 3, 9)
    residual_kernel: int = 3
    # Residual blocks at the latent rate before the encoder's head, one per dilation (none
    # in the presets): the strided convs alone see about 650 samples per latent frame in
    # `lowlatency`, under two periods of a note below 135 Hz
    # (docs/experiments/2026-12-06-pitches-off-the-grid.md).
    encoder_residual_dilations: tuple[int, ...] = ()
    leaky_slope: float = 0.2
    noise: bool = True
    # Sub-bands of each band's noise, each with its own gain every frame from a small
    # network on the decoder's input (nn/model._build_noise_shaper); 1: white noise in each
    # band. The band's noise then follows the note within its 1 / noise_subbands; causal
    # models only (docs/experiments/2026-12-06-a-noise-floor-that-follows-the-note.md).
    noise_subbands: int = 1
    noise_shaper_channels: int = 128
    causal: bool = False
    descriptors: tuple[str, ...] = DEFAULT_DESCRIPTORS
    # Each upsampling kernel a hold then a filter (nn/layers.HeldKernel): no ripple at
    # the frame rate from a steady input. Off by default: from scratch the latent then
    # collapses and the notes are lost; a trained run is held with `train --resume RUN
    # --hold-upsampling` (docs/experiments/2026-12-03-held-kernels-and-the-control-weight.md).
    held_upsampling: bool = False
    # Each band signal through a DC blocker with this cutoff (0: none), so that no band
    # plays a steady tone at its edge (nn/layers.WaveformHead). 0 here so that a model
    # file from before it reads as it was built; every preset sets it.
    band_dc_cutoff_hz: float = 0.0
    # Band samples between the two the blocker compares: 1, or a divisor of a frame's
    # band samples (prod(ratios)), a comb with a notch of the cutoff's width at every
    # multiple of sample_rate / (n_bands * period). And a second blocker every frame at
    # its own (narrower) cutoff (0: none). Whatever the decoder repeats every frame (its
    # upsampling's phase pattern, rectified by the nonlinearities after it) plays as lines
    # at the frame rate's multiples, strongest at every fourth
    # (docs/experiments/2026-12-06-a-comb-at-the-frame-rate.md).
    band_dc_period: int = 1
    band_comb_cutoff_hz: float = 0.0

    def __post_init__(self) -> None:
        frame = math.prod(self.ratios)
        if self.noise_subbands < 1 or (self.noise_subbands > 1 and not
                                       (self.noise and self.causal)):
            raise ValueError(f"noise_subbands must be 1, or more in a causal model with the "
                             f"noise branch, got {self.noise_subbands}")
        if self.band_dc_period < 1 or frame % self.band_dc_period:
            raise ValueError(f"band_dc_period must divide a frame's {frame} band samples, got "
                             f"{self.band_dc_period}")
        for name, cutoff, period in (("band_dc_cutoff_hz", self.band_dc_cutoff_hz,
                                      self.band_dc_period),
                                     ("band_comb_cutoff_hz", self.band_comb_cutoff_hz, frame)):
            highest = self.sample_rate / self.n_bands / period / 4  # a quarter of its steps' rate
            if not 0.0 <= cutoff < highest:
                raise ValueError(f"{name} must lie in [0, {highest:g}) Hz, got {cutoff}")

    @property
    def compression(self) -> int:
        return self.n_bands * math.prod(self.ratios)

    def _blocker_pole(self, cutoff_hz: float, period: int) -> float:
        """exp(-2 pi cutoff / the rate of the blocker's steps, the band rate over its
        period); 0: none."""
        step_rate = self.sample_rate / self.n_bands / period
        return math.exp(-2 * math.pi * cutoff_hz / step_rate) if cutoff_hz > 0 else 0.0

    @property
    def band_dc_pole(self) -> float:
        """The pole of the bands' DC blocker; 0: none."""
        return self._blocker_pole(self.band_dc_cutoff_hz, self.band_dc_period)

    @property
    def band_comb_period(self) -> int:
        """The second blocker's period: a frame's band samples."""
        return math.prod(self.ratios)

    @property
    def band_comb_pole(self) -> float:
        """The pole of the bands' second blocker, every frame; 0: none."""
        return self._blocker_pole(self.band_comb_cutoff_hz, self.band_comb_period)

    @property
    def band_blockers(self) -> list[tuple[float, int]]:
        """(pole, period) of each of the bands' DC blockers that is on, in the order they
        run."""
        return [(pole, period) for pole, period in ((self.band_dc_pole, self.band_dc_period),
                                                    (self.band_comb_pole, self.band_comb_period))
                if pole]

    @property
    def encoder_channels(self) -> list[int]:
        """Channels after the input conv and after each downsampling stage."""
        return [self.capacity * 2**i for i in range(len(self.ratios) + 1)]

    @property
    def decoder_channels(self) -> list[int]:
        """Channels after the input conv and after each upsampling stage."""
        return list(reversed(self.encoder_channels))

    def with_(self, **changes) -> ModelConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["ratios"] = list(self.ratios)
        data["residual_dilations"] = list(self.residual_dilations)
        data["encoder_residual_dilations"] = list(self.encoder_residual_dilations)
        data["descriptors"] = list(self.descriptors)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        _refuse_unknown(cls, data, "model options")
        data = dict(data)
        for key in ("ratios", "residual_dilations", "encoder_residual_dilations",
                    "descriptors"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


# The presets' cutoff of the bands' DC blocker: a 10 Hz high-pass on the audio and a
# notch 20 Hz wide at each band edge, where the lines were
# (docs/experiments/2026-12-03-a-dc-blocker-on-the-bands.md).
BAND_DC_CUTOFF_HZ = 10.0

CONFIGS: dict[str, ModelConfig] = {
    # Seconds to build and run: for tests.
    "tiny": ModelConfig(
        sample_rate=16000, n_bands=4, ratios=(2, 2), capacity=8, latent_size=4,
        residual_dilations=(1, 3), noise=True, band_dc_cutoff_hz=BAND_DC_CUTOFF_HZ,
    ),
    # The embedded module's model: about 1.5 M parameters.
    "small": ModelConfig(
        sample_rate=44100, n_bands=16, ratios=(4, 4, 2), capacity=44, latent_size=8,
        residual_dilations=(1, 3, 9), noise=True, band_dc_cutoff_hz=BAND_DC_CUTOFF_HZ,
    ),
    # RAVE v1 scale: about 17 M parameters, compression 2048.
    "v1": ModelConfig(
        sample_rate=44100, n_bands=16, ratios=(4, 4, 4, 2), capacity=76, latent_size=16,
        residual_dilations=(1, 3, 9), noise=True, band_dc_cutoff_hz=BAND_DC_CUTOFF_HZ,
    ),
    # Causal, compression 128: 2.9 ms frames at 44.1 kHz. At 4 taps per band the filter
    # bank alone gave the test notes back at 17.5 dB SNR (52 dB at 8); 8 keep the model's
    # latency at one frame (docs/experiments/2026-12-06-a-sharper-filter-bank.md).
    "lowlatency": ModelConfig(
        sample_rate=44100, n_bands=8, pqmf_taps_per_band=8, ratios=(4, 4), capacity=32,
        latent_size=8, residual_dilations=(1, 3, 9), noise=True, causal=True,
        band_dc_cutoff_hz=BAND_DC_CUTOFF_HZ,
    ),
}


def get_config(name: str, **overrides) -> ModelConfig:
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}; choose one of {', '.join(CONFIGS)}")
    return CONFIGS[name].with_(**overrides) if overrides else CONFIGS[name]


# F-RAVE, C-RAVE, plain RAVE: train/lightning_module.py says what each trains.
MODES = ("frave", "crave", "rave")
# How an exported model stores its network weights (format/nrv.py says why fp16).
WEIGHT_PRECISIONS = ("fp32", "fp16")
# How the control terms' gradient is cut where it opposes the rest (TrainConfig).
CONTROL_PROJECTIONS = ("", "model", "tensor")


def _refuse_unknown(config: type, values: dict, what: str) -> None:
    unknown = sorted(set(values) - {f.name for f in fields(config)})
    if unknown:
        raise ValueError(f"unknown {what}: {', '.join(unknown)}")


@dataclass(frozen=True)
class TrainConfig:
    """What `neurorave train` learns (train/lightning_module.py); written into the run
    folder's train.json, so fixed for the life of a run."""

    config: str = "small"                 # model preset (CONFIGS)
    # Channels of the first layer (doubling at each stage); 0: the preset's. A run started
    # (--init) from a narrower model widens it without changing what it plays
    # (format/nrv.py: load_into_trainable).
    capacity: int = 0
    # Taps per band of the PQMF's prototype; 0: the preset's. A run started (--init) from a
    # model with a shorter filter bank plays its bands through this one.
    pqmf_taps_per_band: int = 0
    # ModelConfig.noise_subbands; 0: the preset's. A run started (--init) from a model with
    # white band noise adds the noise shaper at gains that play it as before.
    noise_subbands: int = 0
    # ModelConfig.encoder_residual_dilations. A run started (--init) from a model without
    # them adds them as blocks that pass their input through unchanged until they learn.
    encoder_residual_dilations: tuple[int, ...] = ()
    causal: bool = False
    mode: str = "frave"
    descriptors: tuple[str, ...] = DEFAULT_DESCRIPTORS
    steps: int = 300_000                  # batches in all, both phases
    phase1_steps: int = 200_000           # then the encoder freezes and the GAN starts
    batch_size: int = 8
    # Each batch trains on a random span of this many samples of its windows (whole
    # frames, at least lightning_module.MIN_CROP_FRAMES; 0: the whole window): more batches
    # per CPU-second.
    crop_samples: int = 8192
    learning_rate: float = 1e-4
    # The auto-encoder's rate falls along a half cosine over phase 1 to this share of
    # `learning_rate` (1: constant); phase 2 starts again at `learning_rate`. A rate
    # that ends low settles the weights where a constant one keeps them wandering.
    final_learning_rate_ratio: float = 1.0
    # An exponential moving average of the auto-encoder's weights, updated every batch
    # (0: none); `export` writes the averaged weights when a run has them. Adam at
    # beta1 0.5 moves the figures a few per cent between checkpoints; the average smooths
    # that out.
    weight_average_decay: float = 0.0
    beta: float = 0.01                    # KL weight after warm-up (0.1 collapses z)
    beta_warmup_steps: int = 20_000
    kl_free_bits: float = 1.0             # nats per latent channel the KL leaves unpriced
    # The posterior's spread never falls below this in training (0: the model's own 1e-4).
    # With beta small the spread shrinks to a few thousandths and the KL's mean term shrinks
    # the whole latent with it, information intact: the posterior means' variance drifts
    # under any fixed activity threshold over a long run. A floor makes the decoder read z
    # against a noise of known size, so the means must keep their spread to carry anything.
    posterior_min_std: float = 0.0
    init_latent_scale: bool = True        # data-dependent init of the posterior mean (nn/model.py)
    latent_weight: float = 1.0            # lambda of the confusion loss (frave)
    latent_delay_steps: int = 10_000
    latent_ramp_steps: int = 10_000
    latent_hidden: int = 64
    latent_learning_rate: float = 1e-3    # the latent discriminator must keep up with z
    # The latent discriminator reads each frame of z scaled to unit length, so that the
    # confusion cannot be met by shrinking the whole latent (and the note's pitch with it)
    # under the posterior's noise (docs/experiments/2026-12-03-pitch-under-the-confusion-loss.md).
    latent_unit_frames: bool = True
    adversarial_weight: float = 1.0
    feature_matching_weight: float = 10.0
    # The generator's adversarial and feature-matching terms rise from 0 over this many
    # batches of phase 2, so a young critic does not pull the decoder off the spectral match.
    adversarial_ramp_steps: int = 0
    waveform_capacity: int = 16
    waveform_layers: int = 4
    stft_scales: tuple[int, ...] = (2048, 1024, 512, 256, 128)
    # The reconstruction's log-magnitude term against its linear one. At 2 it pulls the
    # quiet bins toward the input's (held-out distance about 0.1 lower), and boominess's
    # fader then moves the loudness 0.2-0.3 dB more: 1 in the recipe
    # (docs/experiments/2026-12-07-the-log-term-s-weight.md).
    spectral_log_weight: float = 1.0
    # Paired augmentation (train/augment.py): share of windows encoded from one transformed
    # copy and rebuilt as another, from that other copy's curves.
    augment_probability: float = 0.5
    # Before it, a share of windows resampled by a shift drawn within +- this many
    # semitones (0: none; at most 12, so that a window of 2 crops still fills one): the
    # data sets' notes sit on a grid of pitches (nsynth-like: mostly C and E), and a model
    # that heard only those plays other notes at other pitches
    # (docs/experiments/2026-12-06-pitches-off-the-grid.md).
    pitch_shift_semitones: float = 0.0
    pitch_shift_probability: float = 0.5
    # Control (train/control.py): drawn target curves, measured in the output.
    control_weight: float = 1.0
    control_delay_steps: int = 0
    # Curves replaced per window, drawn uniformly from 1..this (the paper's mix: 4; 1: each
    # window moves one fader, the others following, as a player moves one).
    control_max_replaced: int = 4
    # A descriptor's share of the control term, by name (1 where not named): a lagging
    # fader pulled harder without weakening the others.
    control_descriptor_weights: dict[str, float] = field(default_factory=dict)
    # Each frame's control error is priced only beyond this (normalised units, a fader's
    # range spanning 2; 0: all of it): a fader already within it of its target stops
    # pulling the weights the reconstruction needs. At 0.1 the distance got worse
    # (docs/experiments/2026-12-07-what-each-term-costs.md).
    control_tolerance: float = 0.0
    # Pairs of descriptors too coupled in the data to move apart (centroid and sharpness:
    # Pearson 0.96 over the nsynth-like set's sounding frames): where a window's draw
    # replaces one of a pair and the other follows the window, the follower's error is left
    # out, so the decoder is not asked to hold it while its partner moves.
    control_released_pairs: tuple[tuple[str, str], ...] = ()
    # Pairs drawn together: where a window's draw replaces both of a pair, the second's
    # target is the first's (train/control.coupled_targets).
    control_coupled_pairs: tuple[tuple[str, str], ...] = ()
    cycle_weight: float = 1.0             # the latent-cycle term, relative to control
    # The auto-encoder's parameters the control terms (control, noise guard, cycle, control
    # partials) train, as prefixes of their names (e.g. "decoder.layers.0." for the layer
    # that reads z and the curves); empty: every parameter. The reconstruction's terms train
    # them all, so the faders get weights of their own instead of pulling the ones the
    # reconstruction needs. On the first layer alone both got worse (the same page).
    control_trains: tuple[str, ...] = ()
    # The auto-encoder's parameters that any term trains, as prefixes of their names; empty:
    # every one. The rest keep the weights the run started from (--init): a second stage
    # that teaches the faders to layers of their own while a model trained for the
    # reconstruction stays as it was. A stage's choice, not passed on to a run --init from it.
    trains: tuple[str, ...] = ()
    # Gradient surgery (PCGrad, Yu et al. 2020) on the control terms' gradient where it points
    # against the rest of the step's: "" off; "model": their gradient over the weights they
    # train, taken as one vector, loses its component along the rest's; "tensor": the same
    # per weight tensor. To first order the faders then learn without costing the
    # reconstruction. Off: the two gradients are nearly orthogonal already (cosine -0.03 to
    # 0.24, logged as train/control_cosine), and neither form moved the distance
    # (docs/experiments/2026-12-07-the-distance-the-eval-measures.md).
    control_projection: str = ""
    # losses.partial_distance of the control branch's output to the encoded audio, relative
    # to control: a drawn curve may move the envelope, not the partials (the pitch).
    # Logged as train/control_partials where it is on.
    control_partial_weight: float = 0.0
    # Frames whose requested rms lies more than this below the window's own are left out
    # of the partials term: there a quiet output's partials sink into the decoder's noise
    # floor, and pricing them teaches the decoder to refuse the quiet (inf: every frame).
    control_partial_max_drop_db: float = 10.0
    noise_guard_weight: float = 1.0
    # The noise guard in dB: the output's flatness over the encoded audio's, beyond this
    # many dB (None: beyond 0.05 in linear flatness, which a tonal note's -30 dB leaves
    # 17 dB of unpriced rise; train/control.py).
    noise_guard_margin_db: float | None = None
    # Compare with the decoder's own rendition of the window under its own curves (the
    # reconstruction, detached) instead of the encoded audio: then the guard prices only
    # the flatness the drawn curves add, as `evaluate`'s flatness rise measures it, and not
    # the decoder's noise floor, which the reconstruction losses already price.
    noise_guard_on_reconstruction: bool = False
    # Lines at the frame rate's multiples in the output that the target lacks
    # (losses.frame_line_excess): images of the upsampling after a nonlinearity, band edges.
    frame_line_weight: float = 0.0
    frame_line_margin: float | None = None      # nats; None: losses.FRAME_LINE_MARGIN
    # Its neighbourhood's level as the mean of log power (losses.frame_line_excess).
    frame_line_geometric_floor: bool = False
    band_dc_weight: float = 0.0           # losses.band_dc_excess: the lines at band edges
    # Octave errors (losses.periodicity_distance): the lags a pitch tracker reads.
    periodicity_weight: float = 0.0
    # The reconstruction's partials against its target's (losses.partial_distance): a
    # subharmonic or a lost odd partial that YIN reads as another octave, few bins among
    # thousands for the spectral distance. Logged as train/partials where it is on.
    partial_weight: float = 0.0
    # Its neighbourhood (Hz; None: losses.PARTIAL_PEAK_HZ): a subharmonic is a peak only
    # where half of f0 exceeds half of it (the default sees notes from about 200 Hz up).
    partial_peak_hz: float | None = None
    # The partials' levels (losses.partial_level_distance): the energy around each of the
    # target's partials, whatever its level, so the highest ones are not hedged away.
    # Logged as train/partial_levels where it is on.
    partial_level_weight: float = 0.0
    held_upsampling: bool = False         # ModelConfig.held_upsampling
    band_dc_cutoff_hz: float | None = None  # ModelConfig.band_dc_cutoff_hz; None: the preset's
    band_dc_period: int = 1               # ModelConfig.band_dc_period
    band_comb_cutoff_hz: float = 0.0      # ModelConfig.band_comb_cutoff_hz
    seed: int = 0

    def _check_descriptor_pairs(self, name: str) -> None:
        pairs = getattr(self, name)
        if any(not isinstance(pair, (list, tuple)) or len(pair) != 2
               or set(pair) - set(self.descriptors) for pair in pairs):
            raise ValueError(f"{name} must list pairs of descriptors among "
                             f"{', '.join(self.descriptors)}, e.g. [[\"centroid\", "
                             f"\"sharpness\"]]; got {pairs!r}")
        # Stored as JSON lists of lists: tuples inside too, so a stored run compares equal.
        object.__setattr__(self, name, tuple(tuple(pair) for pair in pairs))

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.descriptors:
            raise ValueError("name at least one descriptor (the latent discriminator probes "
                             "them in every mode)")
        if self.control_max_replaced < 1:
            raise ValueError(f"control_max_replaced must be at least 1, got "
                             f"{self.control_max_replaced}")
        if not isinstance(self.control_descriptor_weights, dict):
            raise ValueError(f"control_descriptor_weights must map descriptor names to weights, "
                             f"e.g. {{\"sharpness\": 3}}; got {self.control_descriptor_weights!r}")
        unknown = sorted(set(self.control_descriptor_weights) - set(self.descriptors))
        if unknown:
            raise ValueError(f"control_descriptor_weights names {', '.join(unknown)}, not among "
                             f"the descriptors ({', '.join(self.descriptors)})")
        for name in ("control_released_pairs", "control_coupled_pairs"):
            self._check_descriptor_pairs(name)
        if any(w < 0 for w in self.control_descriptor_weights.values()):
            raise ValueError(f"control_descriptor_weights must not be negative, got "
                             f"{self.control_descriptor_weights}")
        if self.control_projection not in CONTROL_PROJECTIONS:
            raise ValueError(f"control_projection must be one of {CONTROL_PROJECTIONS}, got "
                             f"{self.control_projection!r}")
        if self.control_tolerance < 0:
            raise ValueError(f"control_tolerance must not be negative, got "
                             f"{self.control_tolerance}")
        if not 0.0 < self.final_learning_rate_ratio <= 1.0:
            raise ValueError(f"final_learning_rate_ratio must lie in (0, 1], got "
                             f"{self.final_learning_rate_ratio}")
        if not 0.0 <= self.weight_average_decay < 1.0:
            raise ValueError(f"weight_average_decay must lie in [0, 1), got "
                             f"{self.weight_average_decay}")
        if not 0.0 <= self.posterior_min_std < 1.0:
            raise ValueError(f"posterior_min_std must lie in [0, 1) (the prior's spread is 1), "
                             f"got {self.posterior_min_std}")
        if not 0.0 <= self.pitch_shift_semitones <= 12.0:
            raise ValueError(f"pitch_shift_semitones must lie in [0, 12], got "
                             f"{self.pitch_shift_semitones}")
        if not 0.0 <= self.pitch_shift_probability <= 1.0:
            raise ValueError(f"pitch_shift_probability must lie in [0, 1], got "
                             f"{self.pitch_shift_probability}")
        if self.capacity < 0:
            raise ValueError(f"capacity must not be negative (0: the preset's), got "
                             f"{self.capacity}")
        if self.pqmf_taps_per_band < 0:
            raise ValueError(f"pqmf_taps_per_band must not be negative (0: the preset's), "
                             f"got {self.pqmf_taps_per_band}")
        if self.noise_subbands < 0:
            raise ValueError(f"noise_subbands must not be negative (0: the preset's), "
                             f"got {self.noise_subbands}")
        if not 0 <= self.phase1_steps <= self.steps:
            raise ValueError(f"phase1_steps ({self.phase1_steps}) must lie in 0..steps "
                             f"({self.steps})")

    def model_config(self) -> ModelConfig:
        conditioned = self.descriptors if self.mode != "rave" else ()
        cutoff = {} if self.band_dc_cutoff_hz is None else \
            {"band_dc_cutoff_hz": self.band_dc_cutoff_hz}
        # Fields where 0 means the preset's value.
        chosen = {k: v for k, v in (("capacity", self.capacity),
                                    ("pqmf_taps_per_band", self.pqmf_taps_per_band),
                                    ("noise_subbands", self.noise_subbands)) if v}
        return get_config(self.config, causal=self.causal, descriptors=tuple(conditioned),
                          held_upsampling=self.held_upsampling,
                          band_dc_period=self.band_dc_period,
                          band_comb_cutoff_hz=self.band_comb_cutoff_hz,
                          encoder_residual_dilations=self.encoder_residual_dilations,
                          **cutoff, **chosen)

    def to_dict(self) -> dict:
        return {**asdict(self), "descriptors": list(self.descriptors),
                "stft_scales": list(self.stft_scales), "control_trains": list(self.control_trains),
                "trains": list(self.trains)}

    def recipe(self) -> dict:
        """How this run learns, without what a model file fixes or a new run sets for
        itself: what an exported model passes on to a run started from it (--init)."""
        return {k: v for k, v in self.to_dict().items() if k not in NOT_IN_A_RECIPE}

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        _refuse_unknown(cls, data, "training options")
        data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**data)

    @classmethod
    def from_stored(cls, data: dict) -> TrainConfig:
        """The options a run folder or checkpoint recorded, read as that run trained:
        an option it predates takes the value that left its model as it was."""
        preset = _PRESET_BEFORE_THEIR_OPTION.get(data.get("config"), {})
        return cls.from_dict({**_BEFORE_THEIR_OPTION, **preset, **data})

    def resolved(self) -> TrainConfig:
        """With the preset's values written in, so that the run keeps them if a preset
        changes."""
        model = self.model_config()
        return replace(self, band_dc_cutoff_hz=model.band_dc_cutoff_hz, capacity=model.capacity,
                       pqmf_taps_per_band=model.pqmf_taps_per_band,
                       noise_subbands=model.noise_subbands)


# The options a model file's architecture fixes (`train --init` reads them from the file:
# trainer.model_options) and a run's length, which a new run chooses.
NOT_IN_A_RECIPE = frozenset({
    "config", "capacity", "pqmf_taps_per_band", "noise_subbands", "encoder_residual_dilations",
    "causal", "descriptors", "held_upsampling", "band_dc_cutoff_hz", "band_dc_period",
    "band_comb_cutoff_hz", "steps", "phase1_steps", "trains"})

# What a run from before an option played as: runs before the bands' DC blocker had none,
# runs before sub-band noise had white band noise, and `lowlatency` runs before the option
# had a filter bank of 4 taps per band.
_BEFORE_THEIR_OPTION = {"band_dc_cutoff_hz": 0.0, "noise_subbands": 1}
_PRESET_BEFORE_THEIR_OPTION = {"lowlatency": {"pqmf_taps_per_band": 4}}


@dataclass(frozen=True)
class RunOptions:
    """How to run (not what to learn): may change between a run and its resumption."""

    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str | None = None      # None: bf16-mixed on a GPU, 32-true on the CPU
    num_workers: int = 0
    checkpoint_every: int = 1000
    validate_every: int = 2000
    validation_batches: int = 8
    log_every: int = 50
    progress_bar: bool = True
    max_minutes: float | None = None  # stop this session after so long (checkpointed)
    max_cpu_minutes: float | None = None  # ... or after this much CPU time of this process


@dataclass(frozen=True)
class PriorConfig:
    """How `neurorave train-prior` fits the prior (train/prior_fit.py)."""

    hidden: int = 256
    layers: int = 2
    steps: int = 4000
    batch_size: int = 32
    learning_rate: float = 1e-3
    checkpoint_every: int = 500
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict) -> PriorConfig:
        _refuse_unknown(cls, values, "prior setting(s)")
        return cls(**values)


__all__ = ["CONFIGS", "DATASET_KINDS", "DEFAULT_DESCRIPTORS", "MODES", "ModelConfig",
           "PriorConfig", "RunOptions", "TrainConfig", "get_config"]
