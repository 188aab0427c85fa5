"""Model shape config (a Hydra structured config). Mapped onto models.GPTConfig by harness.resolve."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from configs.errors import ConfigError, require_finite_floats

# Kaplan et al. 2020 sec. 2.1 train their models with d_attn = d_model and d_ff = 4 d_model.
KAPLAN_D_FF_RATIO = 4.0
FAMILIES = ("gpt2", "llama", "lstm")  # the modules of models/ (models.config.FAMILIES; docs/families.md)
# SwiGLU keeps the GELU MLP's parameters with 2/3 of its width: three matrices of d_ff instead of two
# (Shazeer 2020 sec. 2; Touvron et al. 2023 sec. 2.2, "2/3 4d"), so 4 d_model becomes 8/3 d_model.
SWIGLU_WIDTH_FACTOR = Fraction(2, 3)
# Llama rounds that width up to a multiple of 256 at d_model 4096 (its released `multiple_of`); at the
# toy widths here (16-256) a multiple of 8 keeps the rounding under 12% of d_ff (under 3% from d_model 96).
LLAMA_D_FF_MULTIPLE = 8


@dataclass
class ModelConfig:
    """Shape of the model (any family); the non-embedding parameter count N follows from it."""

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
    family: str = "gpt2"
    """'gpt2' (GPT-2 blocks), 'llama' (RMSNorm, SwiGLU, rotary, no biases) or 'lstm' (stacked LSTM, no
    heads: leave n_head null). Left out of the run id when 'gpt2', so older ids stay (docs/families.md)."""

    def __post_init__(self) -> None:
        require_finite_floats(self, "model")
        if self.family not in FAMILIES:
            raise ConfigError("model.family", self.family, f"must be one of {list(FAMILIES)}")
        for name in ("n_layer", "d_model", "d_head", "n_ctx"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"model.{name}", value, "must be a positive integer")
        if self.n_head is not None and self.n_head <= 0:
            raise ConfigError("model.n_head", self.n_head, "must be a positive integer or null")
        if self.d_ff_ratio <= 0:
            raise ConfigError("model.d_ff_ratio", self.d_ff_ratio, "must be > 0")
        if self.family == "lstm":
            if self.n_head is not None:
                raise ConfigError("model.n_head", self.n_head, "must be null for model.family=lstm (no attention)")
            return
        self._check_heads()
        if self.family == "gpt2" and self.d_ff != self.d_ff_ratio * self.d_model:
            raise ConfigError(
                "model.d_ff_ratio", self.d_ff_ratio, f"d_ff_ratio * d_model={self.d_model} must be a whole number"
            )

    def _check_heads(self) -> None:
        """ConfigError unless the heads divide d_model (and, for llama's rotary pairs, give an even width)."""
        if self.n_head is None and self.d_model % self.d_head:
            raise ConfigError(
                "model.d_model", self.d_model, f"must be divisible by model.d_head={self.d_head} when n_head is null"
            )
        if self.resolved_n_head and self.d_model % self.resolved_n_head:
            raise ConfigError(
                "model.n_head", self.n_head, f"d_model={self.d_model} must be divisible by n_head"
            )
        if self.family == "llama" and (self.d_model // self.resolved_n_head) % 2:
            raise ConfigError("model.n_head", self.resolved_n_head,
                              f"llama's rotary positions need an even head width; d_model={self.d_model} / n_head "
                              f"= {self.d_model // self.resolved_n_head}")

    @property
    def resolved_n_head(self) -> Optional[int]:
        """n_head, derived from d_head when not given; None for lstm."""
        if self.family == "lstm":
            return None
        return self.n_head if self.n_head is not None else self.d_model // self.d_head

    @property
    def d_ff(self) -> int:
        """MLP hidden width: d_ff_ratio d_model; llama's is 2/3 of it rounded up to LLAMA_D_FF_MULTIPLE; 0 for lstm."""
        if self.family == "lstm":
            return 0
        if self.family == "llama":
            width = SWIGLU_WIDTH_FACTOR * Fraction(self.d_ff_ratio) * self.d_model  # exact: no float ceil error
            return LLAMA_D_FF_MULTIPLE * math.ceil(width / LLAMA_D_FF_MULTIPLE)
        return int(round(self.d_ff_ratio * self.d_model))
