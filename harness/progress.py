"""Progress lines for a run and a sweep: readable in a terminal, sparse in a non-interactive log."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("scalinglab")


def format_duration(seconds: float) -> str:
    """'1h02m', '3m05s' or '12s'."""
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class RunProgress:
    """Logs tokens done, losses and tokens/s at most every `interval_s` seconds (and at the end)."""

    def __init__(self, label: str, total_tokens: int, interval_s: float):
        self.label, self.total, self.interval_s = label, total_tokens, interval_s
        self.last_log = time.perf_counter()

    def __call__(self, row: dict) -> None:
        now = time.perf_counter()
        last = row["tokens"] >= self.total
        if now - self.last_log < self.interval_s and not last:
            return
        self.last_log = now
        rate = row["tokens"] / row["elapsed_s"] if row["elapsed_s"] > 0 else float("nan")
        test = "" if row["test_loss"] != row["test_loss"] else f" test {row['test_loss']:.4f}"
        log.info("%s %5.1f%% %.3g/%.3g tokens, train %.4f%s, %.0f tok/s", self.label,
                 100 * row["tokens"] / self.total, row["tokens"], self.total, row["train_loss"], test, rate)
