"""RLMRec (Ren et al., WWW'24): LLM profiles of users and items (:mod:`.profiles`, prompts in ``prompts/``),
their embeddings as the alignment targets of the CF backbones (:mod:`.embeddings`: ``profile_targets(spec, dataset)``
for ``lmrec.cf.notebook.train_backbone``; the alignments themselves are generic, in :mod:`lmrec.cf.alignment`), and the released data archive (:mod:`.data`).

Public entry points:

- ``load_profile_embeddings(dataset | None, folder | None) -> (user_emb, item_emb)`` (:mod:`.profiles`): what
  notebook 02 last wrote for a dataset (same name/split/min_rating/seed), or RLMRec's ``usr_emb_np.pkl`` /
  ``itm_emb_np.pkl`` in a folder. Missing files raise ``FileNotFoundError`` saying which notebook to run.
- ``ProfileConfig``, ``profile_items``, ``profile_users`` (notebook 01), ``embed_profiles`` (notebook 02).
"""

from .profiles import (
           ProfileConfig,
           embed_profiles,
           load_profile_embeddings,
           profile_items,
           profile_users,
           rlmrec_data_folder,
)

__all__ = ["ProfileConfig", "embed_profiles", "load_profile_embeddings", "profile_items", "profile_users",
           "rlmrec_data_folder"]
