"""Optimisation config (a Hydra structured config): token budget, optimiser, schedule, device."""

from __future__ import annotations

from dataclasses import dataclass

from configs.errors import ConfigError, require_finite_floats

LR_RULES = ("kaplan", "calibrated", "fixed")
SCHEDULES = ("cosine", "wsd")
# wsd cooldown shapes (harness/schedule.py): '1-sqrt' Hägele et al. 2024 sec. 3 (their best), 'linear', 'cosine'.
COOLDOWN_SHAPES = ("1-sqrt", "linear", "cosine")
BATCH_RULES = ("fixed", "kaplan_bcrit")
DEVICES = ("auto", "cpu", "cuda")
# torch.compile modes (torch.compile's `mode` argument); 'none' trains the eager module.
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")

# Kaplan et al. 2020 sec. 2.2 / app. D.6 train with a linear warmup then a cosine decay to zero.
KAPLAN_FINAL_LR_RATIO = 0.0
# Brown et al. 2020 (GPT-3) app. B: AdamW beta2 = 0.95, weight decay 0.1, gradient clipping at 1.0.
GPT3_BETA2 = 0.95
GPT3_WEIGHT_DECAY = 0.1
GPT3_GRAD_CLIP = 1.0
# Hägele et al. 2024 ("Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations") sec. 3-4:
# a cooldown over the last 20% of the steps, of shape 1-sqrt, matches or beats a cosine schedule at the same D.
HAGELE_COOLDOWN_FRAC = 0.2
HAGELE_COOLDOWN_SHAPE = "1-sqrt"
# A wsd warmup must not depend on D (every budget of a trunk shares it). This default is what the cosine
# default (warmup_frac 0.05) gives at the default budget of 1e6 tokens (configs/sweep/kaplan_fig1.yaml).
WSD_DEFAULT_WARMUP_TOKENS = 0.05 * 1e6


@dataclass
class TrainConfig:
    """How one run trains: D tokens, AdamW, a schedule ending exactly at D (cosine or wsd), seed, device."""

    tokens: float = 2e6
    """D, the training-token budget (e.g. 2e6). Rounded to whole optimizer steps; the exact count is recorded."""
    batch_size: int = 32
    """Sequences per optimizer step (tokens per step = batch_size * model.n_ctx) when batch_rule='fixed'."""
    micro_batch_size: int = 0
    """Sequences per forward/backward pass: each step's batch is split into batch / micro_batch_size chunks
    whose gradients add up before one clip and one optimizer step (gradient accumulation), and evaluation
    runs this many windows at a time. 0: the whole batch at once. Must divide the batch as resolved (by
    batch_rule too). The result does not depend on it (up to float rounding), so it is not in the run id;
    it bounds activation memory, e.g. under batch_rule='kaplan_bcrit' or a large model on a GPU."""
    batch_rule: str = "fixed"
    """'fixed': train.batch_size; 'kaplan_bcrit': Kaplan 2020's critical batch B_crit(L) (eq. 1.4) at the
    loss eq. 1.1 predicts for the model's N, in sequences of model.n_ctx (harness/resolve.py)."""
    lr_rule: str = "kaplan"
    """'kaplan': LR(N) of Kaplan 2020 eq. D.1 from the model's N; 'calibrated': the rule in d_model and n_layer
    fitted by the lr_sweep preset (configs/lr_calibration.yaml, docs/calibration.md); 'fixed': train.lr."""
    lr: float = 1e-3
    """Peak learning rate when lr_rule='fixed'."""
    schedule: str = "cosine"
    """'cosine': linear warmup over warmup_frac of the steps, then cosine decay ending at D (Kaplan 2020
    sec. 2.2). 'wsd' (warmup-stable-decay): linear warmup over warmup_tokens, constant at the peak, then a
    cooldown over the last cooldown_frac of the steps (Hägele et al. 2024; MiniCPM, Hu et al. 2024). Points
    of a sweep that use wsd and differ only in train.tokens share one constant-rate trunk, with one cooldown
    branch per budget (harness/trunks.py)."""
    warmup_frac: float = 0.05
    """cosine only: fraction of the steps spent in linear warmup (Kaplan's 3000 of 250k steps is 1.2%; toy
    runs are short)."""
    warmup_tokens: float = WSD_DEFAULT_WARMUP_TOKENS
    """wsd only: tokens of linear warmup, rounded to whole steps. Independent of D, so that every budget of a
    trunk shares it (Hägele et al. 2024 warm up for a fixed number of steps); must end before the smallest
    budget's cooldown starts."""
    cooldown_frac: float = HAGELE_COOLDOWN_FRAC
    """wsd only: fraction of each budget's steps spent in the cooldown, in (0, 1); 0.2 after Hägele et al.
    2024 (a 20% cooldown matches cosine)."""
    cooldown_shape: str = HAGELE_COOLDOWN_SHAPE
    """wsd only: '1-sqrt' (lr = peak * (1 - sqrt(p)), Hägele et al. 2024 sec. 3, their best shape), 'linear'
    (1 - p; the linear decay of MiniCPM-style WSD runs) or 'cosine' (half cosine over the cooldown), p going
    from 0 to 1 over the cooldown, ending at final_lr_ratio * peak."""
    final_lr_ratio: float = KAPLAN_FINAL_LR_RATIO
    """LR at the last step as a fraction of the peak (the decay ends exactly at D tokens)."""
    weight_decay: float = GPT3_WEIGHT_DECAY
    """AdamW decoupled weight decay on matrices (not on biases, LayerNorm or embeddings)."""
    beta1: float = 0.9
    """AdamW beta1."""
    beta2: float = GPT3_BETA2
    """AdamW beta2."""
    grad_clip: float = GPT3_GRAD_CLIP
    """Global gradient-norm clip; 0 disables."""
    seed: int = 0
    """Seeds model init and the data order."""
    device: str = "auto"
    """'auto' (CUDA with bf16 autocast when present, else CPU fp32), 'cpu' or 'cuda'."""
    threads: int = 0
    """torch CPU threads; 0 = cores divided by the number of jobs running side by side."""
    compile: str = "none"
    """torch.compile the training step's model: 'none' (eager), 'default', 'reduce-overhead' (CUDA graphs
    on a GPU: for tiny models whose steps are kernel-launch bound) or 'max-autotune'. Evaluation stays
    eager. Off by default: 0.88-0.98x eager on the 2-core CPU (docs/speed.md); not measured on a GPU."""
    eval_points: int = 24
    """Test-loss evaluations at log-spaced token counts (>= 20; the final point always included)."""
    curve_test_windows: int = 48
    """Held-out windows of every learning-curve evaluation: a fixed, evenly spaced subset of the
    data.test_windows set (all of it when that is smaller), the same at every point and for every run,
    so curves are continuous and comparable. After the last step the whole set is evaluated as well
    (final_test_loss). Keeps evaluation under 10% of a run's time (docs/speed.md)."""
    train_log_points: int = 100
    """Rows of train loss recorded along the run (evenly spaced in steps)."""
    checkpoint_interval_s: float = 60.0
    """Seconds between resumable checkpoints."""
    progress_interval_s: float = 10.0
    """Seconds between progress lines in the log."""

    def __post_init__(self) -> None:
        require_finite_floats(self, "train")
        positive = ("tokens", "batch_size", "eval_points", "curve_test_windows", "train_log_points", "checkpoint_interval_s", "progress_interval_s")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"train.{name}", getattr(self, name), "must be > 0")
        if self.batch_rule not in BATCH_RULES:
            raise ConfigError("train.batch_rule", self.batch_rule, f"must be one of {BATCH_RULES}")
        if self.lr_rule not in LR_RULES:
            raise ConfigError("train.lr_rule", self.lr_rule, f"must be one of {LR_RULES}")
        if self.device not in DEVICES:
            raise ConfigError("train.device", self.device, f"must be one of {DEVICES}")
        if self.lr <= 0:
            raise ConfigError("train.lr", self.lr, "must be > 0")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"train.{name}", getattr(self, name), "must be in [0, 1) (AdamW)")
        if self.schedule not in SCHEDULES:
            raise ConfigError("train.schedule", self.schedule, f"must be one of {SCHEDULES}")
        if self.cooldown_shape not in COOLDOWN_SHAPES:
            raise ConfigError("train.cooldown_shape", self.cooldown_shape, f"must be one of {COOLDOWN_SHAPES}")
        if not 0 < self.cooldown_frac < 1:
            raise ConfigError("train.cooldown_frac", self.cooldown_frac, "must be in (0, 1)")
        if self.warmup_tokens < 0:
            raise ConfigError("train.warmup_tokens", self.warmup_tokens, "must be >= 0")
        if not 0 <= self.warmup_frac < 1:
            raise ConfigError("train.warmup_frac", self.warmup_frac, "must be in [0, 1)")
        if not 0 <= self.final_lr_ratio <= 1:
            raise ConfigError("train.final_lr_ratio", self.final_lr_ratio, "must be in [0, 1]")
        if self.eval_points < 20:
            raise ConfigError("train.eval_points", self.eval_points, "must be >= 20 (the curve needs >= 20 test points)")
        if self.compile not in COMPILE_MODES:
            raise ConfigError("train.compile", self.compile, f"must be one of {COMPILE_MODES}")
        if self.micro_batch_size < 0:
            raise ConfigError("train.micro_batch_size", self.micro_batch_size,
                              "must be >= 0 (0 = the whole batch at once)")
        if self.threads < 0:
            raise ConfigError("train.threads", self.threads, "must be >= 0 (0 = automatic)")
        for name in ("grad_clip", "weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name}", getattr(self, name), "must be >= 0 (0 disables)")
