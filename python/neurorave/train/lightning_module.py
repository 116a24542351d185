"""F-RAVE, C-RAVE and plain RAVE training as one LightningModule.

Phase 1 (representation): multi-scale spectral distance + beta * KL (beta warms up, with
free bits per channel; the posterior mean starts scaled to the data, so the decoder meets
a moving z from the first batch). Each batch trains on a random crop of its windows,
encoded from one transformed copy and rebuilt as another (train/augment.py), and, in
the conditioned modes, decoded once more with drawn target curves for the control loss
(train/control.py). A latent discriminator learns, in every mode, to guess each descriptor's
quantile bin from z: in `rave` and `crave` it is only a probe (its accuracy is logged);
in `frave` the encoder is also pushed, with a weight that ramps in after a delay, to
leave it no better than chance. `crave` and `frave` decoders receive the normalised
descriptor curves.
Phase 2 (adversarial fine-tuning): the encoder is frozen; a multi-scale waveform
discriminator adds hinge and feature-matching losses to the decoder's.

Every step makes ONE backward pass (two, over disjoint graphs, where control_trains
keeps the control terms to some of the weights or control_projection cuts their
gradient): each network's loss only reaches its own parameters (the opponent is called
with detached weights), so DDP sees one forward and one backward per step, and resuming
a run replays exactly: batch k and its random draws depend only on (seed, rank, k).
"""

from __future__ import annotations

import math
import time

import lightning as L
import torch
from numpy.random import SeedSequence
from torch import Tensor
from torch.func import functional_call
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..config import TrainConfig
from ..data.store import StepBatchSampler, TrainingWindows, WindowStore
from ..descriptors import window_length
from ..format.nrv import load_into_trainable
from ..nn.model import NeuroRave
from . import descriptors_torch
from .augment import band_limited_transform, pitch_shifted_crops, random_transform
from .control import (
    control_losses,
    coupled_targets,
    draw_targets,
    kept_loud_enough,
    released_followers,
)
from .discriminators import LatentDiscriminator, WaveformDiscriminator
from .losses import (
    FRAME_LINE_MARGIN,
    PARTIAL_PEAK_HZ,
    band_dc_excess,
    bin_accuracy,
    confusion_loss,
    descriptor_cross_entropy,
    feature_matching,
    frame_line_excess,
    hinge_discriminator,
    hinge_generator,
    kl_divergence,
    latent_statistics,
    multiscale_spectral_distance,
    partial_distance,
    partial_level_distance,
    periodicity_distance,
)
from .run_folder import AVERAGED_PREFIX

MIN_CROP_FRAMES = 8   # the decoder's context at the latent rate spans a few frames


def ramp(step: int, start: int, length: int) -> float:
    """0 before `start`, then linear up to 1 over `length` steps."""
    if step < start:
        return 0.0
    return 1.0 if length <= 0 else min(1.0, (step - start) / length)


def cosine_decay(step: int, length: int, final_ratio: float) -> float:
    """1 at step 0, falling along a half cosine to `final_ratio` at `length` and after."""
    if length <= 0 or final_ratio >= 1.0:
        return 1.0
    progress = min(1.0, step / length)
    return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _detached(module: torch.nn.Module) -> dict[str, Tensor]:
    return {name: p.detach() for name, p in module.named_parameters()}


def without_conflict(control: list[tuple[Tensor, Tensor]], per_tensor: bool
                     ) -> tuple[list[tuple[Tensor, Tensor]], Tensor]:
    """PCGrad (Yu et al. 2020): each (parameter, control gradient) less the gradient's
    component along the parameter's own `.grad` (the rest of the step's) where the two
    point apart; over all the pairs as one vector, or each tensor on its own. The rest's
    gradient over other weights is left out: the control terms do not reach them. Also
    the cosine between the two over all the pairs (below 0 they conflict), for the log."""
    def cut(g: Tensor, dot: Tensor, rest: Tensor, norm: Tensor) -> Tensor:
        return g - dot.clamp(max=0.0) / norm.clamp(min=1e-30) * rest

    pairs = [(g, p.grad) for p, g in control if p.grad is not None]
    dot, own, norm = (sum(terms, torch.zeros(())) for terms in (
        [(g * r).sum() for g, r in pairs], [g.square().sum() for g, _ in pairs],
        [r.square().sum() for _, r in pairs]))
    cosine = dot / (own * norm).sqrt().clamp(min=1e-30)
    if per_tensor:
        return [(p, g if p.grad is None else cut(g, (g * p.grad).sum(), p.grad,
                                                  p.grad.square().sum()))
                for p, g in control], cosine
    if dot >= 0:
        return control, cosine
    return [(p, g if p.grad is None else cut(g, dot, p.grad, norm)) for p, g in control], cosine


class NeuroRaveTraining(L.LightningModule):
    """`train`: TrainConfig.to_dict() (neurorave/config.py); `dataset`: the window store's
    folder."""

    def __init__(self, train: dict, dataset: str, descriptor_entries: list[dict],
                 num_workers: int = 0, init_model: str | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.cfg = TrainConfig.from_stored(train)
        self.model = NeuroRave(self.cfg.model_config())
        self.latent_discriminator = LatentDiscriminator(
            self.model.config.latent_size, len(self.cfg.descriptors), self.cfg.latent_hidden,
            unit_frames=self.cfg.latent_unit_frames)
        self.waveform_discriminator = WaveformDiscriminator(self.cfg.waveform_capacity,
                                                            self.cfg.waveform_layers)
        self.averaged_model = (
            AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(
                self.cfg.weight_average_decay), use_buffers=True).requires_grad_(False)
            if self.cfg.weight_average_decay > 0 else None)
        if self.cfg.trains:
            self._freeze_all_but(self.cfg.trains)
        if self.cfg.control_trains:
            self._trained_by_control()   # refused now, not at the first step
        self.automatic_optimization = False
        self.batches_done = 0
        self._last_step_end: float | None = None

    # ---- data ----------------------------------------------------------------------------
    def _windows(self, split: str):
        return TrainingWindows(WindowStore(self.hparams.dataset), split, self.cfg.descriptors)

    def train_dataloader(self):
        from torch.utils.data import DataLoader

        windows = self._windows("train")
        sampler = StepBatchSampler(len(windows), self.cfg.batch_size, self.cfg.seed,
                                   self.global_rank, start_batch=self.batches_done)
        return DataLoader(windows, batch_sampler=sampler, num_workers=self.hparams.num_workers)

    def val_dataloader(self):
        from torch.utils.data import DataLoader

        windows = self._windows("valid")
        if len(windows) == 0:   # a tiny folder may hold nothing out: validate on training
            windows = self._windows("train")
        return DataLoader(windows, batch_size=self.cfg.batch_size, shuffle=False)

    def on_train_start(self) -> None:
        """A new run starts from the weights of `init_model` if it has one, or else scales
        its posterior mean on the first training windows (the same on every rank); a
        resumed run keeps its trained weights."""
        if self.batches_done > 0:
            return
        if self.hparams.init_model:
            load_into_trainable(self.model, self.hparams.init_model)
            return
        if not self.cfg.init_latent_scale:
            return
        windows = self._windows("train")
        count = min(len(windows), 4 * self.cfg.batch_size)
        audio = torch.stack([windows[i][0] for i in range(count)]).to(self.device)
        self.model.initialise_latent_scale(audio)

    # ---- optimisation --------------------------------------------------------------------
    def configure_optimizers(self):
        def adam(params, rate: float):
            return torch.optim.Adam([p for p in params if p.requires_grad], rate,
                                    betas=(0.5, 0.9))

        rate = self.cfg.learning_rate
        return [adam(self.model.parameters(), rate),
                adam(self.latent_discriminator.parameters(), self.cfg.latent_learning_rate),
                adam(self.waveform_discriminator.parameters(), rate)]

    def _generator(self) -> torch.Generator:
        """Every random draw of this batch comes from here: a function of (seed, rank, batch)."""
        key = [self.cfg.seed, self.global_rank, self.batches_done]
        return torch.Generator().manual_seed(int(SeedSequence(key).generate_state(1)[0]))

    @property
    def _ranges(self) -> Tensor:
        """(n_descriptors, 2): the data set's [lo, hi] of each descriptor, as in the file."""
        entries = self.hparams.descriptor_entries
        return torch.tensor([e["range"] for e in entries], dtype=torch.float32,
                            device=self.device)

    def _measured(self, audio: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised curves and quantile bins of `audio`, as the data set computes them."""
        c = self.model.config.compression
        step = descriptors_torch.analysis_step(c)
        values = descriptors_torch.compute(audio, self.model.config.sample_rate, c,
                                           self.cfg.descriptors, frame_step=step)
        # Each frame takes the value of the next analysed one (windows overlap 4x or more).
        frames = audio.shape[-1] // c
        values = values.repeat_interleave(step, dim=-1)
        values = torch.cat([values, values[..., -1:].expand(*values.shape[:-1],
                                                            frames - values.shape[-1])], -1)
        bins = torch.stack([
            torch.bucketize(values[:, i].contiguous(),
                            torch.tensor(e["bins"][1:-1], dtype=values.dtype,
                                         device=values.device), right=True)
            for i, e in enumerate(self.hparams.descriptor_entries)], dim=1)
        return descriptors_torch.normalise(values, self._ranges), bins

    def _crop(self, audio: Tensor, curves: Tensor, bins: Tensor, generator: torch.Generator
              ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """The same random span of whole frames from every window of the batch; with the
        pitch shift on, each window's own span, its curves measured again, and the share of
        the spectrum it still carries (None: all of it)."""
        frames, c = curves.shape[-1], self.model.config.compression
        crop = max(MIN_CROP_FRAMES, self.cfg.crop_samples // c)
        if self.cfg.crop_samples <= 0 or crop >= frames:
            crop = frames
        if self.cfg.pitch_shift_semitones > 0:
            audio, limits = pitch_shifted_crops(audio, crop * c, self.cfg.pitch_shift_semitones,
                                                self.cfg.pitch_shift_probability, generator)
            return audio, *self._measured(audio), limits
        if crop == frames:
            return audio, curves, bins, None
        start = int(torch.randint(0, frames - crop + 1, (1,), generator=generator))
        return (audio[..., start * c:(start + crop) * c], curves[..., start:start + crop],
                bins[..., start:start + crop], None)

    @torch.no_grad()
    def _paired_views(self, audio: Tensor, curves: Tensor, bins: Tensor,
                      generator: torch.Generator
                      ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """(encoded audio, its bins, rebuilt audio, its curves, the share of the Nyquist
        frequency the rebuilt audio is priced up to, None: all of it): a window is encoded
        from one transformed copy and rebuilt as another, with probability
        augment_probability."""
        if self.cfg.augment_probability <= 0.0:
            return audio, bins, audio, curves, None
        rate = self.model.config.sample_rate
        chosen = (torch.rand(audio.shape[0], generator=generator)
                  < self.cfg.augment_probability).to(audio.device)
        source = torch.where(chosen[:, None, None], random_transform(audio, rate, generator),
                             audio)
        transformed, heard = band_limited_transform(audio, rate, generator)
        target = torch.where(chosen[:, None, None], transformed, audio)
        _, source_bins = self._measured(source)
        target_curves, _ = self._measured(target)
        return (source, source_bins, target, target_curves,
                torch.where(chosen, heard, torch.ones_like(heard)))

    def _posterior(self, audio: Tensor) -> tuple[Tensor, Tensor]:
        """The posterior's mean and spread, the spread held at posterior_min_std or above."""
        mean, std = self.model.encode_distribution(audio)
        return mean, std.clamp(min=self.cfg.posterior_min_std)

    def training_step(self, batch, batch_idx):
        audio, curves, bins = batch
        step, cfg = self.batches_done, self.cfg
        phase2 = step >= cfg.phase1_steps
        generator = self._generator()
        audio, curves, bins, shifted_limits = self._crop(audio, curves, bins, generator)
        source, bins, target, curves, heard = self._paired_views(audio, curves, bins, generator)
        band_limits = (heard if shifted_limits is None else shifted_limits if heard is None
                       else torch.minimum(shifted_limits, heard))
        with torch.set_grad_enabled(not phase2):
            mean, std = self._posterior(source)
            z = mean + std * torch.randn(mean.shape, generator=generator).to(self.device)
            kl = kl_divergence(mean, std, cfg.kl_free_bits)
        bands = self.model.decode_bands(z, curves if cfg.mode != "rave" else None)
        y = self.model.pqmf_synthesis(bands)
        distance = multiscale_spectral_distance(target, y, cfg.stft_scales, band_limits,
                                                cfg.spectral_log_weight)
        with torch.set_grad_enabled(cfg.frame_line_weight > 0):
            margin = (FRAME_LINE_MARGIN if cfg.frame_line_margin is None
                      else cfg.frame_line_margin)
            lines = frame_line_excess(target, y, self.model.config.compression,
                                      margin=margin,
                                      geometric_floor=cfg.frame_line_geometric_floor)
        with torch.set_grad_enabled(cfg.band_dc_weight > 0):
            band_dc = band_dc_excess(bands, self.model.pqmf_analysis(target))
        with torch.set_grad_enabled(cfg.periodicity_weight > 0):
            periodicity = periodicity_distance(target, y, self.model.config.sample_rate)
        # The discriminator reads the posterior mean: what the decoder could recover of
        # a descriptor, without the sampling noise that hides it early in training.
        probe = self.latent_discriminator(mean.detach())
        logs = {"distance": distance, "frame_lines": lines, "band_dc": band_dc,
                "periodicity": periodicity, "kl": kl,
                "probe_loss": descriptor_cross_entropy(probe, bins),
                **latent_statistics(mean, std)}
        beta = cfg.beta * ramp(step, 0, cfg.beta_warmup_steps)
        total = distance + beta * kl + logs["probe_loss"]
        if cfg.frame_line_weight > 0:
            total = total + cfg.frame_line_weight * lines
        if cfg.band_dc_weight > 0:
            total = total + cfg.band_dc_weight * band_dc
        if cfg.periodicity_weight > 0:
            total = total + cfg.periodicity_weight * periodicity
        if cfg.partial_weight > 0:   # off, not even logged: as control_partials
            logs["partials"] = partial_distance(target, y, self.model.config.sample_rate,
                                                peak_hz=cfg.partial_peak_hz or PARTIAL_PEAK_HZ)
            total = total + cfg.partial_weight * logs["partials"]
        if cfg.partial_level_weight > 0:
            logs["partial_levels"] = partial_level_distance(target, y,
                                                            self.model.config.sample_rate)
            total = total + cfg.partial_level_weight * logs["partial_levels"]
        if cfg.mode == "frave" and not phase2:
            weight = cfg.latent_weight * ramp(step, cfg.latent_delay_steps, cfg.latent_ramp_steps)
            fooled = functional_call(self.latent_discriminator,
                                     _detached(self.latent_discriminator), (mean,))
            logs["confusion"] = confusion_loss(fooled)
            logs["latent_weight"] = torch.tensor(weight)
            total = total + weight * logs["confusion"]
        control_gradients: list[tuple[Tensor, Tensor]] = []
        if cfg.control_weight > 0 and cfg.mode != "rave" and step >= cfg.control_delay_steps:
            control = cfg.control_weight * self._control_terms(
                z.detach(), mean.detach(), curves, source, y.detach(), generator, logs)
            if cfg.control_trains or cfg.control_projection:
                control_gradients = self._gradients_of_control(control)
            else:
                total = total + control
        if phase2:
            total = total + self._adversarial_losses(target, y, logs, step)
        rate = cfg.learning_rate * (1.0 if phase2 else cosine_decay(
            step, cfg.phase1_steps, cfg.final_learning_rate_ratio))
        self.optimizers()[0].param_groups[0]["lr"] = rate
        logs["learning_rate"] = torch.tensor(rate)
        for optimizer in self.optimizers():
            optimizer.zero_grad(set_to_none=True)
        self.manual_backward(total)
        if cfg.control_projection and control_gradients:
            control_gradients, logs["control_cosine"] = without_conflict(
                control_gradients, cfg.control_projection == "tensor")
        for parameter, gradient in control_gradients:
            parameter.grad = gradient if parameter.grad is None else parameter.grad + gradient
        for optimizer in self.optimizers():
            optimizer.step()
        if self.averaged_model is not None:
            self.averaged_model.update_parameters(self.model)
        self._log_step(logs, bin_accuracy(probe, bins), beta)
        self.batches_done += 1
        if self.batches_done >= cfg.steps:
            self.trainer.should_stop = True

    def _control_terms(self, z: Tensor, mean: Tensor, curves: Tensor, source: Tensor,
                       rendition: Tensor, generator: torch.Generator, logs: dict) -> Tensor:
        """Control + noise guard + latent cycle: z decoded with drawn target curves
        (`rendition`: z decoded with `curves`, detached)."""
        cfg, model_cfg = self.cfg, self.model.config
        c = model_cfg.compression
        targets, replaced = draw_targets(curves, generator, cfg.control_max_replaced)
        if cfg.control_coupled_pairs:
            targets = coupled_targets(targets, replaced, cfg.descriptors,
                                      cfg.control_coupled_pairs)
        output = self.model.decode(z, targets)
        # The first frames' analysis windows reach back before the span: left out.
        reach = window_length(c) // c - 1
        weights = ([cfg.control_descriptor_weights.get(d, 1.0) for d in cfg.descriptors]
                   if cfg.control_descriptor_weights else None)
        terms = control_losses(output, source, targets, cfg.descriptors, self._ranges,
                               model_cfg.sample_rate, c, skip_frames=reach,
                               descriptor_weights=weights, tolerance=cfg.control_tolerance,
                               noise_margin_db=cfg.noise_guard_margin_db,
                               flatness_reference=(rendition if cfg.noise_guard_on_reconstruction
                                                   else None),
                               released=(released_followers(replaced, cfg.descriptors,
                                                            cfg.control_released_pairs)
                                         if cfg.control_released_pairs else None))
        encoded = functional_call(self.model.encoder, _detached(self.model.encoder),
                                  (self.model.pqmf_analysis(output),))
        terms["cycle"] = (encoded[:, :model_cfg.latent_size] - mean).abs().mean()
        total = (terms["control"] + cfg.noise_guard_weight * terms["noise_guard"]
                 + cfg.cycle_weight * terms["cycle"])
        if cfg.control_partial_weight > 0:  # off, not even logged: +14 % per tiny-model step
            loud = kept_loud_enough(targets, curves, cfg.descriptors, self._ranges, c,
                                    cfg.control_partial_max_drop_db)
            terms["control_partials"] = partial_distance(source, output, model_cfg.sample_rate,
                                                         where=loud)
            total = total + cfg.control_partial_weight * terms["control_partials"]
        logs.update(terms)
        return total

    def _freeze_all_but(self, prefixes: tuple[str, ...]) -> None:
        """Only the parameters named by `prefixes` (TrainConfig.trains) learn."""
        kept = {id(p) for p in self._trainable_named(prefixes, "trains")}
        for p in self.model.parameters():
            if id(p) not in kept:
                p.requires_grad_(False)

    def _trained_by_control(self) -> list[Tensor]:
        """The trainable parameters whose names start with one of control_trains (every
        one where it is empty)."""
        return self._trainable_named(tuple(self.cfg.control_trains) or ("",), "control_trains")

    def _trainable_named(self, prefixes: tuple[str, ...], option: str) -> list[Tensor]:
        """The trainable parameters whose names start with one of `prefixes`; an `option`
        that names none of them is refused."""
        chosen = [p for name, p in self.model.named_parameters()
                  if p.requires_grad and name.startswith(prefixes)]
        if not chosen:
            raise ValueError(f"{option} {list(prefixes)} names none of the model's trainable "
                             f"parameters (e.g. 'decoder.layers.0.')")
        return chosen

    def _gradients_of_control(self, control: Tensor) -> list[tuple[Tensor, Tensor]]:
        """(parameter, gradient of `control`) for the parameters named by control_trains.
        The control decode shares no activations with the reconstruction's (its inputs are
        detached), so this backward pass and the step's own cover disjoint graphs; DDP
        averages only the step's own, so these are averaged here."""
        trained = self._trained_by_control()
        gradients = torch.autograd.grad(control, trained, allow_unused=True)
        if torch.distributed.is_initialized():
            for g in gradients:
                if g is not None:
                    torch.distributed.all_reduce(g)
                    g /= torch.distributed.get_world_size()
        return [(p, g) for p, g in zip(trained, gradients, strict=True) if g is not None]

    def _adversarial_losses(self, audio: Tensor, y: Tensor, logs: dict, step: int) -> Tensor:
        disc = self.waveform_discriminator
        real_scores, real_features = disc(audio)
        fake_scores, _ = disc(y.detach())
        judged, fake_features = functional_call(disc, _detached(disc), (y,))
        logs["discriminator"] = hinge_discriminator(real_scores, fake_scores)
        logs["adversarial"] = hinge_generator(judged)
        logs["feature_matching"] = feature_matching(real_features, fake_features)
        cfg = self.cfg
        weight = ramp(step, cfg.phase1_steps, cfg.adversarial_ramp_steps)
        logs["adversarial_ramp"] = torch.tensor(weight)
        return (logs["discriminator"] + weight * (
            cfg.adversarial_weight * logs["adversarial"]
            + cfg.feature_matching_weight * logs["feature_matching"]))

    def _log_step(self, logs: dict, accuracy: Tensor, beta: float) -> None:
        values = {f"train/{k}": v.detach().float() for k, v in logs.items()}
        values.update({f"train/latent_accuracy/{name}": accuracy[i]
                       for i, name in enumerate(self.cfg.descriptors)})
        values["train/beta"] = torch.tensor(beta)
        values["train/batch"] = torch.tensor(float(self.batches_done))
        # Throughput, for the logs only: from the previous step's end to this one's, so
        # it covers data loading and logging as well as the optimisation.
        now = time.perf_counter()
        if self._last_step_end is not None:
            values["train/seconds_per_batch"] = torch.tensor(now - self._last_step_end)
        self._last_step_end = now
        self.log_dict(values, prog_bar=False)
        self.log("distance", logs["distance"].detach(), prog_bar=True, logger=False)

    # ---- validation ----------------------------------------------------------------------
    def validation_step(self, batch, batch_idx):
        audio, curves, bins = batch
        mean, std = self._posterior(audio)
        y = self.model.decode(mean, curves if self.cfg.mode != "rave" else None)
        accuracy = bin_accuracy(self.latent_discriminator(mean), bins)
        values = {"val/distance": multiscale_spectral_distance(audio, y, self.cfg.stft_scales),
                  "val/latent_accuracy": accuracy.mean(),
                  **{f"val/{k}": v for k, v in latent_statistics(mean, std).items()}}
        values.update({f"val/latent_accuracy/{name}": accuracy[i]
                       for i, name in enumerate(self.cfg.descriptors)})
        self.log_dict(values, sync_dist=True)

    # ---- checkpoints ---------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["batches_done"] = self.batches_done

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.batches_done = int(checkpoint["batches_done"])
        # A run that starts averaging on resumption (or whose kernels were just held)
        # has no average yet: it starts from the trained weights.
        state = checkpoint["state_dict"]
        if self.averaged_model is not None and AVERAGED_PREFIX + "n_averaged" not in state:
            for key, value in self.averaged_model.state_dict().items():
                model_key = "model." + key.removeprefix("module.")
                state[AVERAGED_PREFIX + key] = state.get(model_key, value)
            state[AVERAGED_PREFIX + "n_averaged"] = torch.tensor(0, dtype=torch.long)
