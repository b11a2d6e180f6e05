"""Chat backends behind one interface: a batch of :class:`ChatRequest` in, :class:`ChatResult` (text + usage) out.

- :class:`LocalChat`: a Hugging Face causal LM through transformers (chat template, left padding, prompts
  sorted by length so a batch holds similar lengths, greedy unless ``temperature > 0``), decoded by
  :func:`lmrec.llm.decode.generate_shrinking`: ``generate``'s steps, with finished rows dropped from the batch.
- :class:`OpenAIChat`: the official ``openai`` client against any OpenAI-compatible endpoint, a bounded
  number of requests in flight (threads), retries with exponential backoff on 429 / 5xx / timeouts /
  connection errors and on a 200 reply whose body is cut off or malformed, the stage's JSON schema as
  ``response_format`` when asked (a server that refuses it gets JSON mode, then plain prompts, with a one-line
  notice; the caller's parse-and-retry then does the rest); an error names the endpoint URL.

With ``GenParams.json_schema`` set, the local backend (transformers engine) decodes under that schema
(:mod:`lmrec.llm.constrain`), so every completion is the object or a prefix of it cut by ``max_new_tokens``.

:func:`generate_chat` puts the persistent response cache (:mod:`lmrec.llm.cache`) in front of any backend and
keeps the stage statistics (:class:`StageStats`).
"""

from __future__ import annotations

import importlib.util
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from ..paths import cache_dir
from ..utils import resolve_device, stable_hash
from .cache import KVCache
from .embed import openai_client

Message = dict[str, str]


@dataclass
class ChatRequest:
    """One chat call. ``prefill`` starts the assistant turn (local backend); ``id`` is for bookkeeping."""

    messages: list[Message]
    prefill: str = ""
    id: str = ""


@dataclass
class ChatResult:
    """What came back. ``text`` is the completion (without the prefill); ``error`` is set on failure."""

    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    error: str | None = None
    finish_reason: str | None = None


@dataclass
class GenParams:
    """Generation parameters (part of the cache key)."""

    max_new_tokens: int = 128
    temperature: float = 0.0       # 0 = greedy
    top_p: float = 1.0
    seed: int = 0                  # used when sampling
    json_mode: bool = False        # openai: response_format={"type": "json_object"}
    json_schema: dict | None = None  # local (transformers): constrained decoding; openai: response_format json_schema


@dataclass
class StageStats:
    """Accounting of one stage: requests asked, calls made, cache hits, failures, tokens, time, cost."""

    requests: int = 0
    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    retries: int = 0
    truncated: int = 0          # calls that stopped at max_new_tokens
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0          # CPU seconds of this process (all threads): the load-independent cost on CPU
    cost_usd: float = 0.0

    def add(self, other: StageStats) -> StageStats:
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)
        return self

    def summary(self, prefix: str = "") -> dict[str, float]:
        """Flat metrics (with throughput) for ``run.finish``."""
        d = asdict(self)
        d["calls_per_s"] = self.calls / self.wall_s if self.wall_s > 0 else 0.0
        d["completion_tok_per_s"] = self.completion_tokens / self.wall_s if self.wall_s > 0 else 0.0
        d["completion_tok_per_cpu_s"] = self.completion_tokens / self.cpu_s if self.cpu_s > 0 else 0.0
        return {f"{prefix}{k}": float(v) for k, v in d.items()}


class ChatBackend(Protocol):
    kind: str
    model: str

    def cache_identity(self) -> dict[str, Any]:
        """What, besides messages and generation parameters, determines a response."""

    def generate(self, requests: Sequence[ChatRequest], gen: GenParams,
                 on_result: Callable[[int, ChatResult], None]) -> None:
        """Answer ``requests``; call ``on_result(index, result)`` as each finishes (errors in ``result.error``)."""


# --------------------------------------------------------------------------------------------- local
class LocalChat:
    """Batched generation with a local causal LM on CPU/GPU.

    ``engine="transformers"`` (default; any Hugging Face model, CPU or GPU) generates with the PyTorch model;
    ``engine="ctranslate2"`` (CPU) generates with the same model converted once for CTranslate2 with
    ``quantization`` weights (int8 by default), which decodes several times faster on a CPU. The PyTorch
    model is still what :attr:`lm` returns (loaded on first use) for callers that read logits."""

    kind = "local"
    supports_prefill = True  # the assistant turn can be started with given text
    _hf_generate = False     # True: decode with Hugging Face generate (the reference, for tests and benchmarks)

    def __init__(self, model: str = "smollm2-135m-instruct", device: str | torch.device = "cpu",
                 dtype: torch.dtype | str = "auto", batch_size: int = 8,
                 model_obj: Any = None, tokenizer: Any = None, engine: str = "transformers",
                 quantization: str = "int8"):
        from .hf import load_causal_lm, load_tokenizer, resolve_dtype

        device = resolve_device(device) if device == "auto" else device
        engine = resolve_engine(engine, model, device, model_obj)
        self.model = model
        self.batch_size = batch_size
        self.engine, self.quantization = engine, quantization
        self._device_arg = device
        self._lm, self.ct2 = model_obj, None
        if engine == "ctranslate2":
            if torch.device(device).type != "cpu":
                raise ValueError(f"ENGINE='ctranslate2' runs on the CPU here; DEVICE={device!r} needs "
                                 "ENGINE='transformers'")
            if model_obj is not None:
                raise ValueError("ENGINE='ctranslate2' loads the model by name; pass model_obj only with transformers")
            self.dtype = resolve_dtype(dtype, device)   # for the PyTorch model read by logit callers
            self.ct2 = _ct2_generator(model, quantization)
            tokenizer = load_tokenizer(model)
        elif model_obj is None:
            self.dtype = resolve_dtype(dtype, device)  # "auto": bf16 only where the CPU/GPU computes it natively
            self._lm, tokenizer = load_causal_lm(model, device=device, dtype=self.dtype)
        else:
            self.dtype = next(model_obj.parameters()).dtype if dtype == "auto" else resolve_dtype(dtype, device)
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = torch.device(device) if self._lm is None else next(self._lm.parameters()).device

    @property
    def lm(self) -> Any:
        """The PyTorch model (with the ctranslate2 engine: loaded on first use, e.g. for label logits)."""
        if self._lm is None:
            from .hf import load_causal_lm

            self._lm, _ = load_causal_lm(self.model, device=self._device_arg, dtype=self.dtype)
        return self._lm

    def constrains(self, gen: GenParams) -> bool:
        """Whether ``gen.json_schema`` is enforced while decoding (transformers engine; CTranslate2's Python API
        has no per-step logits hook, so its output is parsed and retried as an endpoint's is)."""
        return gen.json_schema is not None and self.engine == "transformers"

    def cache_identity(self) -> dict[str, Any]:
        ident = {"backend": self.kind, "model": self.model, "dtype": str(self.dtype)}
        if self.engine != "transformers":  # transformers keys stay as they were: cached responses remain valid
            ident["engine"] = f"{self.engine}-{self.quantization}"   # dtype: of the PyTorch model (logits)
        return ident

    def prompt_text(self, req: ChatRequest) -> str:
        """The chat-templated prompt, ending with the assistant turn opener and the prefill."""
        text = self.tokenizer.apply_chat_template(req.messages, tokenize=False, add_generation_prompt=True)
        return text + req.prefill

    def _stop_ids(self) -> set[int]:
        stop_ids = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        if self._lm is not None and self._lm.generation_config.eos_token_id is not None:
            eos = self._lm.generation_config.eos_token_id
            stop_ids.update(eos if isinstance(eos, list) else [eos])
        return {t for t in stop_ids if t is not None}

    def _schema_processor(self, gen: GenParams, batch_size: int, prompt_len: int) -> Any:
        """The JSON-schema logits processor of one batch, or ``None`` when ``gen`` is not constrained."""
        if not self.constrains(gen):
            return None
        from .constrain import SchemaLogitsProcessor

        n_vocab = self._lm.get_output_embeddings().weight.shape[0]
        return SchemaLogitsProcessor(self.tokenizer, gen.json_schema, batch_size, prompt_len, n_vocab)

    def _generate_torch(self, batch_ids: list[list[int]], gen: GenParams, seed: int) -> list[list[int]]:
        """New token ids per prompt (each ends at its first stop token or at ``gen.max_new_tokens``), decoded with
        :func:`lmrec.llm.decode.generate_shrinking`: ``generate``'s computation without the rows already finished
        (same seed semantics: the global generator seeded with ``seed`` before decoding)."""
        if self._hf_generate:
            return self._generate_hf(batch_ids, gen, seed)
        from .decode import Sampling, generate_shrinking

        batch = self.tokenizer.pad({"input_ids": batch_ids}, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        sampling = None
        if gen.temperature > 0:
            torch.manual_seed(seed)
            sampling = Sampling.like_generate(self._lm, gen.temperature, gen.top_p)
        processor = self._schema_processor(gen, len(batch_ids), batch["input_ids"].shape[1])
        return generate_shrinking(self._lm, batch["input_ids"], batch["attention_mask"], gen.max_new_tokens,
                                  self._stop_ids(), processor=processor, sampling=sampling)

    def _generate_hf(self, batch_ids: list[list[int]], gen: GenParams, seed: int) -> list[list[int]]:
        """The same with Hugging Face ``generate`` (every row decoded until the longest ends); kept as the
        reference for tests and bench/llm_throughput.py (``LocalChat._hf_generate = True``)."""
        batch = self.tokenizer.pad({"input_ids": batch_ids}, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        kwargs: dict[str, Any] = {"max_new_tokens": gen.max_new_tokens, "pad_token_id": self.tokenizer.pad_token_id}
        if gen.temperature > 0:
            torch.manual_seed(seed)
            kwargs.update(do_sample=True, temperature=gen.temperature, top_p=gen.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        processor = self._schema_processor(gen, len(batch_ids), batch["input_ids"].shape[1])
        if processor is not None:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([processor])
        out = self._lm.generate(**batch, **kwargs)
        return out[:, batch["input_ids"].shape[1]:].tolist()

    def _generate_ct2(self, batch_ids: list[list[int]], gen: GenParams, seed: int) -> list[list[int]]:
        import ctranslate2

        tokens = [self.tokenizer.convert_ids_to_tokens(ids) for ids in batch_ids]
        kwargs: dict[str, Any] = {"max_length": gen.max_new_tokens, "include_prompt_in_result": False,
                                  "return_end_token": True,
                                  "end_token": self.tokenizer.convert_ids_to_tokens(sorted(self._stop_ids()))}
        if gen.temperature > 0:
            ctranslate2.set_random_seed(seed)
            kwargs.update(sampling_topk=0, sampling_temperature=gen.temperature, sampling_topp=gen.top_p)
        else:
            kwargs.update(sampling_topk=1)
        return [r.sequences_ids[0] for r in self.ct2.generate_batch(tokens, **kwargs)]

    @torch.inference_mode()
    def generate(self, requests: Sequence[ChatRequest], gen: GenParams,
                 on_result: Callable[[int, ChatResult], None]) -> None:
        texts = [self.prompt_text(r) for r in requests]
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))  # similar lengths together: less padding
        stop_ids = self._stop_ids()
        run = self._generate_ct2 if self.engine == "ctranslate2" else self._generate_torch
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            try:
                new = run([ids[i] for i in idx], gen, gen.seed + start)
            except Exception as err:  # e.g. out of memory: report per request, keep the stage going
                for i in idx:
                    on_result(i, ChatResult(error=f"{type(err).__name__}: {err}"))
                continue
            for row, i in enumerate(idx):
                toks = new[row][:gen.max_new_tokens]
                n = next((j for j, t in enumerate(toks) if t in stop_ids), len(toks))
                finish = "stop" if n < len(toks) else "length"
                on_result(i, ChatResult(
                    text=self.tokenizer.decode(toks[:n], skip_special_tokens=True),
                    prompt_tokens=len(ids[i]), completion_tokens=n + (finish == "stop"),
                    finish_reason=finish))


ENGINES = ("transformers", "ctranslate2")


def resolve_engine(engine: str, model: str, device: str | torch.device = "cpu", model_obj: Any = None) -> str:
    """``auto``: ctranslate2 for the offline SmolLM2 on a CPU when the package is installed (int8 decoding:
    1.7x less CPU per item profile than transformers bf16 on a native-bf16 Xeon, 1.3x less than float32 with
    AVX2 emulated, about none on the long user prompts; see bench/results/llm_throughput.md), transformers
    for GPUs, every other model and a given model object. Named engines are checked and kept."""
    if engine == "auto":
        from .hf import SMOLLM2_ALIASES

        dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                           "cpu" if device == "auto" else device)
        fast = (model_obj is None and dev.type == "cpu" and model in SMOLLM2_ALIASES
                and importlib.util.find_spec("ctranslate2") is not None)
        return "ctranslate2" if fast else "transformers"
    if engine not in ENGINES:
        raise ValueError(f"ENGINE={engine!r}: use 'auto' or one of {ENGINES}")
    return engine
_CT2_GENERATORS: dict[tuple[str, str, int], Any] = {}


def _ct2_generator(model: str, quantization: str) -> Any:
    """One CTranslate2 generator per model, quantization and thread count in this process (loaded once)."""
    import ctranslate2

    from .hf import ctranslate2_folder

    threads = torch.get_num_threads()
    key = (model, quantization, threads)
    if key not in _CT2_GENERATORS:
        _CT2_GENERATORS[key] = ctranslate2.Generator(str(ctranslate2_folder(model, quantization)), device="cpu",
                                                     compute_type=quantization, intra_threads=threads)
    return _CT2_GENERATORS[key]


# -------------------------------------------------------------------------------------------- openai
RETRYABLE_STATUS = (408, 409, 425, 429, 500, 502, 503, 504)


class MalformedReply(RuntimeError):
    """An HTTP 200 reply that holds no completion (cut off, empty ``choices``)."""


class OpenAIChat:
    """Chat completions through the official ``openai`` client, ``concurrency`` requests in flight.

    Base URL and key come from the arguments or the environment variables ``base_url_env`` /
    ``api_key_env`` (defaults ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``); neither enters the cache key or
    any output. ``price_in``/``price_out`` (USD per 1M tokens) turn usage into cost.
    """

    kind = "openai"
    supports_prefill = False  # chat completions cannot continue a partial assistant turn portably

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 concurrency: int = 8, max_retries: int = 5, timeout: float = 120.0,
                 backoff_s: float = 1.0, max_backoff_s: float = 30.0,
                 base_url_env: str = "OPENAI_BASE_URL", api_key_env: str = "OPENAI_API_KEY",
                 price_in: float = 0.0, price_out: float = 0.0):
        self.model = model
        self.concurrency = max(1, concurrency)
        self.max_retries = max_retries
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.price_in, self.price_out = price_in, price_out
        # the client's own retries are off: this class retries, so it can count and back off visibly
        self.client = openai_client(base_url, api_key, base_url_env, api_key_env, timeout, 0)
        self.endpoint = str(self.client.base_url)
        self.json_supported = True
        self.schema_supported = True
        self.retries = 0
        self._lock = threading.Lock()

    def cache_identity(self) -> dict[str, Any]:
        return {"backend": self.kind, "model": self.model}

    def _retryable(self, err: Exception) -> bool:
        import json

        import openai

        if isinstance(err, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError,
                            openai.InternalServerError, openai.APIResponseValidationError, json.JSONDecodeError,
                            MalformedReply)):
            return True  # a 200 whose body is cut off or not a completion is retried like a 429/5xx
        return isinstance(err, openai.APIStatusError) and err.status_code in RETRYABLE_STATUS

    def _call(self, req: ChatRequest, gen: GenParams) -> ChatResult:
        import openai

        messages = list(req.messages)
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": gen.max_new_tokens,
                                  "temperature": gen.temperature, "top_p": gen.top_p}
        if gen.temperature > 0:
            kwargs["seed"] = gen.seed
        attempt = 0
        while True:
            if gen.json_schema is not None and self.schema_supported:
                kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": "answer", "schema": gen.json_schema, "strict": True}}
            elif (gen.json_mode or gen.json_schema is not None) and self.json_supported:
                kwargs["response_format"] = {"type": "json_object"}
            else:
                kwargs.pop("response_format", None)
            try:
                resp = self.client.chat.completions.create(**kwargs)
                if isinstance(resp, str) or not getattr(resp, "choices", None) or resp.choices[0].message is None:
                    raise MalformedReply(f"HTTP 200 without a completion: {str(resp)[:200]!r}")
                choice = resp.choices[0]
                usage = resp.usage
                return ChatResult(text=choice.message.content or "", finish_reason=choice.finish_reason,
                                  prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                                  completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0))
            except openai.BadRequestError as err:
                fmt = kwargs.get("response_format", {}).get("type")
                if fmt and ("response_format" in str(err) or "json_schema" in str(err)):
                    self._refused(fmt, err)
                    continue
                return ChatResult(error=f"BadRequestError from {self.endpoint}: {err}")
            except Exception as err:
                if not self._retryable(err) or attempt >= self.max_retries:
                    tries = f" after {attempt + 1} tries" if attempt else ""
                    return ChatResult(error=f"{type(err).__name__} from {self.endpoint}{tries}: {err}")
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt) * (0.5 + random.random() / 2)
                attempt += 1
                with self._lock:
                    self.retries += 1
                time.sleep(delay)

    def _refused(self, fmt: str, err: Exception) -> None:
        """The server refused ``response_format`` of type ``fmt``: drop it (schema -> JSON mode -> prompt only)
        and say so once, in one line."""
        with self._lock:
            flag = "schema_supported" if fmt == "json_schema" else "json_supported"
            if not getattr(self, flag):
                return
            setattr(self, flag, False)
        nxt = "JSON mode" if fmt == "json_schema" and self.json_supported else "the prompt alone"
        print(f"notice: {self.endpoint} refused response_format={fmt} ({str(err)[:120]}); asking with {nxt}, "
              "answers are parsed and retried")

    def constrains(self, gen: GenParams) -> bool:
        """Whether the server enforces ``gen.json_schema`` (until it refuses it)."""
        return gen.json_schema is not None and self.schema_supported

    def generate(self, requests: Sequence[ChatRequest], gen: GenParams,
                 on_result: Callable[[int, ChatResult], None]) -> None:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self._call, r, gen): i for i, r in enumerate(requests)}
            for fut in as_completed(futures):
                on_result(futures[fut], fut.result())

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.price_in + completion_tokens * self.price_out) / 1e6


# ------------------------------------------------------------------------------------- cached stage
def response_cache(path: str | Path | None = None) -> KVCache:
    """The shared response cache (``outputs/cache/llm/responses.sqlite`` unless a path is given)."""
    return KVCache(path or Path(cache_dir("llm")) / "responses.sqlite")


def request_key(backend: ChatBackend, req: ChatRequest, gen: GenParams) -> str:
    """Content key of one call: backend identity + messages + prefill + generation parameters."""
    return stable_hash({"id": backend.cache_identity(), "messages": req.messages, "prefill": req.prefill,
                        "gen": asdict(gen)}, 32)


@dataclass
class ChatBatch:
    """Results of :func:`generate_chat`, aligned to the requests, with the stage statistics."""

    results: list[ChatResult]
    stats: StageStats = field(default_factory=StageStats)


def generate_chat(backend: ChatBackend, requests: Sequence[ChatRequest], gen: GenParams,
             cache: KVCache | None = None, progress: bool = True, desc: str = "llm",
             chunk_size: int = 64) -> ChatBatch:
    """Answer ``requests`` through ``cache`` then ``backend``.

    Cached successes are returned without a call; each new success is committed to the cache as soon as
    it arrives (so an interrupted stage resumes where it stopped). Failures are returned with ``error`` set
    and never cached. Requests go to the backend in chunks of ``chunk_size`` (progress + commit points).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    stats = StageStats(requests=len(requests))
    keys = [request_key(backend, r, gen) for r in requests]
    results: list[ChatResult | None] = [None] * len(requests)
    stored = cache.get_many(keys) if cache is not None else {}
    import json

    for i, k in enumerate(keys):
        if k in stored:
            d = json.loads(stored[k])
            results[i] = ChatResult(text=d["text"], prompt_tokens=d.get("prompt_tokens", 0),
                                    completion_tokens=d.get("completion_tokens", 0), cached=True,
                                    finish_reason=d.get("finish_reason"))
            stats.cache_hits += 1
    # identical requests in one stage are called once
    todo: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        if results[i] is None:
            todo.setdefault(k, []).append(i)
    todo_keys = list(todo)
    retries_before = getattr(backend, "retries", 0)
    bar = tqdm(total=len(todo_keys), desc=desc, disable=not progress or not todo_keys)

    def on_result(j: int, res: ChatResult) -> None:
        key = chunk[j]
        stats.calls += 1
        if res.error is None:
            stats.prompt_tokens += res.prompt_tokens
            stats.completion_tokens += res.completion_tokens
            stats.truncated += res.finish_reason == "length"
            if cache is not None:
                cache.put(key, json.dumps({"text": res.text, "prompt_tokens": res.prompt_tokens,
                                           "completion_tokens": res.completion_tokens,
                                           "finish_reason": res.finish_reason}).encode())
        else:
            stats.failures += 1
        for i in todo[key]:
            results[i] = res
        bar.update(1)

    for start in range(0, len(todo_keys), chunk_size):
        chunk = todo_keys[start:start + chunk_size]
        backend.generate([requests[todo[k][0]] for k in chunk], gen, on_result)
    bar.close()
    stats.retries = getattr(backend, "retries", 0) - retries_before
    if isinstance(backend, OpenAIChat):
        stats.cost_usd = backend.cost(stats.prompt_tokens, stats.completion_tokens)
    stats.wall_s = time.perf_counter() - t0
    stats.cpu_s = time.process_time() - c0
    return ChatBatch(results=[r if r is not None else ChatResult(error="no result") for r in results], stats=stats)


@dataclass
class ChatConfig:
    """Which chat backend to build (from notebook parameters). Secrets stay in the environment."""

    backend: str = "local"                  # local | openai
    model: str = "smollm2-135m-instruct"
    device: str = "cpu"
    dtype: str = "float32"                  # local: float32 (same answers on every CPU) | auto (bf16 where native) | bfloat16
    engine: str = "transformers"            # local: transformers | ctranslate2 (int8, CPU) | auto (ctranslate2 for SmolLM2 on CPU)
    batch_size: int = field(kw_only=True)   # local; no default: notebooks 01 (BATCH_SIZE) and 20 (LLM_BATCH_SIZE) set it
    base_url: str | None = None             # openai; else $OPENAI_BASE_URL
    concurrency: int = 8                    # openai
    max_retries: int = 5
    timeout: float = 120.0
    price_in: float = 0.0                   # USD per 1M prompt tokens
    price_out: float = 0.0                  # USD per 1M completion tokens


def make_backend(cfg: ChatConfig) -> ChatBackend:
    """Build the backend named by ``cfg.backend``."""
    if cfg.backend == "local":
        return LocalChat(cfg.model, device=cfg.device, dtype=cfg.dtype, batch_size=cfg.batch_size, engine=cfg.engine)
    if cfg.backend == "openai":
        return OpenAIChat(cfg.model, base_url=cfg.base_url, concurrency=cfg.concurrency,
                          max_retries=cfg.max_retries, timeout=cfg.timeout, price_in=cfg.price_in,
                          price_out=cfg.price_out)
    raise ValueError(f"chat backend {cfg.backend!r}: use 'local' or 'openai'")
