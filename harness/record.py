"""Turn a finished run into the curve table and metadata dict of docs/architecture.md."""

from __future__ import annotations

import dataclasses
import json
import math

import pandas as pd
import torch

from harness.data import PreparedData
from harness.divergence import train_unigram_loss
from harness.resolve import ResolvedRun
from harness.store import CURVE_COLUMNS
from harness.trainer import TrainOutcome
from models.counting import closed_form_non_embedding_params
from models.flops import TRAIN_FLOPS_PER_TOKEN, flops_per_token_fwd_kaplan


def curve_frame(run_id: str, outcome: TrainOutcome) -> pd.DataFrame:
    """The learning curve as a DataFrame with exactly the store's columns."""
    frame = pd.DataFrame(outcome.rows, columns=[c for c in CURVE_COLUMNS if c != "run_id"])
    frame.insert(0, "run_id", run_id)
    return frame.astype({"step": "int64", "tokens": "int64"})


def _losses(outcome: TrainOutcome) -> tuple[float, float]:
    """(final loss on the whole test set, lowest loss along the curve, on the curve's fixed subset)."""
    tests = [r["test_loss"] for r in outcome.rows if math.isfinite(r["test_loss"])]
    return outcome.final_test_loss, (min(tests) if tests else math.nan)


def run_metadata(run: ResolvedRun, data: PreparedData, outcome: TrainOutcome, preset: str) -> dict:
    """Every fact about the run that the analysis or a reader of the parquet may need."""
    g, p, t = run.gpt, run.params, run.config.train
    final, best = _losses(outcome)
    meta = {
        "run_id": run.run_id, "status": outcome.status, "diverged_step": outcome.diverged_step,
        "diverged_rule": outcome.diverged_rule, "train_unigram_loss_nats": train_unigram_loss(data),
        "family": g.family, "n_layer": g.n_layer, "d_model": g.d_model, "n_head": g.n_head, "d_ff": g.d_ff, "n_ctx": g.n_ctx,
        "vocab_size": g.vocab_size, "tie_embeddings": g.tie_embeddings,
        "params_non_embedding": p.non_embedding, "params_total": p.total, "params_embedding": p.embedding,
        "params_token_embedding": p.token_embedding, "params_position_embedding": p.position_embedding,
        "params_output_head": p.output_head,
        "params_non_embedding_closed_form": closed_form_non_embedding_params(g),
        "flops_per_token_fwd_kaplan": flops_per_token_fwd_kaplan(g),
        **{f"flops_per_token_{k}": f(g) for k, f in TRAIN_FLOPS_PER_TOKEN.items()},
        "tokens": run.tokens, "tokens_requested": run.tokens_requested, "steps": run.steps,
        "batch_size": run.batch_size, "batch_rule": t.batch_rule, "lr": run.peak_lr, "lr_rule": t.lr_rule, "warmup_steps": run.warmup_steps,
        "schedule": t.schedule, "cooldown_steps": run.cooldown_steps,
        "cooldown_shape": t.cooldown_shape if run.trunk_id else "", "trunk_id": run.trunk_id,
        "fork_step": run.fork_step, "fork_tokens": run.fork_step * run.tokens_per_step if run.trunk_id else -1,
        "seed": t.seed, "corpus": data.corpus, "corpus_fingerprint": data.fingerprint,
        "corpus_entropy_rate_nats": data.entropy_rate_nats, "corpus_skipped_files": data.skipped_files,
        "epochs": outcome.epochs,
        "device": outcome.device, "torch_version": torch.__version__,
        "final_test_loss": final, "final_test_loss_sem": outcome.final_test_loss_sem, "best_test_loss": best, "wall_time_s": outcome.wall_time_s,
        # A JSON string, not a list, so that load_curves can repeat it on every curve row (docs/families.md).
        "final_test_loss_by_position_json": json.dumps(outcome.final_test_loss_by_position),
        "grid": run.grid, "compute_budget": run.compute_budget, "preset": preset,
        "config_json": json.dumps(dataclasses.asdict(run.config), sort_keys=True, default=str),
    }
    return meta
