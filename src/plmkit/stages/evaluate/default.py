"""The default Evaluator: batched inference, metrics accumulated per batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
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
        # Batches go where the model is. Without an accelerator (predict, evaluate) this is a
        # plain single-process loop: creating one here would fix the process-wide Accelerate
        # state (e.g. its mixed precision) before a later training run in the same process.
        device = next(model.parameters()).device
        loader = eval_loader(data, self.batch_size, pad_id)
        gather = _identity
        if accelerator is not None:
            loader = accelerator.prepare_data_loader(loader, device_placement=False)
            gather = accelerator.gather_for_metrics
        has_targets = data.has_targets
        metrics = self.task.new_metrics() if has_targets else None
        decoded: dict[str, np.ndarray] = {}
        loss_sum, count = 0.0, 0
        was_training = model.training
        model.eval()
        with torch.inference_mode():
            for batch in tqdm(loader, desc="evaluate", unit="batch", disable=None, leave=False):
                batch = {k: v.to(device) for k, v in batch.items()}
                rows = batch.pop("row")
                outputs = model(**self.task.model_inputs(batch))
                logits = outputs.logits
                if has_targets:
                    loss_sum += self.task.loss(outputs, batch).detach().float() * len(rows)
                    count += len(rows)
                    # Gathered across processes without the padding duplicates of the last batch.
                    logits, labels, rows = gather((logits, batch["labels"], rows))
                    metrics.update(logits, labels)
                else:
                    logits, rows = gather((logits, rows))
                if with_predictions:
                    _store(decoded, self.task.decode(logits), rows.cpu().numpy(), len(data))
        model.train(was_training)

        scores = metrics.compute() if metrics is not None else {}
        if has_targets:
            totals = torch.stack(
                [
                    torch.as_tensor(loss_sum, device=device).float(),
                    torch.tensor(float(count), device=device),
                ]
            )
            if accelerator is not None:
                totals = accelerator.reduce(totals, reduction="sum")
            scores["loss"] = (totals[0] / totals[1].clamp(min=1)).item()
        predictions = self._table(data, decoded) if with_predictions else None
        return EvalResult(metrics=scores, predictions=predictions)

    def _table(self, data: Encoded, decoded: dict[str, np.ndarray]) -> pd.DataFrame:
        table = {"id": data.ids}
        if data.targets is not None:
            table["label"] = self.task.readable_targets(data.targets)
        table.update(self.task.readable(decoded))
        return pd.DataFrame(table)


def _identity(x):
    return x


def _store(
    decoded: dict[str, np.ndarray], batch: dict[str, torch.Tensor], rows: np.ndarray, n: int
) -> None:
    """Write one batch's decoded outputs into per-row arrays, restoring the input order."""
    for key, values in batch.items():
        if isinstance(values, torch.Tensor):
            values = values.cpu().numpy()
            if key not in decoded:
                decoded[key] = np.zeros((n, *values.shape[1:]), dtype=values.dtype)
            decoded[key][rows] = values
        else:  # one variable-size value per row (e.g. entity spans)
            decoded.setdefault(key, np.empty(n, dtype=object))
            for row, value in zip(rows, values, strict=True):
                decoded[key][row] = value
