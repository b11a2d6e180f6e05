"""Implicit-feedback answers read from the LLM's next-token distribution (constrained decoding).

A 135M model rarely writes ``liked::disliked`` on its own, and free generation of every user's answer
does not fit a CPU budget. :class:`LabelChoiceChat` wraps a :class:`~lmrec.llm.chat.LocalChat`: one
forward pass over the chat-templated prompt gives the probability of each candidate label as the first
answer token; the liked candidate is the most probable label and the disliked one the least probable.
The answer is returned as the text ``"<liked>::<disliked>"``, so it flows through the same response
cache, statistics and strict parser as a generated answer. (The paper asks for both indices in one
generated answer; this reads both from one distribution.) Labels must start with distinct tokens
(the 0-based position labels ``0``..``9`` do).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..llm.chat import ChatRequest, ChatResult, GenParams, LocalChat


class LabelChoiceChat:
    """A chat backend that answers ``"<most likely label>::<least likely label>"`` among ``labels``."""

    kind = "local"
    supports_prefill = True  # the prefill ends the scored prompt, as in LocalChat

    def __init__(self, chat: LocalChat, labels: Sequence[str]) -> None:
        self.chat, self.labels = chat, [str(lb) for lb in labels]
        self.model = f"{chat.model}+label-logits"
        tok = chat.tokenizer
        firsts = [tok(lb, add_special_tokens=False)["input_ids"][0] for lb in self.labels]
        if len(set(firsts)) != len(firsts):
            raise ValueError(f"labels {self.labels} do not start with distinct tokens; use single-digit position "
                             "labels (at most 10 candidates) for label-logit choice")
        self.label_ids = torch.as_tensor(firsts)

    def cache_identity(self) -> dict[str, Any]:
        return {**self.chat.cache_identity(), "mode": "label_logits", "labels": self.labels}

    @torch.inference_mode()
    def generate(self, requests: Sequence[ChatRequest], gen: GenParams,
                 on_result: Callable[[int, ChatResult], None]) -> None:
        tok, lm = self.chat.tokenizer, self.chat.lm
        ids = tok([self.chat.prompt_text(r) for r in requests], add_special_tokens=False)["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.chat.batch_size):
            idx = order[start:start + self.chat.batch_size]
            batch = tok.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")  # left padding
            mask = batch["attention_mask"].to(self.chat.device)
            pos = (mask.cumsum(1) - 1).clamp(min=0)
            try:
                logits = lm(input_ids=batch["input_ids"].to(self.chat.device), attention_mask=mask,
                            position_ids=pos).logits[:, -1, :]
            except Exception as err:  # keep the stage going; the failure is recorded per request
                for i in idx:
                    on_result(i, ChatResult(error=f"{type(err).__name__}: {err}"))
                continue
            scores = logits[:, self.label_ids.to(logits.device)].float().cpu()
            for row, i in enumerate(idx):
                liked, disliked = int(scores[row].argmax()), int(scores[row].argmin())
                on_result(i, ChatResult(text=f"{self.labels[liked]}::{self.labels[disliked]}",
                                        prompt_tokens=len(ids[i]), completion_tokens=0, finish_reason="label_logits"))
