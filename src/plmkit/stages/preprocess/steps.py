"""Built-in preprocessing steps: text normalisation (vectorised over a column) and filters."""

from __future__ import annotations

import html
import unicodedata
from abc import abstractmethod
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from plmkit.stages.fetch.read import row_ref
from plmkit.stages.preprocess.base import Step
from plmkit.validation import empty_rejected, rejected_row


class TextStep(Step):
    """A step that rewrites each text column and never drops rows."""

    def apply(self, df, split, text_columns):
        out = df.copy()
        for col in text_columns:
            if col in out.columns:
                out[col] = self.transform(out[col].astype(str))
        return out, empty_rejected()

    @abstractmethod
    def transform(self, texts: pd.Series) -> pd.Series: ...


class FilterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    splits: list[str] = Field(
        default_factory=lambda: ["train", "validation"],
        description="splits to filter; test rows are kept so every one gets a prediction",
    )


class FilterStep(Step):
    """A step that drops rows; each dropped row is returned with its reason."""

    Params = FilterParams

    def apply(self, df, split, text_columns):
        if split not in self.params.splits:
            return df, empty_rejected()
        drop = self.reasons(df, text_columns).dropna()
        if drop.empty:
            return df, empty_rejected()
        column = ",".join(text_columns)
        rejected = pd.DataFrame(
            [
                rejected_row(df, i, split, "preprocess", column, why, value)
                for i, (why, value) in drop.items()
            ]
        )
        return df.drop(index=drop.index), rejected

    @abstractmethod
    def reasons(self, df: pd.DataFrame, text_columns: tuple[str, ...]) -> pd.Series:
        """Per row: ``(reason, detail)`` if it must go, or None to keep it."""


class NfcParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    form: Literal["NFC", "NFKC"] = "NFC"


class UnicodeNormalize(TextStep):
    """Compose decomposed Hangul (and other NFD text) so equal texts are equal strings."""

    Params = NfcParams

    def transform(self, texts):
        form = self.params.form
        return texts.map(lambda t: unicodedata.normalize(form, t))


class NormalizeWhitespace(TextStep):
    """Collapse runs of whitespace to one space and trim both ends."""

    def transform(self, texts):
        return texts.str.replace(r"\s+", " ", regex=True).str.strip()


class StripUrls(TextStep):
    def transform(self, texts):
        return texts.str.replace(r"(?:https?://|www\.)\S+", " ", regex=True)


class StripHtml(TextStep):
    """Remove tags and decode entities (``&amp;`` -> ``&``). Only ``<`` followed by a tag name
    (or ``/``, ``!``) starts a tag: ``3 < 5 > 2`` and titles like ``<기생충>`` stay text."""

    def transform(self, texts):
        stripped = texts.str.replace(r"<(?:/?[A-Za-z]|!)[^<>]{0,200}>", " ", regex=True)
        return stripped.map(html.unescape)


class SqueezeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_repeat: int = Field(2, ge=1, description="keep at most this many repeats of a character")


class SqueezeRepeats(TextStep):
    """ㅋㅋㅋㅋㅋ -> ㅋㅋ, !!!!! -> !!. Digits are left alone (1000000 stays a number)."""

    Params = SqueezeParams

    def transform(self, texts):
        n = self.params.max_repeat
        return texts.str.replace(rf"(\D)\1{{{n},}}", r"\1" * n, regex=True)


class DropEmpty(FilterStep):
    def reasons(self, df, text_columns):
        empty = pd.Series(False, index=df.index)
        for col in text_columns:
            if col in df.columns:
                empty |= df[col].astype(str).str.strip().eq("")
        why = pd.Series(None, index=df.index, dtype=object)
        why[empty] = [("empty text", "")] * int(empty.sum())
        return why


class Deduplicate(FilterStep):
    """Drop rows whose text(s) repeat an earlier row of the same split."""

    def reasons(self, df, text_columns):
        cols = [c for c in text_columns if c in df.columns]
        if not cols:  # e.g. token lists: nothing here to compare
            return pd.Series(None, index=df.index, dtype=object)
        dup = df.duplicated(subset=cols, keep="first")
        first = df.drop_duplicates(subset=cols, keep="first")
        first_ref = {tuple(r[1:]): row_ref(df, r[0]) for r in first[cols].itertuples()}
        why = pd.Series(None, index=df.index, dtype=object)
        for i in df.index[dup]:
            why[i] = ("duplicate text", f"first at {first_ref[tuple(df.loc[i, cols])]}")
        return why
