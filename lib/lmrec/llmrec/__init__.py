"""LLMRec (WSDM'24, arXiv 2311.00423): LLM graph augmentation and the denoised recommender.

* :mod:`.prompts` the three augmentation prompts (implicit feedback, user profile, item attributes)
* :mod:`.parsing` strict parsers of their answers
* :mod:`.choice` implicit-feedback pairs independent of the candidates' order
* :mod:`.augment` running them through the LLM layer (cached, resumable, with failure accounting)
* :mod:`.model` the recommender as a backbone of the one CF trainer (:func:`lmrec.cf.train_cf`)
"""

from .model import LLMRecBackbone, LLMRecConfig, pruned_bpr, scaled_cosine_error
from .parsing import (
           ATTRIBUTE_FIELDS,
           PROFILE_FIELDS,
           AugmentParseError,
           parse_attributes,
           parse_pair,
           parse_profile,
)
from .prompts import (
           AugmentPrompt,
           implicit_feedback_prompt,
           item_attribute_prompt,
           item_line,
           user_profile_prompt,
)

__all__ = ["LLMRecBackbone", "LLMRecConfig", "pruned_bpr", "scaled_cosine_error", "ATTRIBUTE_FIELDS",
           "PROFILE_FIELDS", "AugmentParseError", "parse_attributes", "parse_pair", "parse_profile", "AugmentPrompt",
           "implicit_feedback_prompt", "item_attribute_prompt", "item_line", "user_profile_prompt"]
