"""The default Trainer: one readable PyTorch loop on top of Hugging Face Accelerate.

Accelerate places the model and batches on the device, runs mixed precision and gradient
accumulation, and (under ``accelerate launch``) data-parallel training; the loop itself is the
seed script's: zero_grad / forward / loss / backward / step, then validate each epoch.
"""

from __future__ import annotations

import logging
import math
import time

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from plmkit import registry
from plmkit.batching import Encoded, train_loader
from plmkit.config.schema import TrainingConfig
from plmkit.rundir import RunDir
from plmkit.stages.evaluate.base import Evaluator
from plmkit.stages.train.base import Trainer, TrainResult
from plmkit.stages.train.precision import resolve_device, resolve_precision
from plmkit.tasks.base import TaskAdapter

log = logging.getLogger(__name__)


def make_accelerator(cfg: TrainingConfig) -> Accelerator:
    device = resolve_device(cfg.device)
    return Accelerator(
        mixed_precision=resolve_precision(cfg.mixed_precision, device),
        gradient_accumulation_steps=cfg.grad_accum_steps,
        cpu=device == "cpu",
    )


class DefaultTrainer(Trainer):
    def __init__(
        self, config: TrainingConfig, task: TaskAdapter, evaluator: Evaluator, seed: int = 42
    ):
        self.config = config
        self.task = task
        self.evaluator = evaluator
        self.seed = seed

    def fit(
        self,
        model,
        train: Encoded,
        validation: Encoded | None,
        *,
        pad_id: int,
        run: RunDir | None = None,
    ) -> TrainResult:
        cfg = self.config
        accelerator = make_accelerator(cfg)
        set_seed(self.seed)

        loader = train_loader(
            train,
            cfg.batch_size,
            pad_id,
            seed=self.seed,
            group_by_length=cfg.group_by_length,
            num_workers=cfg.num_workers,
        )
        sampler = loader.batch_sampler
        steps_per_epoch = math.ceil(len(loader) / cfg.grad_accum_steps)
        total_steps = steps_per_epoch * cfg.epochs
        if cfg.max_steps:
            total_steps = min(total_steps, cfg.max_steps)
        optimizer = registry.optimizers.get(cfg.optimizer)(model, cfg)
        scheduler = registry.schedules.get(cfg.schedule)(
            optimizer, int(cfg.warmup_ratio * total_steps), total_steps
        )
        model, optimizer, loader, scheduler = accelerator.prepare(
            model, optimizer, loader, scheduler
        )

        metric = cfg.best_metric or self.task.default_metric()
        higher = self.task.greater_is_better(metric)
        best_value, best_epoch, best_metrics, best_state = None, None, {}, None
        history, step = [], 0
        bar = tqdm(total=total_steps, desc="train", unit="step", disable=None, dynamic_ncols=True)
        for epoch in range(cfg.epochs):
            model.train()
            sampler.set_epoch(epoch)
            start, seen, loss_sum = (
                time.perf_counter(),
                0,
                torch.zeros((), device=accelerator.device),
            )
            for batch in loader:
                batch.pop("row")
                with accelerator.accumulate(model):
                    outputs = model(**self.task.model_inputs(batch))
                    loss = self.task.loss(outputs, batch)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and cfg.max_grad_norm:
                        accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                loss_sum += loss.detach()
                seen += 1
                if accelerator.sync_gradients:
                    step += 1
                    bar.update(1)
                    if step % cfg.log_every == 0:  # .item() syncs the device: only now and then
                        bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}")
                    if step >= total_steps:
                        break

            record = {
                "epoch": epoch + 1,
                "step": step,
                "train_loss": loss_sum.item() / max(seen, 1),
                "lr": scheduler.get_last_lr()[0],
                "train_seconds": round(time.perf_counter() - start, 3),
            }
            if validation is not None:
                scores = self.evaluator.evaluate(
                    model, validation, pad_id=pad_id, accelerator=accelerator
                ).metrics
                record["validation"] = scores
                value = scores[metric]
                if best_value is None or (value > best_value if higher else value < best_value):
                    best_value, best_epoch, best_metrics = value, epoch + 1, scores
                    best_state = _cpu_copy(accelerator.unwrap_model(model).state_dict())
            history.append(record)
            if run is not None and accelerator.is_main_process:
                run.append_history(record)
            log.info("epoch %d: %s", epoch + 1, _brief(record, metric))
            if step >= total_steps:
                break
        bar.close()

        model = accelerator.unwrap_model(model)
        if best_state is not None:
            model.load_state_dict(best_state)
        return TrainResult(
            model=model,
            best_epoch=best_epoch,
            best_metrics=best_metrics,
            history=history,
            accelerator=accelerator,
        )


def _cpu_copy(state: dict) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def _brief(record: dict, metric: str) -> str:
    val = record.get("validation", {})
    shown = f", validation {metric} {val[metric]:.4f}" if metric in val else ""
    return f"train loss {record['train_loss']:.4f}{shown}"
