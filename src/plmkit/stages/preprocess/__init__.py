"""Preprocessing stage: the Preprocessor and Step ABCs, built-in steps, hold-out split."""

from plmkit.stages.preprocess import steps
from plmkit.stages.preprocess.base import Preprocessed, Preprocessor, Step
from plmkit.stages.preprocess.default import StepPreprocessor
from plmkit.stages.preprocess.split import holdout
from plmkit.stages.preprocess.steps import FilterStep, TextStep

__all__ = [
    "FilterStep",
    "Preprocessed",
    "Preprocessor",
    "Step",
    "StepPreprocessor",
    "TextStep",
    "holdout",
    "steps",
]
