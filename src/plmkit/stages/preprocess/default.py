"""The default Preprocessor: run the configured steps, then hold out a validation split."""

from __future__ import annotations

import pandas as pd

from plmkit.stages.preprocess.base import Preprocessed, Preprocessor, Step
from plmkit.stages.preprocess.split import holdout
from plmkit.validation import empty_rejected


class StepPreprocessor(Preprocessor):
    def __init__(
        self,
        steps: list[Step],
        *,
        text_columns: tuple[str, ...] = ("text",),
        validation_size: float = 0.1,
        test_size: float = 0.0,
        stratify_by: str | None = "label",
        seed: int = 42,
    ):
        self.steps = steps
        self.text_columns = text_columns
        self.validation_size = validation_size
        self.test_size = test_size
        self.stratify_by = stratify_by
        self.seed = seed

    def run(self, splits: dict[str, pd.DataFrame]) -> Preprocessed:
        out, rejected = {}, []
        for name, df in splits.items():
            for step in self.steps:
                df, dropped = step.apply(df, name, self.text_columns)
                rejected.append(dropped)
            out[name] = df
        # Test first, so that validation never overlaps it; NSMC-like data with a test split
        # keeps it untouched until the final evaluation.
        for split, size in (("test", self.test_size), ("validation", self.validation_size)):
            if split not in out and "train" in out and size > 0:
                attrs = out["train"].attrs
                train, held = holdout(out["train"], size, self.seed, self.stratify_by)
                train.attrs, held.attrs = dict(attrs), dict(attrs)
                out["train"], out[split] = train, held
        kept = [r for r in rejected if len(r)]
        return Preprocessed(out, pd.concat(kept, ignore_index=True) if kept else empty_rejected())
