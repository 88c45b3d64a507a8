"""Risk toolkit: VaR/ES by eight methods, decomposition, rolling forecasts, VaR/ES backtests,
stress scenarios, reverse stress tests and drawdown analytics.

Pure computation on pandas/numpy (no network, no files but the packaged scenario library).
VaR and ES are positive loss fractions (0.05 = a 5 % loss).
"""

from quantlab.risk.backtesting import (
    TESTS,
    VaRBacktestResult,
    var_backtest,
    var_backtest_from_forecasts,
)
from quantlab.risk.decomposition import VaRDecomposition, var_decomposition
from quantlab.risk.drawdown import (
    DrawdownResult,
    drawdown_analysis,
    drawdown_episodes,
    ulcer_index,
    underwater,
)
from quantlab.risk.es_backtest import ESBacktestResult, es_backtest
from quantlab.risk.ewma import ewma_covariance, ewma_variance
from quantlab.risk.historical import age_weighted_var_es, historical_var_es
from quantlab.risk.parametric import (
    cornish_fisher_var_es,
    cornish_fisher_z,
    fit_t_df,
    normal_var_es,
    parametric_var,
    student_t_var_es,
)
from quantlab.risk.returns import portfolio_returns, returns_from_prices
from quantlab.risk.reverse import (
    ReverseStressResult,
    ellipsoid_coverage,
    ellipsoid_k,
    most_plausible_breach,
    reverse_beta,
    reverse_uniform,
    worst_case_ellipsoid,
)
from quantlab.risk.rolling import rolling_var
from quantlab.risk.stress import (
    HistoricalScenario,
    HypotheticalScenario,
    Scenario,
    StressedVaRResult,
    StressResult,
    estimate_betas,
    load_scenarios,
    scenario_names,
    stress_test,
    stressed_var,
)
from quantlab.risk.var import METHODS, VaRComparison, VaRResult, value_at_risk

__all__ = [
    "METHODS",
    "TESTS",
    "DrawdownResult",
    "ESBacktestResult",
    "HistoricalScenario",
    "HypotheticalScenario",
    "ReverseStressResult",
    "Scenario",
    "StressResult",
    "StressedVaRResult",
    "VaRBacktestResult",
    "VaRComparison",
    "VaRDecomposition",
    "VaRResult",
    "age_weighted_var_es",
    "cornish_fisher_var_es",
    "cornish_fisher_z",
    "drawdown_analysis",
    "drawdown_episodes",
    "ellipsoid_coverage",
    "ellipsoid_k",
    "es_backtest",
    "estimate_betas",
    "ewma_covariance",
    "ewma_variance",
    "fit_t_df",
    "historical_var_es",
    "load_scenarios",
    "most_plausible_breach",
    "normal_var_es",
    "parametric_var",
    "portfolio_returns",
    "returns_from_prices",
    "reverse_beta",
    "reverse_uniform",
    "rolling_var",
    "scenario_names",
    "stress_test",
    "stressed_var",
    "student_t_var_es",
    "ulcer_index",
    "underwater",
    "value_at_risk",
    "var_backtest",
    "var_backtest_from_forecasts",
    "var_decomposition",
    "worst_case_ellipsoid",
]
