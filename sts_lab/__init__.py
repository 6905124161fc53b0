"""sts_lab: Hydra-configured fine-tuning of sentence-transformers models on Semantic Textual Similarity."""

__version__ = "0.1.0"
