"""Sentence-pair classification (NLI-style premise/hypothesis -> label).

The label handling, head, loss (class weights included), metrics and decoding are
:class:`TextClassification`'s; this adapter adds the second text column and encodes both
texts as one pair input (``[CLS] text [SEP] text_pair [SEP]``, with segment ids when the
tokenizer has them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from plmkit.tasks.classification import TextClassification

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas as pa


def encode_pairs(
    df: pd.DataFrame, tokenizer: Any, max_length: int, pairs: bool = True
) -> dict[str, Sequence]:
    """Token ids per row, unpadded: ``text`` with ``text_pair`` as one input when ``pairs``,
    else ``text`` alone. ``token_type_ids`` are kept for pairs when the tokenizer's model takes
    them (BERT, ELECTRA; not RoBERTa)."""
    second = df["text_pair"].tolist() if pairs else None
    encoded = tokenizer(
        df["text"].tolist(),
        second,
        truncation=True,
        max_length=max_length,
        return_attention_mask=False,
    )
    out = {"input_ids": encoded["input_ids"]}
    if pairs and "token_type_ids" in encoded:
        out["token_type_ids"] = encoded["token_type_ids"]
    return out


def add_pair_column(schema: pa.DataFrameSchema) -> pa.DataFrameSchema:
    """``schema`` plus a non-null string column ``text_pair``."""
    import pandera.pandas as pa

    return schema.add_columns({"text_pair": pa.Column(str, nullable=False)})


class PairClassification(TextClassification):
    name = "pair_classification"
    columns = {"id": False, "text": True, "text_pair": True, "label": False}
    text_columns = ("text", "text_pair")

    def raw_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        return add_pair_column(super().raw_schema(has_labels))

    def processed_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        return add_pair_column(super().processed_schema(has_labels))

    def tokenize(self, df: pd.DataFrame, tokenizer: Any, max_length: int) -> dict[str, Sequence]:
        return encode_pairs(df, tokenizer, max_length)
