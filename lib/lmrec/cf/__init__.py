"""Graph collaborative filtering: six backbones x RLMRec's alignments, one trainer.

* :mod:`.graph` normalised adjacency + propagation (pure PyTorch; torch-sparse/torch-scatter optional)
* :mod:`.losses` BPR, L2, InfoNCE (once, shared)
* :mod:`.backbone` the backbone / alignment interface (read it to add a backbone)
* :mod:`.gccf`, :mod:`.lightgcn`, :mod:`.sgl`, :mod:`.simgcl` (and ``dccf``, ``autocf``) the backbones
* :mod:`.alignment` alignment to target embeddings (RLMRec-Con and RLMRec-Gen; the targets come from the caller)
* :mod:`.model`, :mod:`.trainer` the objective and the one trainer (``train_cf``)
* :mod:`.notebook` ``train_backbone`` — what notebooks 10-15 call
"""

from .alignment import AlignmentTargets, ContrastiveAlignment, GenerativeAlignment, NoAlignment
from .backbone import Alignment, Backbone, BackboneConfig, BackboneParams, Batch, TrainOutput
from .graph import Graph
from .losses import bpr_loss, info_nce, info_nce_nodes, l2_reg
from .model import CFModel
from .registry import BACKBONES, build_alignment, build_backbone
from .trainer import CFTrainConfig, CFTrainResult, train_cf

__all__ = ["Alignment", "Backbone", "BackboneConfig", "BackboneParams", "Batch", "TrainOutput", "Graph", "bpr_loss",
           "info_nce", "info_nce_nodes", "l2_reg", "CFModel", "BACKBONES", "build_alignment", "build_backbone", "CFTrainConfig", "CFTrainResult",
           "train_cf", "AlignmentTargets", "ContrastiveAlignment", "GenerativeAlignment", "NoAlignment"]
