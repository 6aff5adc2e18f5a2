"""Train stage: the Trainer ABC, the default Accelerate loop, optimizers and schedules."""

from plmkit.stages.train import optim
from plmkit.stages.train.base import Trainer, TrainResult
from plmkit.stages.train.default import DefaultTrainer, make_accelerator

__all__ = ["DefaultTrainer", "TrainResult", "Trainer", "make_accelerator", "optim"]
