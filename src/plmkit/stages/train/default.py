"""The default Trainer: one readable PyTorch loop on top of Hugging Face Accelerate.

Accelerate places the model and batches on the device, runs mixed precision and gradient
accumulation, and (under ``accelerate launch``) data-parallel training; the loop itself is the
seed script's: zero_grad / forward / loss / backward / step, then validate each epoch.
"""

from __future__ import annotations

import logging
import math
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from plmkit import registry
from plmkit.batching import Encoded, train_loader
from plmkit.config.schema import TrainingConfig
from plmkit.errors import TrainingStopped
from plmkit.rundir import RunDir
from plmkit.stages.evaluate.base import Evaluator
from plmkit.stages.train.base import Trainer, TrainResult
from plmkit.stages.train.checkpoint import Checkpoints, Progress
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
        steps_per_epoch = math.ceil(len(loader) / cfg.grad_accum_steps)
        total_steps = steps_per_epoch * cfg.epochs
        if cfg.max_steps:
            total_steps = min(total_steps, cfg.max_steps)
        optimizer = registry.optimizers.get(cfg.optimizer)(model, cfg)
        scheduler = registry.schedules.get(cfg.schedule)(
            optimizer, int(cfg.warmup_ratio * total_steps), total_steps
        )
        sampler = loader.batch_sampler
        model, optimizer, loader, scheduler = accelerator.prepare(
            model, optimizer, loader, scheduler
        )

        # A run directory with checkpoints in it is a run to continue (plmkit run --resume).
        checkpoints = Checkpoints(
            run.checkpoint_dir if run else Path(tempfile.mkdtemp(prefix="plmkit-ckpt-")),
            accelerator,
            keep=cfg.keep_checkpoints,
        )
        progress = Progress()
        if (latest := checkpoints.latest()) is not None:
            progress = checkpoints.load(latest)
            log.info(
                "resuming from %s (epoch %d, step %d)", latest, progress.epoch + 1, progress.step
            )

        metric = cfg.best_metric or self.task.default_metric()
        higher = self.task.greater_is_better(metric)
        bar = tqdm(
            total=total_steps,
            initial=progress.step,
            desc="train",
            unit="step",
            disable=None if accelerator.is_main_process else True,
            dynamic_ncols=True,
        )
        with StopSignals() as signals:
            while progress.epoch < cfg.epochs and progress.step < total_steps:
                epoch = progress.epoch
                model.train()
                batches = loader
                if progress.batch:  # resuming inside the epoch: same order, skip what was done
                    batches = accelerator.skip_first_batches(loader, progress.batch)
                # The batch order depends on (seed, epoch) only. Accelerate's loader re-seeds the
                # sampler with its own iteration count when iterated, and its skipping loader
                # does not reach the sampler: set both, so a resumed run keeps the order.
                sampler.set_epoch(epoch)
                batches.set_epoch(epoch)
                loss_sum = torch.tensor(progress.loss_sum, device=accelerator.device)
                started = time.perf_counter() - progress.seconds

                for batch in batches:
                    batch.pop("row")
                    with accelerator.accumulate(model):
                        outputs = model(**self.task.model_inputs(batch))
                        loss = self.task.loss(outputs, batch)
                        if not torch.isfinite(loss):  # before backward: weights still good
                            raise _non_finite(loss, progress, checkpoints)
                        accelerator.backward(loss)
                        if accelerator.sync_gradients and cfg.max_grad_norm:
                            accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                        optimizer.step()
                        scheduler.step()
                        optimizer.zero_grad(set_to_none=True)
                    loss_sum += loss.detach()
                    progress.batch += 1
                    if not accelerator.sync_gradients:
                        continue
                    progress.step += 1
                    bar.update(1)
                    if progress.step % cfg.log_every == 0:  # .item() syncs the device
                        bar.set_postfix(loss=f"{loss_sum.item() / progress.batch:.4f}")
                    every = cfg.checkpoint_every
                    if signals.received or (every and progress.step % every == 0):
                        progress.loss_sum = loss_sum.item()
                        progress.seconds = time.perf_counter() - started
                        saved = checkpoints.save(progress)
                        if signals.received:
                            raise _interrupted(signals.received, progress, saved)
                    if progress.step >= total_steps:
                        break

                # Mean over processes: each saw its own share of the batches.
                mean_loss = accelerator.reduce(loss_sum / max(progress.batch, 1), "mean")
                record = {
                    "epoch": epoch + 1,
                    "step": progress.step,
                    "train_loss": mean_loss.item(),
                    "lr": scheduler.get_last_lr()[0],
                    "train_seconds": round(time.perf_counter() - started, 3),
                }
                if validation is not None:
                    scores = self.evaluator.evaluate(
                        model, validation, pad_id=pad_id, accelerator=accelerator
                    ).metrics
                    record["validation"] = scores
                    self._track_best(progress, scores, metric, higher, model, checkpoints)
                progress.history.append(record)
                progress.epoch, progress.batch, progress.loss_sum, progress.seconds = (
                    epoch + 1,
                    0,
                    0.0,
                    0.0,
                )
                checkpoints.save(progress)
                if run is not None and accelerator.is_main_process:
                    run.write_history(progress.history)
                log.info("epoch %d: %s", epoch + 1, _brief(record, metric))
                patience = cfg.early_stopping_patience
                if patience and progress.bad_epochs >= patience:
                    log.info("early stopping: no %s improvement for %d epochs", metric, patience)
                    break
        bar.close()

        model = accelerator.unwrap_model(model)
        checkpoints.load_best(model)
        if run is None:  # checkpoints only live as long as a run directory keeps them
            shutil.rmtree(checkpoints.root, ignore_errors=True)
        return TrainResult(
            model=model,
            best_epoch=progress.best_epoch,
            best_metrics=progress.best_metrics,
            history=progress.history,
            accelerator=accelerator,
        )

    def _track_best(
        self,
        progress: Progress,
        scores: dict,
        metric: str,
        higher: bool,
        model,
        checkpoints: Checkpoints,
    ) -> None:
        value, best = scores[metric], progress.best_value
        delta = self.config.early_stopping_min_delta
        if best is None or (value > best + delta if higher else value < best - delta):
            progress.best_value, progress.best_epoch = value, progress.epoch + 1
            progress.best_metrics, progress.bad_epochs = scores, 0
            checkpoints.save_best(model)
        else:
            progress.bad_epochs += 1


class StopSignals:
    """SIGINT/SIGTERM set a flag instead of killing the process: the loop finishes its step,
    checkpoints and stops with a message saying how to resume."""

    def __init__(self):
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.received is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _interrupted(signum: int, progress: Progress, saved: Path) -> TrainingStopped:
    name = signal.Signals(signum).name
    return TrainingStopped(
        f"{name} received: stopped after step {progress.step} (epoch {progress.epoch + 1}); "
        f"checkpoint {saved}. Continue with: plmkit run CONFIG --resume (same output.name)",
        exit_code=128 + signum,
    )


def _non_finite(loss: torch.Tensor, progress: Progress, checkpoints: Checkpoints):
    last = checkpoints.latest()
    where = f"last good checkpoint: {last}" if last else "no checkpoint was written yet"
    return TrainingStopped(
        f"loss is {loss.item()} at step {progress.step + 1} (epoch {progress.epoch + 1}); "
        f"training stopped, {where}. Try a lower training.learning_rate, "
        "training.max_grad_norm, or mixed_precision=no"
    )


def _brief(record: dict, metric: str) -> str:
    val = record.get("validation", {})
    shown = f", validation {metric} {val[metric]:.4f}" if metric in val else ""
    return f"train loss {record['train_loss']:.4f}{shown}"
