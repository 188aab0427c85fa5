"""Progress display: tqdm bars on a terminal, plain log lines elsewhere (CI, SLURM logs, joblib workers)."""

import io
import logging

from harness.progress import RunProgress, sweep_bar


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


ROWS = [{"tokens": 512, "elapsed_s": 0.5, "train_loss": 5.5, "test_loss": float("nan")},
        {"tokens": 1024, "elapsed_s": 1.0, "train_loss": 4.25, "test_loss": 4.5}]


def feed(progress: RunProgress) -> None:
    for row in ROWS:
        progress(row)


def test_on_a_terminal_the_run_is_a_bar_with_losses_and_rate(caplog):
    stream = Terminal()
    with caplog.at_level(logging.INFO, logger="scalinglab"):
        feed(RunProgress("run L1 d16", 1024, interval_s=0.0, stream=stream))
    text = stream.getvalue()
    assert "run L1 d16" in text and "1.02k/1.02k" in text
    assert "train 4.2500, test 4.5000, 1024 tok/s" in text
    assert caplog.records == []


def test_off_a_terminal_the_run_logs_lines_at_the_interval_and_at_the_end(caplog):
    stream = io.StringIO()
    with caplog.at_level(logging.INFO, logger="scalinglab"):
        feed(RunProgress("run L1 d16", 1024, interval_s=1e9, stream=stream))
    assert stream.getvalue() == ""
    assert [r.getMessage() for r in caplog.records] == [
        "run L1 d16 100.0% 1.02e+03/1.02e+03 tokens, train 4.2500, test 4.5000, 1024 tok/s"]


def test_jobs_side_by_side_log_lines_even_on_a_terminal(caplog):
    stream = Terminal()
    with caplog.at_level(logging.INFO, logger="scalinglab"):
        feed(RunProgress("run L1 d16", 1024, interval_s=0.0, bar=False, stream=stream))
    assert stream.getvalue() == ""
    assert len(caplog.records) == 2
    assert caplog.records[0].getMessage().endswith("train 5.5000, 1024 tok/s")


def test_the_sweep_bar_shows_runs_done_and_the_time_left():
    stream = Terminal()
    assert sweep_bar(7, 19, "about 6m10s of training left", stream=stream)
    assert "sweep 7/19 runs |" in stream.getvalue()
    assert stream.getvalue().rstrip().endswith("about 6m10s of training left")


def test_the_sweep_bar_draws_nothing_off_a_terminal():
    stream = io.StringIO()
    assert not sweep_bar(7, 19, "about 6m10s of training left", stream=stream)
    assert stream.getvalue() == ""
