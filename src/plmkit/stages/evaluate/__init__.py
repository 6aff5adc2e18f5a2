"""Evaluation stage: the Evaluator ABC and the default batched evaluator."""

from plmkit.stages.evaluate.base import EvalResult, Evaluator
from plmkit.stages.evaluate.default import DefaultEvaluator

__all__ = ["DefaultEvaluator", "EvalResult", "Evaluator"]
