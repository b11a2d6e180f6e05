"""Shared utilities of the sequential recommenders (Recformer, LEARN, SASRec-style baseline).

* :mod:`.data` — leave-one-out histories and targets on top of ``InteractionDataset.sequences``, padding to
  a fixed length (left or right), next-item training pairs, batching.
* :mod:`.losses` — in-batch softmax with duplicate-target masking, full softmax over the catalogue.
* :mod:`.evaluate` — the sequential protocol (``SEQ_PROTOCOL``: K in (10, 50), history masked) and helpers
  that evaluate any "user vectors x item table" scorer with :func:`lmrec.eval.evaluate_split`.
* :mod:`.sasrec` — SASRec, the ID-only baseline of the sequential table (notebook 06).
"""

from .data import (
    LeaveOneOut,
    iterate_batches,
    next_item_pairs,
    pad_sequences,
)
from .evaluate import (
    SEQ_PROTOCOL,
    encode_histories,
    evaluate_encoder,
    evaluate_user_vectors,
    sequential_metrics,
    vector_score_fn,
)
from .losses import full_softmax_loss, in_batch_logits, in_batch_softmax_loss

__all__ = [
    "LeaveOneOut", "iterate_batches", "next_item_pairs", "pad_sequences",
    "SEQ_PROTOCOL", "encode_histories", "evaluate_encoder", "evaluate_user_vectors", "sequential_metrics",
    "vector_score_fn",
    "full_softmax_loss", "in_batch_softmax_loss", "in_batch_logits",
]
