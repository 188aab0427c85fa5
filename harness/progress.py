"""Progress lines for a run and a sweep: readable in a terminal, sparse in a non-interactive log."""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

log = logging.getLogger("scalinglab")
# The run's own tokens/s (from the trainer's clock) follows in the postfix, so tqdm's rate is left out.
RUN_BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} tokens [{elapsed}<{remaining}]{postfix}"


def format_duration(seconds: float) -> str:
    """'1h02m', '3m05s' or '12s'."""
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def attached_to_terminal(stream) -> bool:
    """Whether `stream` is a terminal (not a file, a pipe, CI's or SLURM's log)."""
    return bool(getattr(stream, "isatty", None)) and stream.isatty()


def describe_row(row: dict) -> str:
    """'train 4.1234, test 4.2345, 51234 tok/s' for one curve row (no test part where it was not evaluated)."""
    rate = row["tokens"] / row["elapsed_s"] if row["elapsed_s"] > 0 else float("nan")
    test = "" if row["test_loss"] != row["test_loss"] else f", test {row['test_loss']:.4f}"
    return f"train {row['train_loss']:.4f}{test}, {rate:.0f} tok/s"


class RunProgress:
    """A run's progress: a tqdm bar of tokens (losses and tokens/s beside it) when `stream` is a terminal and
    `bar` allows it; otherwise a log line at most every `interval_s` seconds (and at the end).

    Jobs side by side in worker processes (joblib) share one terminal, where their bars would overwrite one
    another's line, so the caller passes bar=False there and gets the log lines."""

    def __init__(self, label: str, total_tokens: int, interval_s: float, *, bar: bool = True, stream=None):
        self.label, self.total, self.interval_s = label, total_tokens, interval_s
        self.last_log = time.perf_counter()
        stream = sys.stderr if stream is None else stream
        self.bar = None
        if bar and attached_to_terminal(stream):
            self.bar = tqdm(total=total_tokens, desc=label, unit="tok", unit_scale=True, file=stream, leave=False,
                            bar_format=RUN_BAR_FORMAT)

    def __call__(self, row: dict) -> None:
        last = row["tokens"] >= self.total
        if self.bar is not None:
            self.bar.set_postfix_str(describe_row(row), refresh=False)
            self.bar.update(row["tokens"] - self.bar.n)
            if row["test_loss"] == row["test_loss"]:  # drawn at every evaluation; tqdm paces the other rows
                self.bar.refresh()
            if last:
                self.bar.close()
            return
        now = time.perf_counter()
        if now - self.last_log < self.interval_s and not last:
            return
        self.last_log = now
        log.info("%s %5.1f%% %.3g/%.3g tokens, %s", self.label, 100 * row["tokens"] / self.total, row["tokens"],
                 self.total, describe_row(row))


def sweep_bar(done: int, total: int, left: str, stream=None) -> bool:
    """Draw the sweep's bar (runs done of total, the time left) on `stream` if it is a terminal; say if it did."""
    stream = sys.stderr if stream is None else stream
    if not attached_to_terminal(stream):
        return False
    escaped = left.replace("{", "{{").replace("}", "}}")
    tqdm(total=total, initial=done, file=stream, leave=True,
         bar_format="sweep {n_fmt}/{total_fmt} runs |{bar}| " + escaped).close()
    return True
