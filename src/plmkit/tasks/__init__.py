"""Task adapters: the TaskAdapter ABC and the built-in tasks."""

from plmkit.tasks.base import Metrics, TaskAdapter
from plmkit.tasks.classification import TextClassification

__all__ = ["Metrics", "TaskAdapter", "TextClassification"]
