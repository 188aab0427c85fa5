"""Model shape config (a Hydra structured config). Mapped onto models.GPTConfig by harness.resolve."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from configs.errors import ConfigError, require_finite_floats

# Kaplan et al. 2020 sec. 2.1 train their models with d_attn = d_model and d_ff = 4 d_model.
KAPLAN_D_FF_RATIO = 4.0


@dataclass
class ModelConfig:
    """Shape of the decoder-only GPT; the non-embedding parameter count N follows from it."""

    n_layer: int = 2
    """Number of transformer blocks (Kaplan's n_layer)."""
    d_model: int = 64
    """Residual stream width (Kaplan's d_model)."""
    n_head: Optional[int] = None
    """Attention heads; None derives it as d_model // d_head."""
    d_head: int = 32
    """Head size used to derive n_head when n_head is None. Kept small so toy widths get >1 head."""
    d_ff_ratio: float = KAPLAN_D_FF_RATIO
    """d_ff / d_model of the MLP (Kaplan 2020 sec. 2.1 uses 4)."""
    n_ctx: int = 128
    """Context length in tokens (Kaplan 2020 uses 1024; 128 keeps toy runs fast)."""
    tie_embeddings: bool = True
    """Share the token embedding with the output head (GPT-2 style)."""

    def __post_init__(self) -> None:
        require_finite_floats(self, "model")
        for name in ("n_layer", "d_model", "d_head", "n_ctx"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"model.{name}", value, "must be a positive integer")
        if self.n_head is not None and self.n_head <= 0:
            raise ConfigError("model.n_head", self.n_head, "must be a positive integer or null")
        if self.d_ff_ratio <= 0:
            raise ConfigError("model.d_ff_ratio", self.d_ff_ratio, "must be > 0")
        if self.n_head is None and self.d_model % self.d_head:
            raise ConfigError(
                "model.d_model", self.d_model, f"must be divisible by model.d_head={self.d_head} when n_head is null"
            )
        if self.resolved_n_head and self.d_model % self.resolved_n_head:
            raise ConfigError(
                "model.n_head", self.n_head, f"d_model={self.d_model} must be divisible by n_head"
            )
        if self.d_ff != self.d_ff_ratio * self.d_model:
            raise ConfigError(
                "model.d_ff_ratio", self.d_ff_ratio, f"d_ff_ratio * d_model={self.d_model} must be a whole number"
            )

    @property
    def resolved_n_head(self) -> int:
        """n_head, derived from d_head when not given."""
        return self.n_head if self.n_head is not None else self.d_model // self.d_head

    @property
    def d_ff(self) -> int:
        """MLP hidden width."""
        return int(round(self.d_ff_ratio * self.d_model))
