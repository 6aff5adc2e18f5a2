"""A seeded (optionally stratified) hold-out split."""

from __future__ import annotations

import numpy as np
import pandas as pd


def holdout(
    df: pd.DataFrame, size: float, seed: int, stratify_by: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``df`` into (kept, held out); ``size`` is the held-out share, per class when
    stratifying. Row order within each part follows the input."""
    rng = np.random.default_rng(seed)
    if stratify_by is not None and stratify_by in df.columns:
        groups = [
            np.flatnonzero(df[stratify_by].to_numpy() == v) for v in pd.unique(df[stratify_by])
        ]
    else:
        groups = [np.arange(len(df))]
    held = []
    for positions in groups:
        n = int(round(len(positions) * size))
        if len(positions) > 1:
            n = min(max(n, 1), len(positions) - 1)
        held.append(rng.permutation(positions)[:n])
    mask = np.zeros(len(df), dtype=bool)
    mask[np.concatenate(held)] = True
    return df[~mask], df[mask]
