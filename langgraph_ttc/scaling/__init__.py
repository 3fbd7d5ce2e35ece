"""Scaling curves: sample pools, unbiased estimators, fitted laws, plots.

Build a pool of samples once, then read off every strategy's accuracy at every number of calls:

    >>> from langgraph_ttc.scaling import pass_at_k, majority_at_k
    >>> round(pass_at_k(8, 2, 4), 4), round(majority_at_k(["4", "4", "5"], [1, 1, 0], 2), 4)
    (0.7857, 0.6667)

The one-call pipeline is :func:`run_curves` (``langgraph-ttc curves`` on the command line).
"""

from langgraph_ttc.scaling.curve_estimates import (
    STRATEGY_NAMES,
    CurvePoint,
    CurveSet,
    bootstrap_ci,
    default_ks,
    estimate_curves,
)
from langgraph_ttc.scaling.curves import (
    DEFAULT_STRATEGIES,
    LiveResult,
    format_table,
    replot,
    run_curves,
    summarize_pool,
)
from langgraph_ttc.scaling.difficulty import (
    chen_difficulty,
    chen_split,
    oracle_statistic,
    predicted_statistic,
    quantile_bins,
)
from langgraph_ttc.scaling.estimators import (
    best_of_n_at_k,
    filter_vote_at_k,
    majority_at_k,
    pass_at_k,
    weighted_best_of_n_at_k,
)
from langgraph_ttc.scaling.fits import (
    PowerLawFit,
    TwoLevelOptimum,
    fit_power_law,
    log_spaced_ks,
    power_law,
    two_level_optimal_k,
)
from langgraph_ttc.scaling.pool import PoolBuildReport, PoolBusy, build_pool, load_pool, sample_seed
from langgraph_ttc.scaling.samples import PoolSamples, ProblemSamples
from langgraph_ttc.scaling.vote_model import VoteModelFit, fit_vote_model, vote_curve

__all__ = [
    "DEFAULT_STRATEGIES",
    "STRATEGY_NAMES",
    "CurvePoint",
    "CurveSet",
    "LiveResult",
    "PoolBuildReport",
    "PoolBusy",
    "PoolSamples",
    "PowerLawFit",
    "ProblemSamples",
    "TwoLevelOptimum",
    "VoteModelFit",
    "best_of_n_at_k",
    "bootstrap_ci",
    "build_pool",
    "chen_difficulty",
    "chen_split",
    "default_ks",
    "estimate_curves",
    "filter_vote_at_k",
    "fit_power_law",
    "fit_vote_model",
    "format_table",
    "load_pool",
    "log_spaced_ks",
    "majority_at_k",
    "oracle_statistic",
    "pass_at_k",
    "power_law",
    "predicted_statistic",
    "quantile_bins",
    "replot",
    "run_curves",
    "sample_seed",
    "summarize_pool",
    "two_level_optimal_k",
    "vote_curve",
    "weighted_best_of_n_at_k",
]
