"""The one Hugging Face Accelerate factory of the transformer-based trainers (Recformer, LEARN, CLLM4Rec).

A plain process gets a one-process accelerator on ``device``; under ``accelerate launch`` / ``torchrun``
the launcher's processes and settings win (data-parallel, gradients synchronised by the prepared model).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

MIXED_PRECISION = ("auto", "no", "fp16", "bf16")


def resolve_mixed_precision(mixed_precision: str, device: torch.device) -> str:
    """``auto``: bf16 on a CUDA device that supports it, else fp16 on CUDA, and none on CPU."""
    if mixed_precision not in MIXED_PRECISION:
        raise ValueError(f"mixed_precision={mixed_precision!r}; choose one of {MIXED_PRECISION}")
    if mixed_precision != "auto":
        return mixed_precision
    if device.type != "cuda":
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def make_accelerator(device: torch.device | str = "auto", mixed_precision: str = "auto", grad_accum: int = 1,
                     find_unused_parameters: bool = False):
    """An ``accelerate.Accelerator`` on ``device`` (``auto``: CUDA when present) with the given mixed
    precision and gradient accumulation; ``find_unused_parameters`` for models whose steps leave some
    trainable weights without a gradient (CLLM4Rec's alternating tables)."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if find_unused_parameters else []
    return Accelerator(cpu=device.type == "cpu", mixed_precision=resolve_mixed_precision(mixed_precision, device),
                       gradient_accumulation_steps=grad_accum, kwargs_handlers=handlers)


def stop_agreement(accelerator) -> Callable[[bool], bool] | None:
    """For :func:`lmrec.train.fit`'s ``agree``: with several processes, any process's wish to stop for time
    stops them all after the same epoch (a max-reduce); None for a single process."""
    if accelerator.num_processes == 1:
        return None

    def agree(stop: bool) -> bool:
        flag = torch.tensor([float(stop)], device=accelerator.device)
        return bool(accelerator.reduce(flag, "max").item())

    return agree


def checkpoint_name(accelerator, stem: str = "checkpoint") -> str:
    """One checkpoint file per process when there are several (``checkpoint-rank1.pt``), else ``stem.pt``."""
    return f"{stem}-rank{accelerator.process_index}.pt" if accelerator.num_processes > 1 else f"{stem}.pt"
