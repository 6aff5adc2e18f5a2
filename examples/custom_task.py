"""A new task adapter in one small class: ordinal classification of star ratings.

Star ratings are ordered: predicting 2 stars for a 1-star review is a smaller mistake than
predicting 10. This adapter uses the CORAL formulation (Cao et al., 2020): K-1 binary heads,
"is the rating above k?", trained with binary cross-entropy; the predicted rank is the number
of heads that say yes. It reuses text classification's data handling (labels, schemas,
tokenisation) and replaces only the head size, the loss, the decoding and the metrics.

Use it from a config once it is registered (here, by importing this module) ...

    python examples/custom_task.py        # writes a tiny ratings file, trains, predicts

... or from another package, with no change to plmkit, through an entry point:

    [project.entry-points."plmkit.tasks"]
    ordinal = "my_pkg.ordinal:OrdinalClassification"
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from plmkit import Metrics, Pipeline, TextClassification, load_config, load_run, registry


class OrdinalMetrics(Metrics):
    """Exact accuracy and mean absolute error in ranks, accumulated per batch."""

    def __init__(self) -> None:
        self.n = self.correct = 0
        self.abs_error = 0.0

    def update(self, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        pred = (outputs.sigmoid() > 0.5).sum(-1).cpu()
        labels = labels.cpu()
        self.n += len(labels)
        self.correct += int((pred == labels).sum())
        self.abs_error += float((pred - labels).abs().sum())

    def compute(self) -> dict[str, Any]:
        n = max(self.n, 1)
        return {"accuracy": self.correct / n, "mae": self.abs_error / n, "num_examples": self.n}


@registry.tasks.register("ordinal")
class OrdinalClassification(TextClassification):
    name = "ordinal"
    metrics = {"mae": False, "accuracy": True, "loss": False}

    def model_kwargs(self) -> dict[str, Any]:
        return {"num_labels": len(self.labels) - 1}  # one "above rank k?" head per threshold

    def model_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v for k, v in batch.items() if k != "labels"}

    def loss(self, outputs: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = outputs.logits
        thresholds = torch.arange(logits.shape[-1], device=logits.device)
        above = (batch["labels"][:, None] > thresholds[None, :]).float()
        return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), above)

    def new_metrics(self) -> Metrics:
        return OrdinalMetrics()

    def decode(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        # Label order is rank order: integer labels sort numerically in fit().
        return {"pred": (logits.float().sigmoid() > 0.5).sum(-1)}

    def readable(self, decoded: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"pred": np.asarray(self.labels, dtype=object)[decoded["pred"]]}


def write_ratings(path: Path, n: int, seed: int) -> None:
    words = {
        1: "최악 엉망",
        2: "별로 아쉽다",
        3: "그럭저럭 평범",
        4: "좋았다 재밌다",
        5: "최고 명작",
    }
    rng = random.Random(seed)
    lines = ["id\tdocument\trating"]
    for i in range(n):
        stars = rng.randint(1, 5)
        lines.append(f"{i}\t영화 {words[stars]} {rng.choice(['ㅋㅋ', '!!', '..', ''])}\t{stars}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="plmkit-ordinal-"))
    write_ratings(root / "ratings.tsv", 300, seed=0)
    config = load_config(
        {
            "task": "ordinal",
            "data": {
                "source": "files",
                "train": str(root / "ratings.tsv"),
                "columns": {"text": "document", "label": "rating"},
            },
            "preprocess": {"test_size": 0.2},
            "model": {
                "from_scratch": {
                    "vocab_size": 200,
                    "hidden_size": 64,
                    "num_layers": 2,
                    "num_heads": 2,
                    "embedding_size": 32,
                },
                "max_length": 32,
            },
            "training": {"epochs": 5, "batch_size": 16, "learning_rate": 2e-3},
            "output": {"dir": str(root / "runs"), "name": "ordinal"},
        }
    )
    result = Pipeline(config).run()
    print(
        "test:", {k: round(v, 3) for k, v in result.metrics["test"].items() if isinstance(v, float)}
    )
    print(load_run(result.run.path).predict(["영화 최고 명작", "영화 최악 엉망"]))
    assert np.isfinite(result.metrics["test"]["mae"])


if __name__ == "__main__":
    main()
