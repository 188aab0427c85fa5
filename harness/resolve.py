"""Every derived value of a run, resolved in one place and recorded: n_head, d_ff, vocab, N, LR, steps, run id.

A run's id is a hash of every config value that changes its result; values that only change
where or how fast it runs (device, threads, micro-batches, intervals, paths) are left out, so a run resumes on
another machine or with another launcher.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from dataclasses import dataclass

import torch

from configs.calibration import load_lr_calibration
from configs.errors import ConfigError
from configs.run import RunConfig
from harness.schedule import CosineSchedule, WSDSchedule
from models.config import GPTConfig
from models.counting import ParamCounts, count_params
from models.families import build_model

# Kaplan et al. 2020 app. D.1, eq. D.1: LR(N) ~= 0.003239 - 0.0001395 log(N), N non-embedding, natural log.
KAPLAN_LR_INTERCEPT = 0.003239
KAPLAN_LR_SLOPE = 0.0001395
# Kaplan et al. 2020 eq. 1.1 (L(N) = (N_c/N)^alpha_N, N_c in non-embedding parameters, L in nats) and
# eq. 1.4 (B_crit(L) = B*/L^(1/alpha_B), B* in tokens).
KAPLAN_N_C = 8.8e13
KAPLAN_ALPHA_N = 0.076
KAPLAN_B_STAR_TOKENS = 2e8
KAPLAN_ALPHA_B = 0.21
# Kaplan et al. 2020 sec. 2.1: training compute C ~= 6 N D (forward 2N, backward 4N per token).
KAPLAN_FLOPS_PER_PARAM_TOKEN = 6

# Config fields that do not change a run's result and so stay out of its id.
NON_RESULT_FIELDS = {
    "train": ("device", "threads", "compile", "micro_batch_size", "checkpoint_interval_s", "progress_interval_s"),
    "data": ("cache_dir",),
}
# Fields only the wsd schedule reads, and the one only cosine reads: left out of the id of a run that does not
# read them, so every cosine run id stayed what it was before wsd existed.
WSD_ONLY_FIELDS = ("warmup_tokens", "cooldown_frac", "cooldown_shape", "schedule")
COSINE_ONLY_FIELDS = ("warmup_frac",)
# model.family is left out of a gpt2 run's id, so every id from before families existed stays what it was.
DEFAULT_FAMILY = "gpt2"
RUN_ID_HEX_CHARS = 16


@dataclass(frozen=True)
class ResolvedRun:
    """A run with every derived value filled in."""

    run_id: str
    config: RunConfig
    gpt: GPTConfig
    params: ParamCounts
    steps: int
    tokens: int
    tokens_requested: float
    peak_lr: float
    warmup_steps: int
    grid: str
    compute_budget: float
    batch_size: int
    """Sequences per optimizer step, from train.batch_rule."""
    cooldown_steps: int = 0
    """wsd: the steps of the cooldown at the end of the run (0 for cosine)."""
    trunk_id: str = ""
    """wsd: hash of the config without the budget; runs that share it share one constant-rate trunk."""

    @property
    def tokens_per_step(self) -> int:
        """Training tokens consumed by one optimizer step."""
        return self.batch_size * self.gpt.n_ctx

    @property
    def micro_batch_size(self) -> int:
        """Sequences per forward/backward pass (and per evaluation chunk): train.micro_batch_size, or the batch."""
        return self.config.train.micro_batch_size or self.batch_size

    @property
    def schedule(self) -> CosineSchedule | WSDSchedule:
        """The learning-rate schedule of this run, step by step."""
        t = self.config.train
        if t.schedule == "wsd":
            return WSDSchedule(self.peak_lr, self.warmup_steps, self.steps, self.cooldown_steps, t.cooldown_shape,
                               t.final_lr_ratio)
        return CosineSchedule(self.peak_lr, self.warmup_steps, self.steps, t.final_lr_ratio)

    @property
    def fork_step(self) -> int:
        """wsd: the trunk steps before this budget's cooldown branch forks (-1 for cosine)."""
        return self.steps - self.cooldown_steps if self.trunk_id else -1


def vocab_size_of(cfg: RunConfig) -> int:
    """The model's vocabulary: the synthetic source's alphabet, or the BPE vocabulary size."""
    if cfg.data.corpus == "markov":
        return cfg.data.markov.n_symbols
    return cfg.data.vocab_size


def gpt_config(cfg: RunConfig) -> GPTConfig:
    """The models/ config for this run's shape."""
    m = cfg.model
    return GPTConfig(
        n_layer=m.n_layer, d_model=m.d_model, n_head=m.resolved_n_head, n_ctx=m.n_ctx,
        vocab_size=vocab_size_of(cfg), d_ff=m.d_ff, tie_embeddings=m.tie_embeddings, family=m.family,
    )


def count_params_of(gpt: GPTConfig) -> ParamCounts:
    """Parameter counts of the real module, built on the meta device (no memory), once per shape."""
    return _count_params(dataclasses.astuple(gpt))


@functools.lru_cache(maxsize=None)
def _count_params(gpt_fields: tuple) -> ParamCounts:
    # Building a module runs its initialisers even on the meta device (about 0.1 s for a 16-layer model), and
    # a sweep resolves each shape once per budget and seed: 72 runs of 9 shapes in sweep=kaplan_fig1_gpu.
    with _NoRandomInit(), torch.device("meta"):
        return count_params(build_model(GPTConfig(*gpt_fields)))


class _NoRandomInit(torch.overrides.TorchFunctionMode):
    """torch.nn.init's initialisers leave meta tensors as they are: there is nothing to draw, and meta tensors
    have no normal_ kernel, so torch runs its Python reference, whose first call imports torch._dynamo (1.2 s
    of every sweep's start-up on the 2-core CPU, measured 2026-12-02)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__module__", None) == "torch.nn.init":
            tensor = args[0] if args else kwargs["tensor"]  # torch.nn.init hands its arguments on by name
            if tensor.is_meta:
                return tensor
        return func(*args, **kwargs)


def kaplan_lr(non_embedding_params: int) -> float:
    """Peak learning rate by model size, Kaplan et al. 2020 eq. D.1."""
    return KAPLAN_LR_INTERCEPT - KAPLAN_LR_SLOPE * math.log(non_embedding_params)


def peak_lr_of(cfg: RunConfig, gpt: GPTConfig, non_embedding: int) -> float:
    """The run's peak learning rate by train.lr_rule: Kaplan's eq. D.1, the calibrated rule, or train.lr."""
    rule = cfg.train.lr_rule
    if rule == "kaplan":
        return kaplan_lr(non_embedding)
    if rule == "calibrated":
        return load_lr_calibration().peak_lr(gpt.d_model, gpt.n_layer, non_embedding, cfg.train.beta2)
    return cfg.train.lr


def kaplan_critical_batch_tokens(non_embedding_params: int) -> float:
    """Kaplan 2020 eq. 1.4's B_crit(L) at the loss eq. 1.1 predicts for N: B* (N/N_c)^(alpha_N/alpha_B) tokens.

    The constants were fitted on WebText2 with a 50257-token vocabulary; on another corpus the loss,
    and so B_crit, differ. At toy N it asks for large batches (about 3.3e4 tokens at N = 3e3, 2.7e5 at 1e6).
    """
    predicted_loss = (KAPLAN_N_C / non_embedding_params) ** KAPLAN_ALPHA_N
    return KAPLAN_B_STAR_TOKENS / predicted_loss ** (1 / KAPLAN_ALPHA_B)


def batch_size_of(cfg: RunConfig, gpt: GPTConfig, non_embedding_params: int) -> int:
    """Sequences per step by train.batch_rule ('kaplan_bcrit': B_crit in tokens / n_ctx, at least 1)."""
    if cfg.train.batch_rule == "fixed":
        return cfg.train.batch_size
    return max(1, int(round(kaplan_critical_batch_tokens(non_embedding_params) / gpt.n_ctx)))


def check_micro_batch(cfg: RunConfig, batch_size: int) -> None:
    """ConfigError unless train.micro_batch_size is 0 or divides the resolved batch (equal chunks: their mean
    losses, each scaled by micro / batch, add up to the batch's mean loss)."""
    micro = cfg.train.micro_batch_size
    if micro and batch_size % micro:
        divisors = [d for d in range(1, batch_size + 1) if batch_size % d == 0]
        raise ConfigError("train.micro_batch_size", micro,
                          f"must divide the batch of {batch_size} sequences (train.batch_rule={cfg.train.batch_rule}): "
                          f"one of {divisors}, or 0 for the whole batch")


def _result_tree(cfg: RunConfig) -> dict:
    """The config values that change a run's result (see NON_RESULT_FIELDS and the schedule-only fields)."""
    tree = dataclasses.asdict(cfg)
    tree.pop("sweep")
    for section, names in NON_RESULT_FIELDS.items():
        for name in names:
            tree[section].pop(name, None)
    unread = WSD_ONLY_FIELDS if cfg.train.schedule == "cosine" else COSINE_ONLY_FIELDS
    for name in unread:
        tree["train"].pop(name)
    if cfg.model.family == DEFAULT_FAMILY:
        tree["model"].pop("family")
    if cfg.train.lr_rule == "calibrated":  # the rates come from the file: a refitted rule is another run
        tree["train"]["lr_calibration"] = load_lr_calibration().fingerprint
    return tree


def _hash(tree: dict) -> str:
    blob = json.dumps(tree, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:RUN_ID_HEX_CHARS]


def run_id_of(cfg: RunConfig, grid: str, compute_budget: float) -> str:
    """Hash of every result-changing config value (see NON_RESULT_FIELDS)."""
    tree = _result_tree(cfg)
    tree["compute_budget"] = None if math.isnan(compute_budget) else compute_budget
    return _hash(tree)


def trunk_id_of(cfg: RunConfig) -> str:
    """wsd: hash of every result-changing value but the budget (train.tokens, an IsoFLOP budget); '' for cosine.

    Runs with the same trunk id are the same training up to their cooldowns, so they share one trunk.
    """
    if cfg.train.schedule != "wsd":
        return ""
    tree = _result_tree(cfg)
    tree["train"].pop("tokens")
    return _hash({"trunk": tree})


def warmup_and_cooldown(cfg: RunConfig, steps: int, per_step: int) -> tuple[int, int]:
    """(warmup steps, cooldown steps) of the run's schedule; ConfigError when a wsd budget cannot hold them."""
    t = cfg.train
    if t.schedule == "cosine":
        return int(round(t.warmup_frac * steps)), 0
    cooldown = int(round(t.cooldown_frac * steps))
    if not 1 <= cooldown < steps:
        raise ConfigError("train.cooldown_frac", t.cooldown_frac,
                          f"gives a cooldown of {cooldown} of {steps} steps; it needs at least one step, and at least "
                          "one trunk step before it: change it or train.tokens")
    warmup = int(round(t.warmup_tokens / per_step))
    if warmup > steps - cooldown:
        raise ConfigError("train.warmup_tokens", t.warmup_tokens,
                          f"= {warmup} steps of {per_step} tokens, must end before the cooldown starts at step "
                          f"{steps - cooldown} of this {steps}-step budget; lower it or raise train.tokens")
    return warmup, cooldown


def resolve(cfg: RunConfig, grid: str = "single", compute_budget: float = math.nan) -> ResolvedRun:
    """Derive every value of a run; raises ConfigError naming the field for anything invalid."""
    try:
        gpt = gpt_config(cfg)
    except ValueError as exc:  # models/ names the field without its config section
        raise ConfigError("model", str(exc).split(":")[0], str(exc)) from exc
    params = count_params_of(gpt)
    tokens_requested = float(cfg.train.tokens)
    if not math.isnan(compute_budget):
        tokens_requested = compute_budget / (KAPLAN_FLOPS_PER_PARAM_TOKEN * params.non_embedding)
    batch_size = batch_size_of(cfg, gpt, params.non_embedding)
    check_micro_batch(cfg, batch_size)
    per_step = batch_size * gpt.n_ctx
    steps = int(round(tokens_requested / per_step))
    if steps < 1:
        raise ConfigError(
            "train.tokens", tokens_requested,
            f"must cover at least one batch ({batch_size} sequences of model.n_ctx by train.batch_rule="
            f"{cfg.train.batch_rule} = {per_step} tokens)",
        )
    warmup_steps, cooldown_steps = warmup_and_cooldown(cfg, steps, per_step)
    lr = peak_lr_of(cfg, gpt, params.non_embedding)
    if lr <= 0:
        raise ConfigError("train.lr_rule", cfg.train.lr_rule, f"Kaplan's LR(N) is {lr:.3g} <= 0 at N={params.non_embedding}; use lr_rule=fixed")
    return ResolvedRun(
        run_id=run_id_of(cfg, grid, compute_budget), config=cfg, gpt=gpt, params=params,
        steps=steps, tokens=steps * per_step, tokens_requested=tokens_requested, peak_lr=lr,
        warmup_steps=warmup_steps, grid=grid, compute_budget=compute_budget,
        batch_size=batch_size, cooldown_steps=cooldown_steps, trunk_id=trunk_id_of(cfg),
    )
