"""plmkit: config-driven fine-tuning of pretrained language models."""
