"""The default Evaluator: batched inference, metrics accumulated per batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from plmkit.batching import Encoded, eval_loader
from plmkit.stages.evaluate.base import EvalResult, Evaluator
from plmkit.tasks.base import TaskAdapter


class DefaultEvaluator(Evaluator):
    def __init__(self, task: TaskAdapter, batch_size: int = 128):
        self.task = task
        self.batch_size = batch_size

    def evaluate(
        self,
        model,
        data: Encoded,
        *,
        pad_id: int,
        accelerator: Any = None,
        with_predictions: bool = False,
    ) -> EvalResult:
        accelerator = accelerator or Accelerator()
        # Batches go where the model is: a model loaded for predict stays on the CPU even when
        # the (process-wide) accelerator state points at a GPU.
        device = next(model.parameters()).device
        loader = accelerator.prepare_data_loader(
            eval_loader(data, self.batch_size, pad_id), device_placement=False
        )
        has_targets = data.targets is not None
        metrics = self.task.new_metrics() if has_targets else None
        decoded: dict[str, np.ndarray] = {}
        loss_sum, count = 0.0, 0
        was_training = model.training
        model.eval()
        with torch.inference_mode():
            for batch in tqdm(loader, desc="evaluate", unit="batch", disable=None, leave=False):
                batch = {k: v.to(device) for k, v in batch.items()}
                rows = batch.pop("row")
                outputs = model(**batch)
                logits = outputs.logits
                if has_targets:
                    # Gathered across processes without the padding duplicates of the last batch.
                    loss = outputs.loss.detach().float() * len(rows)
                    logits, labels, rows, loss = accelerator.gather_for_metrics(
                        (logits, batch["labels"], rows, loss[None])
                    )
                    metrics.update(logits, labels)
                    loss_sum += loss.sum().item()
                    count += len(rows)
                else:
                    logits, rows = accelerator.gather_for_metrics((logits, rows))
                if with_predictions:
                    _store(decoded, self.task.decode(logits), rows.cpu().numpy(), len(data))
        model.train(was_training)

        scores = metrics.compute() if metrics is not None else {}
        if has_targets:
            scores["loss"] = loss_sum / max(count, 1)
        predictions = self._table(data, decoded) if with_predictions else None
        return EvalResult(metrics=scores, predictions=predictions)

    def _table(self, data: Encoded, decoded: dict[str, np.ndarray]) -> pd.DataFrame:
        table = {"id": data.ids}
        if data.targets is not None:
            table["label"] = self.task.readable_targets(data.targets)
        table.update(self.task.readable(decoded))
        return pd.DataFrame(table)


def _store(
    decoded: dict[str, np.ndarray], batch: dict[str, torch.Tensor], rows: np.ndarray, n: int
) -> None:
    """Write one batch's decoded outputs into per-row arrays, restoring the input order."""
    for key, values in batch.items():
        values = values.cpu().numpy()
        if key not in decoded:
            decoded[key] = np.zeros((n, *values.shape[1:]), dtype=values.dtype)
        decoded[key][rows] = values
