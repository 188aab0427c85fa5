"""The shape of a model: every number that decides its parameters and FLOPs, for each family."""

from dataclasses import dataclass
from typing import Optional

FAMILIES = ("gpt2", "llama", "lstm")
"""Model families: models/gpt.py, models/llama.py, models/lstm.py (docs/families.md)."""
ATTENTION_FAMILIES = ("gpt2", "llama")


@dataclass
class GPTConfig:
    """Hyperparameters of one model, in Kaplan et al. (2020) Table 1 notation (all families share it)."""

    n_layer: int
    """Number of transformer blocks, or of stacked LSTM layers (Kaplan's n_layer)."""
    d_model: int
    """Width of the residual stream, or the LSTM's hidden and input width (Kaplan's d_model)."""
    n_head: Optional[int]
    """Attention heads; d_model must be divisible by it. None for the lstm family (no attention)."""
    n_ctx: int
    """Context length in tokens (Kaplan's n_ctx); sizes the gpt2 position embedding."""
    vocab_size: int
    """Number of token ids (Kaplan's n_vocab)."""
    d_ff: Optional[int] = None
    """Hidden width of the MLP; None means 4 * d_model (Kaplan 2020 sec. 2.1, GPT-2). 0 for lstm (no MLP)."""
    tie_embeddings: bool = True
    """Share the output head's weight with the token embedding (GPT-2 style)."""
    dropout: float = 0.0
    """Dropout probability on embeddings, attention output and MLP output (between LSTM layers for lstm)."""
    family: str = "gpt2"
    """Which module: 'gpt2' (models/gpt.py), 'llama' (models/llama.py) or 'lstm' (models/lstm.py)."""

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family={self.family!r}: must be one of {list(FAMILIES)}")
        for name in ("n_layer", "d_model", "n_ctx", "vocab_size"):
            _require_positive_int(name, getattr(self, name))
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout}: must be in [0, 1)")
        if not isinstance(self.tie_embeddings, bool):
            raise ValueError(f"tie_embeddings={self.tie_embeddings!r}: must be True or False")
        if self.family == "lstm":
            self._check_lstm()
            return
        _require_positive_int("n_head", self.n_head)
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model  # Kaplan 2020 sec. 2.1: d_ff = 4 d_model
        _require_positive_int("d_ff", self.d_ff)
        if self.d_model % self.n_head != 0:
            raise ValueError(f"n_head={self.n_head}: d_model={self.d_model} must be "
                             f"divisible by n_head")
        if self.family == "llama" and self.d_head % 2:
            raise ValueError(f"n_head={self.n_head}: rotary embeddings need an even head width, "
                             f"d_model / n_head = {self.d_head}")

    def _check_lstm(self) -> None:
        if self.n_head is not None:
            raise ValueError(f"n_head={self.n_head}: the lstm family has no attention; leave n_head null")
        if self.d_ff is None:
            self.d_ff = 0
        if self.d_ff != 0:
            raise ValueError(f"d_ff={self.d_ff}: the lstm family has no MLP; must be 0")

    @property
    def d_attn(self) -> int:
        """Width of queries/keys/values over all heads; d_attn = d_model (Kaplan 2020 Table 1)."""
        return self.d_model

    @property
    def d_head(self) -> int:
        """Width of one attention head."""
        return self.d_attn // self.n_head


def _require_positive_int(name: str, value) -> None:
    """Raise ValueError naming the field unless value is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r}: must be a positive integer")
