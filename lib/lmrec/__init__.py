"""lmrec: LLM-enhanced recommenders (RLMRec, LLMRec, Recformer, LEARN, CLLM4Rec) on one shared core."""

__version__ = "0.1.0"
