"""docs/config.md documents every config key, so the reference cannot fall behind the schema."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from plmkit.config.load import _model_in
from plmkit.config.schema import RunConfig
from plmkit.stages.fetch.conll import ConllSplits
from plmkit.stages.fetch.files import FileSplits
from plmkit.stages.fetch.nsmc import NsmcParams
from plmkit.stages.fetch.url import UrlSplits

DOC = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text(encoding="utf-8")


def keys_of(model: type[BaseModel]) -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        keys.add(name)
        sub = _model_in(field.annotation)
        if sub is not None and sub is not model:
            keys |= keys_of(sub)
    return keys


def test_every_config_key_is_documented():
    keys = keys_of(RunConfig) | keys_of(FileSplits) | keys_of(UrlSplits) | keys_of(NsmcParams)
    keys |= keys_of(ConllSplits)
    missing = sorted(k for k in keys if f"`{k}`" not in DOC)
    assert missing == []
