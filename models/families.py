"""One constructor for every model family: GPTConfig.family picks the module (docs/families.md)."""

import torch.nn as nn

from models.config import GPTConfig
from models.gpt import GPT
from models.llama import Llama
from models.lstm import LSTMLM

MODEL_CLASSES = {"gpt2": GPT, "llama": Llama, "lstm": LSTMLM}


def build_model(cfg: GPTConfig) -> nn.Module:
    """The module of cfg.family; each has forward(idx, targets) -> (logits, loss)."""
    return MODEL_CLASSES[cfg.family](cfg)
