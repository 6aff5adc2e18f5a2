"""Subclass a stage: a Fetcher that reads a folder of text files, one review per file,
labelled by the folder it sits in (``pos/`` or ``neg/``), the layout of many review corpora.

    python examples/custom_fetcher.py            # writes a tiny folder, trains, predicts

The fetcher declares its config keys in ``Params``, so they are validated with the rest of
the config. In YAML it is named by its dotted path (``data.source: my_pkg.FolderFetcher``) or,
after ``registry.fetchers.register("folders")``, by a short name.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from plmkit import Fetcher, Pipeline, load_config, load_run, registry


class FolderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    root: Path
    encoding: str = "utf-8"


@registry.fetchers.register("folders")
class FolderFetcher(Fetcher):
    """``root/<split>/<label>/<name>.txt`` -> one row per file."""

    Params = FolderParams

    def fetch(self) -> dict[str, pd.DataFrame]:
        splits = {}
        for split_dir in sorted(p for p in self.params.root.iterdir() if p.is_dir()):
            rows = [
                {
                    "id": f"{f.parent.name}/{f.stem}",
                    "text": f.read_text(self.params.encoding),
                    "label": f.parent.name,
                }
                for f in sorted(split_dir.glob("*/*.txt"))
            ]
            df = pd.DataFrame(rows)
            df.attrs = {"source": str(split_dir), "line_offset": None}
            splits[split_dir.name] = df
        return splits


def write_sample(root: Path) -> None:
    pos = ["정말 재밌는 영화", "배우들 연기 최고", "음악이 너무 좋았다", "또 보고 싶다"]
    neg = ["시간이 아까웠다", "스토리가 엉망", "너무 지루했다", "다시는 안 본다"]
    for split, repeat in (("train", 6), ("test", 2)):
        for label, texts in (("pos", pos), ("neg", neg)):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(repeat):
                for j, text in enumerate(texts):
                    (folder / f"{i}-{j}.txt").write_text(f"{text} {'!' * i}", encoding="utf-8")


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="plmkit-folders-"))
    write_sample(root / "data")
    config = load_config(
        {
            "data": {"source": "folders", "root": str(root / "data"), "labels": ["neg", "pos"]},
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
            "training": {"epochs": 4, "batch_size": 8, "learning_rate": 2e-3},
            "output": {"dir": str(root / "runs"), "name": "folders"},
        }
    )
    result = Pipeline(config).run()
    print(
        "test metrics:",
        {k: round(v, 3) for k, v in result.metrics["test"].items() if isinstance(v, float)},
    )
    print(load_run(result.run.path).predict(["배우들 연기 최고", "시간이 아까웠다"]))


if __name__ == "__main__":
    main()
