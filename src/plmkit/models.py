"""Load a pretrained model and tokenizer (hub id, local folder, or a package's bundled model),
or build a small one locally with a tokenizer trained on the train texts."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from plmkit.config.schema import ModelConfig, ScratchModelConfig
from plmkit.errors import ModelError

log = logging.getLogger(__name__)
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def resolve_name(name: str) -> str:
    """``pkg:<module>`` -> the folder that ``<module>.get_model_path()`` returns; else unchanged."""
    if not name.startswith("pkg:"):
        return name
    module_name = name[len("pkg:") :]
    try:
        module = importlib.import_module(module_name)
        return str(module.get_model_path())
    except ImportError:
        hint = module_name.replace("_", "-")
        raise ModelError(
            f"model.name_or_path '{name}': package '{module_name}' is not "
            f"installed (pip install {hint})"
        ) from None
    except AttributeError:
        raise ModelError(
            f"model.name_or_path '{name}': {module_name} has no get_model_path()"
        ) from None


def _looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).expanduser().exists()


def load_tokenizer(config: ModelConfig, train_texts: Iterable[str] | None = None) -> Any:
    from transformers import AutoTokenizer

    if config.from_scratch is not None:
        if train_texts is None:
            raise ModelError("model.from_scratch needs the train texts to train its tokenizer")
        return train_tokenizer(train_texts, config.from_scratch.vocab_size)
    name = resolve_name(config.name_or_path)
    _check_local(name, config.name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(
            name, revision=config.revision, trust_remote_code=config.trust_remote_code
        )
    except (OSError, ValueError, ImportError) as exc:
        raise ModelError(_load_failure("tokenizer", config.name_or_path, name, exc)) from None
    if not tok.is_fast:
        log.warning("tokenizer for %s is not a fast tokenizer: tokenisation will be slow", name)
    return tok


def load_model(config: ModelConfig, task: Any, tokenizer: Any) -> Any:
    """The task's head on top of the configured encoder, with the task's label maps."""
    if config.trust_remote_code:
        log.warning("trust_remote_code is on: code from %s may run", config.name_or_path)
    if config.from_scratch is not None:
        return build_model(config.from_scratch, task, tokenizer, config.max_length)
    name = resolve_name(config.name_or_path)
    _check_local(name, config.name_or_path)
    try:
        return task.model_class().from_pretrained(
            name,
            revision=config.revision,
            trust_remote_code=config.trust_remote_code,
            **task.model_kwargs(),
        )
    except (OSError, ValueError, ImportError, RuntimeError) as exc:
        raise ModelError(_load_failure("model", config.name_or_path, name, exc)) from None


def build_model(scratch: ScratchModelConfig, task: Any, tokenizer: Any, max_length: int) -> Any:
    from transformers import BertConfig, ElectraConfig

    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=scratch.hidden_size,
        num_hidden_layers=scratch.num_layers,
        num_attention_heads=scratch.num_heads,
        intermediate_size=scratch.intermediate_size or 4 * scratch.hidden_size,
        max_position_embeddings=max(512, max_length),
        pad_token_id=tokenizer.pad_token_id,
        **task.model_kwargs(),
    )
    if scratch.dropout is not None:
        common.update(
            hidden_dropout_prob=scratch.dropout, attention_probs_dropout_prob=scratch.dropout
        )
    if scratch.architecture == "electra":
        cfg = ElectraConfig(embedding_size=scratch.embedding_size or scratch.hidden_size, **common)
    else:
        cfg = BertConfig(**common)
    return task.model_class().from_config(cfg)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A WordPiece tokenizer (BERT/ELECTRA style) trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import WordPieceTrainer
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],  # pairs need segments
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def _check_local(resolved: str, configured: str) -> None:
    if _looks_local(resolved) and not Path(resolved).expanduser().is_dir():
        raise ModelError(f"model.name_or_path '{configured}': directory not found")


def _load_failure(what: str, configured: str, resolved: str, exc: Exception) -> str:
    tried = (
        f"the local directory {resolved}"
        if _looks_local(resolved)
        else f"the Hugging Face cache and hub for '{resolved}'"
    )
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"model.name_or_path '{configured}': cannot load the {what} (tried {tried}): {reason}"
