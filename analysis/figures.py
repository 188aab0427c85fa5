"""Make every figure whose data exist; say which were skipped and why."""
from __future__ import annotations

from pathlib import Path

from analysis.pipeline import Analysis
from analysis.plots_architecture import plot_embedding_counting, plot_shape_dependence
from analysis.plots_families import plot_families, plot_loss_by_position
from analysis.plots_scaling import plot_figure1, plot_isoflop, plot_optimal_size


def _figure1(analysis: Analysis, out_dir: Path):
    # Fully decayed final points (wsd branches, cosine runs at several D) bound the curves from below where
    # they exist; mid-run points of cosine curves (the envelope) otherwise, as Kaplan 2020 draw it.
    final = analysis.final_frontiers.get(analysis.options.compute)
    frontier = final if final is not None and final.ok else analysis.frontiers.get(analysis.options.compute)
    l_of_n, l_of_d = analysis.fits["L(N)"], analysis.fits["L(D)"]
    if frontier is None and "x" not in l_of_n.extra and "x" not in l_of_d.extra:
        return None, "no learning curves, d_grid or n_grid runs"
    points = final.extra.get("points") if final is not None else None
    return plot_figure1(analysis.curves, frontier, l_of_d, l_of_n, out_dir, points), None


def _isoflop(analysis: Analysis, out_dir: Path):
    fit = analysis.isoflops.get("6n")
    if fit is None or fit.extra.get("minima") is None or fit.extra["minima"].empty:
        return None, "no runs with grid 'isoflop' or 'isoflop_<part>' (or no flops_per_token_6n column)"
    return plot_isoflop(fit, analysis.runs, out_dir), None


def _optimal(analysis: Analysis, out_dir: Path):
    conv = analysis.options.compute
    candidates = (("final points", analysis.final_frontiers.get(conv), "optima"),
                  ("envelope of curves", analysis.frontiers.get(conv), "optima"),
                  ("IsoFLOP", analysis.isoflops.get("6n"), "minima"))
    sources = [(label, fit) for label, fit, key in candidates
               if fit is not None and fit.ok and fit.extra.get(key) is not None]
    if not sources:
        return None, "no method found N_opt at three or more compute values"
    return plot_optimal_size(sources, out_dir), None


def _shape(analysis: Analysis, out_dir: Path):
    if analysis.architecture is None or analysis.architecture.series.empty:
        return None, "no fixed-N group of grid=='arch_shape' runs with two or more shapes along one attribute"
    return plot_shape_dependence(analysis.architecture.series, out_dir), None


def _embeddings(analysis: Analysis, out_dir: Path):
    if "params_total" not in analysis.runs or analysis.runs["params_non_embedding"].nunique() < 2:
        return None, "fewer than two model sizes (or no params_total column)"
    return plot_embedding_counting(analysis.runs, out_dir), None


def _families(analysis: Analysis, out_dir: Path):
    if not analysis.family_fits:
        return None, "no runs with grid=='families'"
    return plot_families(analysis.runs, analysis.family_fits, out_dir), None


def _positions(analysis: Analysis, out_dir: Path):
    if analysis.positions is None or analysis.positions.empty:
        return None, "no families runs with final_test_loss_by_position_json"
    return plot_loss_by_position(analysis.positions, out_dir), None


FIGURES = (
    ("figure1_scaling", _figure1, "Loss vs compute (learning curves coloured by N; dots: fully decayed final "
                                  "points; dashed: the frontier fit, from final points where there are), "
                                  "vs dataset size (L(D)), vs non-embedding parameters (L(N)); Kaplan 2020 Fig. 1"),
    ("isoflop", _isoflop, "IsoFLOP profiles with parabola fits and minima (x: minimum at the grid edge), "
                          "and N_opt against C; Hoffmann 2022 Fig. 3"),
    ("compute_optimal_size", _optimal, "N_opt against compute from final points, the envelope of learning curves "
                                       "(each interpolated across model sizes) and IsoFLOP local parabolas, with "
                                       "their power laws N_opt ∝ C^a; Porian et al. 2024"),
    ("architecture_shape", _shape, "Loss over the best shape at fixed N (seed means, bars: 95% intervals) vs "
                                   "aspect ratio, and heads and feed-forward ratio where varied, each panel "
                                   "through the shapes that vary only its attribute; Kaplan 2020 Fig. 5"),
    ("architecture_embeddings", _embeddings, "Test loss vs parameters with and without embeddings, "
                                             "coloured by depth, each shape at its largest D; Kaplan 2020 Fig. 6"),
    ("families_loss_vs_n", _families, "Final test loss vs non-embedding N per model family (seed means, bars: "
                                      "range over seeds) with each family's L(N); Kaplan 2020 Fig. 7 left"),
    ("loss_by_position", _positions, "Final test loss at each token position of the context, per family and "
                                     "size; Kaplan 2020 Fig. 7 right and Fig. 20"),
)


def make_figures(analysis: Analysis, out_dir: Path) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """([(png, caption)], [(figure name, why skipped)]); each PNG has a PDF beside it."""
    made, skipped = [], []
    for name, make, caption in FIGURES:
        png, reason = make(analysis, out_dir)
        if png is None:
            skipped.append((name, reason))
        else:
            made.append((png, caption))
    return made, skipped
