"""Token classification (NER): one BIO or BIOES tag per token, entities scored as spans.

Rows hold token lists (``tokens``) and, when labelled, one tag per token (``tags``). Each
token is split into sub-tokens; only its first sub-token carries the tag (the others get -100,
ignored by the loss, unless ``label_all_subwords``). Predictions read the first sub-token of
each token; tokens cut off by ``max_length`` are predicted ``O``.

The model must not see two per-row inputs that decoding needs: ``word_ids`` (token index + 1
per sub-token, 0 for special tokens and padding) and ``sentence`` (this adapter's key to the
row's tokens). :meth:`TokenClassification.model_inputs` takes them out of the batch and keeps
them for the :meth:`~TokenClassification.decode` and metrics calls on the same batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from plmkit.errors import DataError, ModelError
from plmkit.tasks.base import Metrics, TaskAdapter
from plmkit.validation import row_check

if TYPE_CHECKING:
    import pandera.pandas as pa
    import torch

PREFIXES = {"BIO": ("B", "I"), "BIOES": ("B", "I", "E", "S")}
HIDDEN_INPUTS = ("word_ids", "sentence")
Entity = tuple[str, int, int]  # (type, start, end exclusive)


class TokenParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scheme: Literal["BIO", "BIOES"] = Field(
        "BIO", description="tag scheme; BIO is scored like conlleval, BIOES strictly"
    )
    label_all_subwords: bool = Field(
        False, description="train on every sub-token (continuations as I-), not only the first"
    )
    join: str = Field(
        " ",
        description="what joins tokens into text: ' ' for words, '' for characters; "
        "used for entity texts and to split plain-text input",
    )


# --- tags and entities ----------------------------------------------------------------------
def split_tag(tag: str) -> tuple[str | None, str]:
    """``"B-PER"`` -> ``("B", "PER")``, ``"O"`` -> ``("O", "")``; ``(None, "")`` if malformed."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    return (prefix, kind) if sep and kind else (None, "")


def valid_tag(tag: Any, scheme: str) -> bool:
    if not isinstance(tag, str):
        return False
    prefix, _ = split_tag(tag)
    return prefix == "O" or prefix in PREFIXES[scheme]


def entities(tags: Sequence[str], scheme: str = "BIO") -> list[Entity]:
    """Entity spans of a tag sequence: conlleval's chunking for BIO, strict for BIOES."""
    return bioes_entities(tags) if scheme == "BIOES" else bio_entities(tags)


def bio_entities(tags: Sequence[str]) -> list[Entity]:
    """conlleval (seqeval's default): an I- after O, or after another type, starts an entity."""
    found: list[Entity] = []
    start, current = None, ""
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        inside = prefix == "I" and start is not None and kind == current
        if start is not None and not inside:
            found.append((current, start, i))
            start = None
        if prefix in ("B", "I") and not inside:
            start, current = i, kind
    if start is not None:
        found.append((current, start, len(tags)))
    return found


def bioes_entities(tags: Sequence[str]) -> list[Entity]:
    """Strict BIOES: only S-X, or B-X I-X* E-X of one type; anything else is no entity."""
    found: list[Entity] = []
    start, current = None, ""
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix == "S":
            found.append((kind, i, i + 1))
            start = None
        elif prefix == "B":
            start, current = i, kind
        elif prefix == "I":
            if start is not None and kind != current:
                start = None
        elif prefix == "E":
            if start is not None and kind == current:
                found.append((kind, start, i + 1))
            start = None
        else:
            start = None
    return found


def spans(tokens: Sequence[str], tags: Sequence[str], scheme: str, join: str = " ") -> list[dict]:
    """Entities as ``{"type", "start", "end" (exclusive), "text"}`` over ``tokens``."""
    return [
        {"type": kind, "start": s, "end": e, "text": join.join(tokens[s:e])}
        for kind, s, e in entities(tags, scheme)
    ]


def first_subtokens(word_ids: torch.Tensor) -> torch.Tensor:
    """Where each token's first sub-token is, from ``word_ids`` (token index + 1, 0 = none)."""
    import torch

    previous = torch.zeros_like(word_ids)
    previous[:, 1:] = word_ids[:, :-1]
    return (word_ids > 0) & (word_ids != previous)


# --- metrics --------------------------------------------------------------------------------
class EntityMetrics(Metrics):
    """Entity precision/recall/F1 (micro, and per type) and token accuracy, per batch."""

    def __init__(
        self,
        labels: list[str],
        scheme: str = "BIO",
        first: Callable[[torch.Tensor], torch.Tensor | None] | None = None,
    ):
        self.labels, self.scheme, self.first = labels, scheme, first
        self.counts: dict[str, list[int]] = {}  # type -> [true positives, predicted, gold]
        self.correct = self.total = 0

    def update(self, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        pred, labels = outputs.argmax(-1).cpu(), labels.cpu()
        mask = labels != -100
        first = self.first(labels) if self.first is not None else None
        if first is not None:  # every sub-token is labelled: score the first ones only
            mask &= first.cpu()
        for row in range(len(labels)):
            gold = [self.labels[i] for i in labels[row][mask[row]].tolist()]
            self.add(gold, [self.labels[i] for i in pred[row][mask[row]].tolist()])

    def add(self, gold: Sequence[str], pred: Sequence[str]) -> None:
        """Score one sentence's tags (one per token)."""
        self.correct += sum(g == p for g, p in zip(gold, pred, strict=True))
        self.total += len(gold)
        gold_set, pred_set = set(entities(gold, self.scheme)), set(entities(pred, self.scheme))
        for slot, found in ((0, gold_set & pred_set), (1, pred_set), (2, gold_set)):
            for kind, _, _ in found:
                self.counts.setdefault(kind, [0, 0, 0])[slot] += 1

    def compute(self) -> dict[str, Any]:
        totals = [sum(c[i] for c in self.counts.values()) for i in range(3)]
        scores = _prf(*totals)
        per_type = {kind: {**_prf(*c), "support": c[2]} for kind, c in sorted(self.counts.items())}
        return {
            **scores,
            "token_accuracy": self.correct / self.total if self.total else 0.0,
            "per_type": per_type,
        }


def _prf(tp: int, predicted: int, gold: int) -> dict[str, float]:
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold if gold else 0.0
    total = precision + recall
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / total if total else 0.0,
    }


# --- the adapter ----------------------------------------------------------------------------
class TokenClassification(TaskAdapter):
    name = "token_classification"
    columns = {"id": False, "tokens": True, "tags": False}
    text_columns = ()  # text steps rewrite strings, not token lists
    stratify_by = None
    target_columns = ("tags",)
    metrics = {"f1": True, "precision": True, "recall": True, "token_accuracy": True, "loss": False}
    Params = TokenParams
    cacheable = False  # decode() reads the words kept aside by tokenize()

    def __init__(
        self, params: BaseModel | dict[str, Any] | None = None, *, labels: list[str] | None = None
    ):
        super().__init__(params, labels=labels)
        self._sentences: list[list[str]] = []  # tokens of every tokenised row, by key
        self._batch: dict[str, torch.Tensor] = {}  # the hidden inputs of the current batch

    @property
    def scheme(self) -> str:
        return self.params.scheme

    # --- data -----------------------------------------------------------------------------
    def prepare(self, df: pd.DataFrame) -> pd.DataFrame:
        """Token and tag lists as Python lists (JSON strings and arrays too; plain text is
        split by ``join``)."""
        out = df.copy()
        if "tokens" not in out.columns and "text" in out.columns:
            out["tokens"] = out["text"]
        if "tokens" in out.columns:
            out["tokens"] = out["tokens"].map(self._as_tokens)
        if "tags" in out.columns:
            out["tags"] = out["tags"].map(lambda v: _as_list(v, str.split))
        out.attrs = dict(df.attrs)
        return out

    def tokenizer_texts(self, df: pd.DataFrame) -> list[str]:
        return [_space_joined(tokens) for tokens in df["tokens"]]

    def _as_tokens(self, value: Any) -> Any:
        join = self.params.join
        if join == "":
            return _as_list(value, list)  # characters, spaces included
        if not join.strip():
            return _as_list(value, str.split)
        return _as_list(value, lambda text: text.split(join))

    def fit(self, train: pd.DataFrame) -> None:
        source = train.attrs.get("source", "train")
        if self.labels is not None:
            bad = [t for t in self.labels if not valid_tag(t, self.scheme)]
            if bad or "O" not in self.labels:
                why = f"{bad} not valid in scheme {self.scheme}" if bad else "no 'O' tag"
                raise DataError(f"data.labels: {why}")
            return
        if "tags" not in train.columns:
            raise DataError(
                f"{source}: the train split has no tags column (map it with data.columns.tags)"
            )
        kinds = {
            split_tag(tag)[1]
            for tags in train["tags"]
            if isinstance(tags, list)
            for tag in tags
            if valid_tag(tag, self.scheme)
        } - {""}
        if not kinds:
            raise DataError(f"{source}: no entity tags (e.g. B-PER) in the train split")
        prefixes = PREFIXES[self.scheme]
        self.labels = ["O", *sorted(f"{p}-{kind}" for kind in kinds for p in prefixes)]

    def raw_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        tags = set(self.labels)
        return self._schema(
            has_labels, lambda t: isinstance(t, str) and t in tags, self._tag_problem
        )

    def processed_schema(self, has_labels: bool) -> pa.DataFrameSchema:
        n = len(self.labels)
        return self._schema(
            has_labels,
            lambda t: isinstance(t, (int, np.integer)) and 0 <= t < n,
            lambda t: f"tag id {t!r} out of range [0, {n})",
        )

    def _schema(self, has_labels: bool, ok: Callable, problem: Callable) -> pa.DataFrameSchema:
        import pandera.pandas as pa

        def tag_reasons(df: pd.DataFrame) -> pd.Series:
            if "tags" not in df.columns:
                return pd.Series(None, index=df.index, dtype=object)
            tokens = df["tokens"] if "tokens" in df.columns else pd.Series(None, index=df.index)
            pairs = zip(tokens, df["tags"], strict=True)
            found = [_tags_reason(t, g, ok, problem) for t, g in pairs]
            return pd.Series(found, index=df.index, dtype=object)

        return pa.DataFrameSchema(
            {
                "id": pa.Column(unique=True, nullable=False, required=False),
                "tokens": pa.Column(nullable=True),  # row checks below say what is wrong
                "tags": pa.Column(nullable=True, required=has_labels),
            },
            checks=[
                row_check("token_list", "tokens", _token_reasons),
                row_check("tag_list", "tags", tag_reasons),
            ],
            strict=False,
        )

    def _tag_problem(self, tag: Any) -> str:
        if not valid_tag(tag, self.scheme):
            allowed = "O or " + "/".join(f"{p}-" for p in PREFIXES[self.scheme]) + "TYPE"
            return f"tag {tag!r} is not valid in scheme {self.scheme} ({allowed})"
        shown = ", ".join(self.labels[:12]) + (", ..." if len(self.labels) > 12 else "")
        return f"unknown tag {tag!r} (tag set: {shown})"

    def encode_targets(self, df: pd.DataFrame) -> pd.DataFrame:
        if "tags" not in df.columns:
            return df
        index = {tag: i for i, tag in enumerate(self.labels)}
        out = df.copy()
        out["tags"] = df["tags"].map(lambda tags: [index[t] for t in tags])
        out.attrs = dict(df.attrs)
        return out

    def tokenize(self, df: pd.DataFrame, tokenizer: Any, max_length: int) -> dict[str, Sequence]:
        if not getattr(tokenizer, "is_fast", False):
            raise ModelError("token_classification needs a fast tokenizer (for word ids)")
        tokens = df["tokens"].tolist()
        encoded = tokenizer(
            tokens,
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        tags = df["tags"].tolist() if "tags" in df.columns else None
        out: dict[str, list] = {"input_ids": encoded["input_ids"], "word_ids": [], "sentence": []}
        if tags is not None:
            out["labels"] = []
        for row, words in enumerate(tokens):
            word_ids = encoded.word_ids(row)
            out["word_ids"].append([0 if w is None else w + 1 for w in word_ids])
            out["sentence"].append([len(self._sentences)])
            self._sentences.append(words)
            if tags is not None:
                out["labels"].append(self.align(word_ids, tags[row]))
        return out

    def align(self, word_ids: Sequence[int | None], tag_ids: Sequence[int]) -> list[int]:
        """Per sub-token label: the token's tag on its first sub-token, -100 elsewhere (or,
        with ``label_all_subwords``, the tag's I- form on the continuations)."""
        inside = self._inside_ids() if self.params.label_all_subwords else None
        labels, previous = [], None
        for w in word_ids:
            if w is None:
                labels.append(-100)
            elif w != previous:
                labels.append(tag_ids[w])
            else:
                labels.append(inside[tag_ids[w]] if inside is not None else -100)
            previous = w
        return labels

    def _inside_ids(self) -> list[int]:
        index = {tag: i for i, tag in enumerate(self.labels)}
        return [index.get(f"I-{split_tag(tag)[1]}", i) for i, tag in enumerate(self.labels)]

    def targets(self, df: pd.DataFrame) -> np.ndarray | None:
        return None  # the tags travel as the per-token input "labels"

    # --- model ----------------------------------------------------------------------------
    def model_class(self) -> Any:
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification

    def model_kwargs(self) -> dict[str, Any]:
        return {
            "num_labels": len(self.labels),
            "id2label": dict(enumerate(self.labels)),
            "label2id": {tag: i for i, tag in enumerate(self.labels)},
        }

    def model_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self._batch = {k: batch[k] for k in HIDDEN_INPUTS if k in batch}
        return {k: v for k, v in batch.items() if k not in HIDDEN_INPUTS}

    def new_metrics(self) -> Metrics:
        first = self._first_of_batch if self.params.label_all_subwords else None
        return EntityMetrics(self.labels, self.scheme, first)

    def _first_of_batch(self, labels: torch.Tensor) -> torch.Tensor | None:
        word_ids = self._batch.get("word_ids")
        if word_ids is None or word_ids.shape != labels.shape:
            return None  # not this batch's word ids: every labelled sub-token counts
        return first_subtokens(word_ids)

    def decode(self, logits: torch.Tensor) -> dict[str, list]:
        """Per row: its tokens, the predicted tag of each token, and the entity spans."""
        word_ids, keys = self._batch.get("word_ids"), self._batch.get("sentence")
        if word_ids is None or keys is None or word_ids.shape[0] != logits.shape[0]:
            raise RuntimeError("decode needs the batch's word ids: call model_inputs(batch) first")
        pred = logits.argmax(-1).cpu()
        word_ids, keys = word_ids.cpu(), keys[:, 0].cpu().tolist()
        first = first_subtokens(word_ids)
        out: dict[str, list] = {"tokens": [], "pred": [], "entities": []}
        for row, key in enumerate(keys):
            words = self._sentences[key]
            tags = ["O"] * len(words)  # tokens past max_length stay O
            for pos in first[row].nonzero().flatten().tolist():
                tags[int(word_ids[row, pos]) - 1] = self.labels[int(pred[row, pos])]
            out["tokens"].append(list(words))
            out["pred"].append(tags)
            out["entities"].append(spans(words, tags, self.scheme, self.params.join))
        return out

    def readable(self, decoded: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each row's tokens, tags and entities as JSON (one CSV row per sentence)."""
        return {
            key: np.array([json.dumps(v, ensure_ascii=False) for v in values], dtype=object)
            for key, values in decoded.items()
        }


# --- row checks -----------------------------------------------------------------------------
def _token_reasons(df: pd.DataFrame) -> pd.Series:
    if "tokens" not in df.columns:
        return pd.Series(None, index=df.index, dtype=object)
    return pd.Series([_tokens_reason(v) for v in df["tokens"]], index=df.index, dtype=object)


def _tokens_reason(tokens: Any) -> str | None:
    if not isinstance(tokens, list):
        return "missing value" if _is_null(tokens) else "not a list of tokens"
    if not tokens:
        return "no tokens"
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            return f"token {i} is not a string ({type(token).__name__})"
    return None


def _tags_reason(tokens: Any, tags: Any, ok: Callable, problem: Callable) -> str | None:
    if not isinstance(tags, list):
        return "missing value" if _is_null(tags) else "not a list of tags"
    if isinstance(tokens, list) and len(tokens) != len(tags):
        return f"{len(tokens)} tokens but {len(tags)} tags"
    for tag in tags:
        if not ok(tag):
            return problem(tag)
    return None


def _as_list(value: Any, split: Callable[[str], list]) -> Any:
    """A list from a list, tuple, array or string (a JSON list, else split); else unchanged."""
    if isinstance(value, (tuple, np.ndarray)):
        return list(value)
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return parsed
        return split(value)
    return value


def _space_joined(tokens: Any) -> str:
    if isinstance(tokens, list):
        return " ".join(t for t in tokens if isinstance(t, str))
    return ""


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
