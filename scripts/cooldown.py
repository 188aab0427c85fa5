"""wsd cooldown branches against cosine runs: `python scripts/cooldown.py [--preset P] [--shape LxD ...] [--budgets D ...]`.

For each shape, trains one wsd trunk with a cooldown branch per budget, and a cosine run per budget,
interleaved in one process; writes cooldown.md (final losses paired per held-out window, and the
FLOPs and seconds of each way), cooldown_budgets.parquet, cooldown_costs.parquet and a figure of the
first shape's schedule and learning curves under --out.
"""

import argparse
from datetime import date
import sys
import tempfile
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the repository on sys.path)
import pandas as pd
import torch

from harness.bench.cooldown import compare_shape, is_finite_table, markdown, plot_trunk
from harness.bench.machine import describe
from harness.bench.report import machine_lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="kaplan_fig1", help="preset whose model, data and batch settings to use")
    parser.add_argument("--shape", nargs="+", default=["2x32", "2x64", "4x96"], help="n_layer x d_model")
    parser.add_argument("--budgets", nargs="+", type=float, default=[2.5e5, 5e5, 1e6], help="token budgets D")
    parser.add_argument("--override", action="append", default=[], help="extra config override (repeatable)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: steadier timings on a machine that runs other work)")
    parser.add_argument("--out", default="results/bench/cooldown", help="output folder")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    budgets, costs, figure = [], [], None
    with tempfile.TemporaryDirectory() as work:
        for shape in args.shape:
            n_layer, d_model = (int(v) for v in shape.split("x"))
            rows, cost, curves = compare_shape(args.preset, n_layer, d_model, args.budgets, Path(work) / shape,
                                               args.override)
            budgets.append(rows)
            costs.append(cost)
            print(rows.to_string(index=False), flush=True)
            if figure is None:
                figure = out / "cooldown_schedule.png"
                plot_trunk(curves, figure, f"{shape} of {args.preset}: wsd branches (solid), cosine (dashed)")
    budgets, costs = pd.concat(budgets, ignore_index=True), pd.DataFrame(costs)
    budgets.to_parquet(out / "cooldown_budgets.parquet")
    costs.to_parquet(out / "cooldown_costs.parquet")
    command = "python scripts/cooldown.py " + " ".join(argv if argv is not None else sys.argv[1:])
    machine = machine_lines(describe(torch.device("cpu")))
    text = f"`{command}`, {date.today().isoformat()}\n\n{machine}\n\n{markdown(budgets, costs)}"
    (out / "cooldown.md").write_text(text)
    print(text)
    return 0 if is_finite_table(budgets) else 1


if __name__ == "__main__":
    sys.exit(main())
