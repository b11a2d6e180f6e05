"""Recformer hyperparameters (KDD'23, arXiv 2305.13731; code AaronHeee/RecFormer).

The published run uses ``max_attr_num=3``, ``max_attr_length=32``, ``max_item_embeddings=51`` (50 items +
``<s>``), ``max_token_num=1024``, ``attention_window=64`` per layer, temperature 0.05, MLM weight 0.1,
MLM probability 0.15. The defaults below are those values; notebooks shrink the lengths for a CPU budget.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# token-type ids of the Recformer embedding table (paper Sec. 3.1.2)
TYPE_CLS, TYPE_KEY, TYPE_VALUE, TYPE_PAD = 0, 1, 2, 3


@dataclass
class RecformerConfig:
    """Input layout, encoder window and objective weights. The defaults are the main job's, the parameters cell of
    notebooks 30/31 (tests/test_one_default.py holds them equal); the paper's: 32 tokens per attribute, 1024
    per user sequence."""

    max_attr_num: int = 3          # attributes kept per item (key-value pairs)
    max_attr_length: int = 8       # tokens per attribute (key + value), after which it is cut
    max_item_embeddings: int = 51  # item-position rows: 0 for <s>, 1.. for items (most recent = 1); pads use the last
    max_token_num: int = 64        # tokens per user sequence, <s> included
    attention_window: int = 64     # Longformer sliding window (full width, even)
    temperature: float = 0.05      # cosine-similarity temperature
    mlm_weight: float = 0.1        # total = CL + mlm_weight * (MLM_a + MLM_b)
    mlm_probability: float = 0.15  # share of tokens masked (whole words)
    pooler: str = "cls"            # cls | avg
    attention_impl: str = "dense"  # dense (masked L x L, fast for short inputs) | longformer (transformers' chunked kernel)

    def __post_init__(self) -> None:
        if self.attention_window < 2 or self.attention_window % 2:
            raise ValueError(f"attention_window must be a positive even number, got {self.attention_window}")
        if self.max_item_embeddings < 2:
            raise ValueError(f"max_item_embeddings must be >= 2 (<s> + one item), got {self.max_item_embeddings}")
        if self.pooler not in ("cls", "avg"):
            raise ValueError(f"pooler must be 'cls' or 'avg', got {self.pooler!r}")
        if self.attention_impl not in ("dense", "longformer"):
            raise ValueError(f"attention_impl must be 'dense' or 'longformer', got {self.attention_impl!r}")
        if self.max_token_num < 2:
            raise ValueError(f"max_token_num must be >= 2, got {self.max_token_num}")

    @property
    def max_items(self) -> int:
        """Items kept per user sequence: ``max_item_embeddings - 1`` (one row is taken by ``<s>``)."""
        return self.max_item_embeddings - 1

    def to_dict(self) -> dict:
        return asdict(self)
