"""The shape of a GPT: every number that decides its parameters and FLOPs."""

from dataclasses import dataclass
from typing import Optional


@dataclass
class GPTConfig:
    """Hyperparameters of a decoder-only GPT, in Kaplan et al. (2020) Table 1 notation."""

    n_layer: int
    """Number of transformer blocks (Kaplan's n_layer)."""
    d_model: int
    """Width of the residual stream (Kaplan's d_model)."""
    n_head: int
    """Attention heads; d_model must be divisible by it."""
    n_ctx: int
    """Context length in tokens (Kaplan's n_ctx); sizes the position embedding."""
    vocab_size: int
    """Number of token ids (Kaplan's n_vocab)."""
    d_ff: Optional[int] = None
    """Hidden width of the MLP; None means 4 * d_model (Kaplan 2020 sec. 2.1, GPT-2)."""
    tie_embeddings: bool = True
    """Share the output head's weight with the token embedding (GPT-2 style)."""
    dropout: float = 0.0
    """Dropout probability on embeddings, attention output and MLP output."""

    def __post_init__(self):
        for name in ("n_layer", "d_model", "n_head", "n_ctx", "vocab_size"):
            _require_positive_int(name, getattr(self, name))
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model  # Kaplan 2020 sec. 2.1: d_ff = 4 d_model
        _require_positive_int("d_ff", self.d_ff)
        if self.d_model % self.n_head != 0:
            raise ValueError(f"n_head={self.n_head}: d_model={self.d_model} must be "
                             f"divisible by n_head")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout}: must be in [0, 1)")
        if not isinstance(self.tie_embeddings, bool):
            raise ValueError(f"tie_embeddings={self.tie_embeddings!r}: must be True or False")

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
