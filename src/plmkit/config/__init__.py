"""Run configuration: schema (Pydantic models) and loading (YAML, overrides, validation)."""

from plmkit.config.load import load_config, read_yaml
from plmkit.config.schema import (
    SCHEMA_VERSION,
    DataConfig,
    EvaluationConfig,
    ModelConfig,
    OutputConfig,
    PreprocessConfig,
    RunConfig,
    ScratchModelConfig,
    StepConfig,
    TrainingConfig,
)

__all__ = [
    "SCHEMA_VERSION",
    "DataConfig",
    "EvaluationConfig",
    "ModelConfig",
    "OutputConfig",
    "PreprocessConfig",
    "RunConfig",
    "ScratchModelConfig",
    "StepConfig",
    "TrainingConfig",
    "load_config",
    "read_yaml",
]
