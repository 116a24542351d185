"""Training: the losses, discriminators, control loss, paired augmentation and
differentiable descriptors; the LightningModule; the run folder and the trainer that
fills it; the prior's fit; previews and summaries of runs. Imports data/, format/, nn/
and the base layer (neurorave/__init__.py)."""
