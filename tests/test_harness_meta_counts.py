"""Parameter counts of a plan come from the real module built on the meta device, without its initialisers."""

import subprocess
import sys

import pytest

from harness.resolve import count_params_of
from models.config import GPTConfig
from models.counting import count_params
from models.families import build_model

SHAPES = [GPTConfig(n_layer=3, d_model=48, n_head=4, n_ctx=32, vocab_size=97, family="gpt2"),
          GPTConfig(n_layer=2, d_model=32, n_head=2, n_ctx=64, vocab_size=100, family="llama"),
          GPTConfig(n_layer=2, d_model=40, n_head=None, n_ctx=16, vocab_size=50, family="lstm")]


@pytest.mark.parametrize("cfg", SHAPES, ids=lambda c: c.family)
def test_meta_counts_equal_the_counts_of_the_module_built_on_the_cpu(cfg):
    assert count_params_of(cfg) == count_params(build_model(cfg))


def test_counting_a_gpt2_shape_does_not_import_torch_dynamo():
    # Meta tensors have no normal_ kernel: torch's Python reference for it imports torch._dynamo, 1.2 s of
    # every sweep's start-up, unless the initialisers are skipped on the meta device.
    code = ("import sys; from harness.resolve import count_params_of; from models.config import GPTConfig; "
            "count_params_of(GPTConfig(n_layer=2, d_model=32, n_head=2, n_ctx=64, vocab_size=100)); "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
