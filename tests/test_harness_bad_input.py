"""A bad config stops a run before anything is written, with one line naming the field and no traceback."""

import pytest

from configs.errors import ConfigError
from harness.units import run_config as execute_config

# (overrides, the field the error must name). {tmp} is replaced by the test's temporary folder.
BAD_INPUTS = {
    "d_model_not_divisible_by_n_head": (["model.d_model=64", "model.n_head=3"], "model.n_head"),
    "zero_layers": (["model.n_layer=0"], "model.n_layer"),
    "unknown_compile_mode": (["train.compile=fast"], "train.compile"),
    "unknown_corpus": (["data.corpus=nope"], "data.corpus"),
    "budget_below_one_batch": (["train.tokens=10"], "train.tokens"),
    # The 60-file slice holds about 6e5 train tokens: one window of 2e6 + 1 tokens does not fit.
    "context_longer_than_the_train_split": (["model.n_ctx=2000000", "train.batch_size=1", "train.tokens=2e6"],
                                            "model.n_ctx"),
    "glob_matching_nothing": (["data.corpus=text_files", "data.text_files.globs=[{tmp}/nothing/*.txt]"],
                              "data.text_files.globs"),
    "vocab_beyond_uint16": (["data.vocab_size=70000"], "data.vocab_size"),
    "more_test_windows_than_the_test_split_holds": (["data.test_windows=100000"], "data.test_windows"),
    # NaN passes every range check (each comparison is False); a review saw these crash mid-run or record
    # results: nan tokens, an infinite lr or weight decay ('diverged'), a nan clip ('completed').
    "nan_token_budget": (["train.tokens=nan"], "train.tokens"),
    "infinite_fixed_lr": (["train.lr_rule=fixed", "train.lr=inf"], "train.lr"),
    "nan_grad_clip": (["train.grad_clip=nan"], "train.grad_clip"),
    "infinite_weight_decay": (["train.weight_decay=inf"], "train.weight_decay"),
    "nan_d_ff_ratio": (["model.d_ff_ratio=nan"], "model.d_ff_ratio"),
    "unknown_model_family": (["model.family=transformer_xl"], "model.family"),
    "lstm_given_heads": (["model.family=lstm", "model.n_head=2"], "model.n_head"),
    "llama_heads_not_dividing_d_model": (["model.family=llama", "model.d_model=64", "model.n_head=3"],
                                         "model.n_head"),
    "llama_odd_head_width_for_rotary": (["model.family=llama", "model.d_model=48", "model.n_head=16"],
                                        "model.n_head"),
    "beta2_above_one": (["train.beta2=1.5"], "train.beta2"),
    "negative_beta1": (["train.beta1=-0.5"], "train.beta1"),
}
THROUGH_THE_SCRIPT = ["d_model_not_divisible_by_n_head", "budget_below_one_batch", "nan_token_budget",
                      "context_longer_than_the_train_split", "glob_matching_nothing"]


def _overrides(case: str, tmp_path) -> tuple[list[str], str]:
    overrides, field = BAD_INPUTS[case]
    return [o.replace("{tmp}", str(tmp_path)) for o in overrides], field


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_config_error_naming_the_field_and_writes_nothing(case, run_config, tmp_path):
    overrides, field = _overrides(case, tmp_path)
    results = tmp_path / "results"
    with pytest.raises(ConfigError) as raised:
        execute_config(run_config(results, *overrides))
    assert raised.value.field == field
    assert field in str(raised.value)
    assert not results.exists()


@pytest.mark.parametrize("case", THROUGH_THE_SCRIPT)
def test_train_script_rejects_bad_input_with_one_line_and_writes_nothing(case, run_script, tmp_path):
    overrides, field = _overrides(case, tmp_path)
    results = tmp_path / "results"
    done = run_script("train.py", [f"sweep.results_dir={results}", "train.threads=1", *overrides], cwd=tmp_path)
    assert done.returncode == 2
    assert f"invalid config: {field}=" in done.stdout
    assert "Traceback" not in done.stdout
    assert not results.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing in the working directory either
