"""Two-phase fine-tuning of a pretrained backbone: what trains in each epoch, at which rate.

Phase one (the first `freeze_epochs`): the backbone is frozen and the head trains at
`learning_rate`. Phase two: the backbone's layers from `unfreeze_from` of its depth upward train
with the head, at `fine_tune_learning_rate`. A model without pretrained weights has one phase:
everything trains at `learning_rate`.

The phase is a function of the epoch alone, so a job resumed from a checkpoint (or every host of
a multi-host job) is in the same phase as the run that wrote it. Freezing chooses the variables
the loop trains; no layer's `trainable` changes, so the model, its optimizer and its checkpoints
keep one shape across the switch (the optimizer holds slots for every variable from the start).
The backbone's BatchNormalization layers stay frozen throughout (byoc.model.backbones).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import keras

from byoc.errors import UserError
from byoc.hyperparams import HyperParameters
from byoc.model import backbones

log = logging.getLogger("byoc.training")

FROZEN, FINE_TUNING, WHOLE = "frozen backbone", "fine-tuning", "whole model"


@dataclass(frozen=True)
class Phases:
    """The phase of each epoch, and the variables and learning rate it trains with."""

    model: keras.Model
    hp: HyperParameters
    pretrained: bool

    @classmethod
    def of(cls, model: keras.Model, hp: HyperParameters, pretrained: bool) -> Phases:
        if hp.freeze_epochs and not pretrained:
            raise UserError(
                f"freeze_epochs={hp.freeze_epochs} freezes a backbone that has no pretrained "
                "weights: give it weights (a file in the `pretrained` channel, or "
                "weights=imagenet), or set freeze_epochs=0 to train it from scratch.")
        return cls(model, hp, pretrained)

    def name(self, epoch: int) -> str:
        if not (self.hp.backbone and self.pretrained):
            return WHOLE
        return FROZEN if epoch < self.hp.freeze_epochs else FINE_TUNING

    def switches_at(self, epoch: int) -> bool:
        """Whether `epoch` starts another phase than the epoch before it."""
        return epoch > 0 and self.name(epoch) != self.name(epoch - 1)

    def learning_rate(self, epoch: int) -> float:
        return self.hp.fine_tuning_rate if self.name(epoch) == FINE_TUNING \
            else self.hp.learning_rate

    def variables(self, epoch: int) -> list:
        """The variables trained in `epoch`, in the model's order (a subset of the ones the
        optimizer was built for)."""
        phase = self.name(epoch)
        if phase == WHOLE:
            return list(self.model.trainable_variables)
        backbone = backbones.backbone_of(self.model)
        frozen = backbone.layers if phase == FROZEN else \
            backbone.layers[:int(self.hp.unfreeze_from * len(backbone.layers))]
        excluded = {id(v) for layer in frozen for v in layer.trainable_variables}
        return [v for v in self.model.trainable_variables if id(v) not in excluded]

    def enter(self, epoch: int) -> list:
        """Set the optimizer's rate for `epoch`'s phase, log it, and return its variables."""
        variables = self.variables(epoch)
        self.model.optimizer.learning_rate.assign(self.learning_rate(epoch))
        if self.name(epoch) != WHOLE:
            log.info("Epoch %d: %s phase, %d of %d trainable variables at learning rate %g.",
                     epoch + 1, self.name(epoch), len(variables),
                     len(self.model.trainable_variables), self.learning_rate(epoch))
        return variables
