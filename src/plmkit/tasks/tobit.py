"""Censored (Tobit) regression: ratings that pile up at the ends of their scale.

A 10-star rating says "at least 10": the reviewer may have liked the film far more than another
who also gave 10. The Tobit model treats the rating as a latent Gaussian ``N(mu, sigma^2)``,
observed as is inside ``(lower, upper)`` and clipped to the limit outside it, and maximises that
likelihood. Predictions are the expected *observed* rating (which lies within the limits), with
the latent ``mu`` and ``sigma`` beside it.

The head is the stock ``AutoModelForSequenceClassification`` with two outputs, in standardised
units (train mean and standard deviation, learned in :meth:`TobitRegression.fit`): ``mu`` per
text, and one learned global ``log sigma``. The second output's weight row is held at zero
(:class:`TobitHead`), so it is its bias alone: a plain parameter of the stock head, saved and
reloaded with ``from_pretrained``. Why not a sigma per text: the censored likelihood does not
bound sigma from above, so a per-text sigma learns "extreme review -> huge sigma" (one feature
serves both the 1s and the 10s) instead of moving ``mu`` past the limit, and the expected rating
of every extreme review collapses to the middle of the scale (on the end-to-end test's synthetic
data: MAE 4.4 on the censored rows, against 1.5 with one sigma). One shared sigma is anchored by
the uncensored rows. See docs/tobit.md.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from plmkit.errors import DataError
from plmkit.tasks.base import Metrics, TaskAdapter
from plmkit.tasks.regression import NOT_A_NUMBER, as_number  # one rule for numeric targets

if TYPE_CHECKING:
    import pandera.pandas as pa
    import torch

# validation._describe reads a check named "dtype('X')" as "wrong type (expected X)".
LOG_SIGMA_RANGE = (-7.0, 5.0)  # standardised log sigma: keeps exp() and 1/sigma finite
# The scale is one bias among millions of weights: it moves this many times faster than a
# weight (the same as a 10x learning rate for it under Adam), so it settles within an epoch
# even at fine-tuning learning rates.
SCALE_SPEED = 10.0
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class TobitParams(BaseModel):
    """``task_options`` of tobit_regression."""

    model_config = ConfigDict(extra="forbid")

    lower: float | None = Field(1.0, description="lowest rating (censored below); null: none")
    upper: float | None = Field(10.0, description="highest rating (censored above); null: none")
    scale_init: float = Field(1.0, gt=0, description="initial sigma, in train standard deviations")
    point: Literal["mean", "median"] = Field(
        "mean",
        description="the prediction ('pred', and what mae/rmse/accuracy score): the expected "
        "observed rating (least squared error) or its median (least absolute error)",
    )

    @model_validator(mode="after")
    def _ordered(self) -> TobitParams:
        if self.lower is not None and self.upper is not None and not self.lower < self.upper:
            raise ValueError(f"lower ({self.lower}) must be less than upper ({self.upper})")
        return self


# --- the math, in rating units ---------------------------------------------------------------
def tobit_nll(
    mu: torch.Tensor,
    log_sigma: torch.Tensor,
    y: torch.Tensor,
    lower: float | None,
    upper: float | None,
) -> torch.Tensor:
    """Per-row negative log-likelihood of ``y`` under a normal censored at the limits."""
    import torch
    from torch.special import log_ndtr

    sigma = log_sigma.exp()
    nll = 0.5 * ((y - mu) / sigma) ** 2 + log_sigma + HALF_LOG_2PI
    if lower is not None:
        nll = torch.where(y <= lower, -log_ndtr((lower - mu) / sigma), nll)
    if upper is not None:  # -log(1 - Phi(b)) == -log Phi(-b), without the cancellation
        nll = torch.where(y >= upper, -log_ndtr((mu - upper) / sigma), nll)
    return nll


def censored_mean(
    mu: torch.Tensor, sigma: torch.Tensor, lower: float | None, upper: float | None
) -> torch.Tensor:
    """E[clip(Y, lower, upper)] for ``Y ~ N(mu, sigma^2)``, computed in float64."""
    import torch
    from torch.special import ndtr

    mu, sigma = mu.double(), sigma.double()
    below = above = torch.zeros_like(mu)  # P(Y <= lower), P(Y >= upper)
    out = torch.zeros_like(mu)
    if lower is not None:
        a = (lower - mu) / sigma
        below = ndtr(a)
        out = out + lower * below + sigma * _pdf(a)
    if upper is not None:
        b = (upper - mu) / sigma
        above = ndtr(-b)
        out = out + upper * above - sigma * _pdf(b)
    out = out + mu * (1.0 - below - above)
    return out.clamp(
        min=lower if lower is not None else -math.inf, max=upper if upper is not None else math.inf
    )


def censored_median(mu: torch.Tensor, lower: float | None, upper: float | None) -> torch.Tensor:
    """The median of clip(Y, lower, upper): the latent mean clipped to the limits."""
    lo = lower if lower is not None else -math.inf
    hi = upper if upper is not None else math.inf
    return mu.double().clamp(lo, hi)


def _pdf(x: torch.Tensor) -> torch.Tensor:
    return (-0.5 * x * x).exp() / math.sqrt(2 * math.pi)


def round_to_scale(x: torch.Tensor, lower: float | None, upper: float | None) -> torch.Tensor:
    """Nearest whole rating (halves up), within the limits."""
    out = (x + 0.5).floor()
    if lower is not None:
        out = out.clamp(min=math.ceil(lower))
    if upper is not None:
        out = out.clamp(max=math.floor(upper))
    return out


# --- metrics ---------------------------------------------------------------------------------
class TobitMetrics(Metrics):
    """MAE, RMSE and accuracy after rounding of the point prediction (``point``); MAE also for
    the censored rows (at a limit) and the others separately."""

    def __init__(self, task: TobitRegression):
        self.task = task
        self.abs = {"all": 0.0, "censored": 0.0, "uncensored": 0.0}
        self.count = {"all": 0, "censored": 0, "uncensored": 0}
        self.sq, self.correct = 0.0, 0

    def update(self, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        task = self.task
        pred = task.decode(outputs)["pred"].cpu()
        y = labels.double().cpu()
        err = (pred - y).abs()
        censored = task.censored(y)
        for key, mask in (("all", None), ("censored", censored), ("uncensored", ~censored)):
            part = err if mask is None else err[mask]
            self.abs[key] += part.sum().item()
            self.count[key] += int(part.numel())
        self.sq += (err * err).sum().item()
        rounded = round_to_scale(pred, task.lower, task.upper)
        self.correct += int((rounded == round_to_scale(y, None, None)).sum().item())

    def compute(self) -> dict[str, Any]:
        n = self.count["all"]
        return {
            "mae": self.abs["all"] / n if n else 0.0,
            "rmse": math.sqrt(self.sq / n) if n else 0.0,
            "accuracy": self.correct / n if n else 0.0,
            "mae_censored": self._mae("censored"),
            "mae_uncensored": self._mae("uncensored"),
            "num_examples": n,
            "num_censored": self.count["censored"],
        }

    def _mae(self, key: str) -> float | None:
        return self.abs[key] / self.count[key] if self.count[key] else None


# --- the head --------------------------------------------------------------------------------
class TobitHead:
    """``AutoModelForSequenceClassification`` (2 outputs) whose second output is its bias
    alone: the output layer's weight row for it is zeroed, and its gradient too."""

    @classmethod
    def from_config(cls, config: Any, **kwargs: Any) -> Any:
        from transformers import AutoModelForSequenceClassification

        return share_scale(AutoModelForSequenceClassification.from_config(config, **kwargs))

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> Any:
        from transformers import AutoModelForSequenceClassification

        return share_scale(AutoModelForSequenceClassification.from_pretrained(*args, **kwargs))


def share_scale(model: Any) -> Any:
    """Make output 1 of the model's last 2-output linear layer a constant (its bias)."""
    import torch

    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == 2]
    if not layers or layers[-1].bias is None:
        raise TypeError(f"{type(model).__name__}: no 2-output linear layer with a bias found")
    weight = layers[-1].weight
    with torch.no_grad():
        weight[1].zero_()
    mask = torch.ones_like(weight)
    mask[1] = 0.0
    weight.register_hook(lambda grad: grad * mask.to(grad.device, grad.dtype))
    return model


# --- the adapter -----------------------------------------------------------------------------
class TobitRegression(TaskAdapter):
    name = "tobit_regression"
    columns = {"id": False, "text": True, "label": False}
    stratify_by = None
    metrics = {"mae": False, "rmse": False, "accuracy": True, "loss": False}
    Params = TobitParams

    def __init__(
        self, params: BaseModel | dict[str, Any] | None = None, *, labels: list[str] | None = None
    ):
        super().__init__(params, labels=None)  # no label set: data.labels does not apply
        self.mean: float | None = None
        self.std: float | None = None

    @property
    def lower(self) -> float | None:
        return self.params.lower

    @property
    def upper(self) -> float | None:
        return self.params.upper

    def _limits_text(self) -> str:
        lo = self.lower if self.lower is not None else -math.inf
        hi = self.upper if self.upper is not None else math.inf
        return f"{lo}, {hi}"

    def _in_limits(self, x: float) -> bool:
        return (self.lower is None or x >= self.lower) and (self.upper is None or x <= self.upper)

    def censored(self, y: torch.Tensor) -> torch.Tensor:
        """Rows at (or beyond) a limit."""
        import torch

        out = torch.zeros_like(y, dtype=torch.bool)
        if self.lower is not None:
            out |= y <= self.lower
        if self.upper is not None:
            out |= y >= self.upper
        return out

    # --- data ---------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame) -> None:
        """Train mean and standard deviation of the valid ratings (the invalid ones are the
        schema's to report)."""
        source = train.attrs.get("source", "train")
        if "label" not in train.columns:
            raise DataError(
                f"{source}: the train split has no label column (map it with data.columns.label)"
            )
        values = [x for x in map(as_number, train["label"]) if x is not None and self._in_limits(x)]
        std = float(np.std(values)) if values else 0.0
        if len(values) < 2 or std == 0.0:
            raise DataError(
                f"{source}: column 'label' needs at least 2 different valid ratings within "
                f"[{self._limits_text()}] to learn from"
            )
        self.mean, self.std = float(np.mean(values)), std

    def raw_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        import pandera.pandas as pa

        cols = {
            "id": pa.Column(unique=True, nullable=False, required=False),
            "text": pa.Column(str, nullable=False),
        }
        if has_labels:

            def in_limits(v: Any) -> bool:  # a non-number fails the first check only
                x = as_number(v)
                return x is None or self._in_limits(x)

            cols["label"] = pa.Column(
                nullable=False,
                coerce=False,
                checks=[
                    pa.Check(
                        lambda v: as_number(v) is not None,
                        element_wise=True,
                        name=NOT_A_NUMBER,
                        error=NOT_A_NUMBER,
                    ),
                    pa.Check(in_limits, element_wise=True, name=f"in_range({self._limits_text()})"),
                ],
            )
        return pa.DataFrameSchema(cols, strict=False)

    def encode_targets(self, df: pd.DataFrame) -> pd.DataFrame:
        if "label" not in df.columns:
            return df
        out = df.copy()
        out["label"] = df["label"].map(as_number).astype("float64")
        return out

    def processed_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        import pandera.pandas as pa

        cols = {
            "id": pa.Column(unique=True, nullable=False),
            "text": pa.Column(str, nullable=False),
        }
        if has_labels:
            checks = []
            if self.lower is not None:
                checks.append(pa.Check.ge(self.lower))
            if self.upper is not None:
                checks.append(pa.Check.le(self.upper))
            cols["label"] = pa.Column("float64", checks, nullable=False)
        return pa.DataFrameSchema(cols, strict=False)

    def targets(self, df: pd.DataFrame) -> np.ndarray | None:
        return df["label"].to_numpy(dtype=np.float32) if "label" in df.columns else None

    # --- model --------------------------------------------------------------------------
    def model_class(self) -> Any:
        return TobitHead

    def model_kwargs(self) -> dict[str, Any]:
        names = ["mu", "log_scale"]
        return {
            "num_labels": 2,
            "id2label": dict(enumerate(names)),
            "label2id": {n: i for i, n in enumerate(names)},
        }

    def model_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v for k, v in batch.items() if k != "labels"}

    def latent(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The head's standardised outputs as ``(mu, log sigma)`` in rating units."""
        if self.mean is None or self.std is None:
            raise RuntimeError("TobitRegression: fit() (or from_state) must come first")
        logits = logits.float()
        mu = self.mean + self.std * logits[..., 0]
        raw = SCALE_SPEED * logits[..., 1] + math.log(self.params.scale_init)
        log_sigma_z = raw.clamp(*LOG_SIGMA_RANGE)
        return mu, log_sigma_z + math.log(self.std)

    def loss(self, outputs: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean Tobit NLL of the ratings (in rating units: the standardised head's outputs
        are mapped back, which is the same optimisation as standardising the targets)."""
        mu, log_sigma = self.latent(outputs.logits)
        y = batch["labels"].float()
        return tobit_nll(mu, log_sigma, y, self.lower, self.upper).mean()

    def new_metrics(self) -> Metrics:
        return TobitMetrics(self)

    def decode(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """The point prediction (rounded too), both point estimates, and the latent normal."""
        mu, log_sigma = self.latent(logits)
        sigma = log_sigma.exp()
        mean = censored_mean(mu, sigma, self.lower, self.upper)
        median = censored_median(mu, self.lower, self.upper)
        pred = mean if self.params.point == "mean" else median
        return {
            "pred": pred,
            "rounded": round_to_scale(pred, self.lower, self.upper).long(),
            "mean": mean,
            "median": median,
            "mu": mu,
            "sigma": sigma,
        }

    def state(self) -> dict[str, Any]:
        return {**super().state(), "mean": self.mean, "std": self.std}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TobitRegression:
        task = cls(state.get("params"))
        task.mean, task.std = state.get("mean"), state.get("std")
        return task
