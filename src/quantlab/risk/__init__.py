"""Risk toolkit: VaR/ES by eight methods, decomposition, rolling forecasts, VaR/ES backtests,
stress scenarios, reverse stress tests and drawdown analytics.

Pure computation on pandas/numpy (no network, no files but the packaged scenario library).
VaR and ES are positive loss fractions (0.05 = a 5 % loss). Every function returns a result
object with the same protocol (:class:`quantlab._result.Result`): ``stats()``,
``summary(formatted=False)``, ``to_dict()``, ``plot()``.

Modules: :mod:`~quantlab.risk.var` (``value_at_risk``) with the method kernels in
:mod:`~quantlab.risk.parametric`, :mod:`~quantlab.risk.historical`, :mod:`~quantlab.risk.ewma`,
:mod:`~quantlab.risk.montecarlo`, :mod:`~quantlab.risk.fhs`; :mod:`~quantlab.risk.rolling`,
:mod:`~quantlab.risk.decomposition`, :mod:`~quantlab.risk.backtesting`,
:mod:`~quantlab.risk.es_backtest`; stress testing in :mod:`~quantlab.risk.scenarios` (model and
TOML library), :mod:`~quantlab.risk.beta`, :mod:`~quantlab.risk.stress` (replay),
:mod:`~quantlab.risk.stressed_var`, :mod:`~quantlab.risk.reverse`, :mod:`~quantlab.risk.report`;
:mod:`~quantlab.risk.drawdown`. Result classes: :mod:`~quantlab.risk.var_results`,
:mod:`~quantlab.risk.stress_results` (and beside their single function for backtests and
drawdowns).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quantlab._lazy import lazy_exports

# Names load on first use (PEP 562): ``import quantlab.risk.ewma`` from the live runner must
# not import scipy.stats and every other risk module (tens of MiB the runner never uses).
_EXPORTS: dict[str, str] = {
    "CornishFisherDomainWarning": "quantlab.risk.parametric",
    "DrawdownResult": "quantlab.risk.drawdown",
    "ESBacktestResult": "quantlab.risk.es_backtest",
    "HistoricalScenario": "quantlab.risk.scenarios",
    "HypotheticalScenario": "quantlab.risk.scenarios",
    "METHODS": "quantlab.risk.var",
    "ReverseStressResult": "quantlab.risk.stress_results",
    "RollingVaRResult": "quantlab.risk.var_results",
    "Scenario": "quantlab.risk.scenarios",
    "StressReport": "quantlab.risk.stress_results",
    "StressResult": "quantlab.risk.stress_results",
    "StressedVaRResult": "quantlab.risk.stress_results",
    "TESTS": "quantlab.risk.backtesting",
    "VaRBacktestResult": "quantlab.risk.backtesting",
    "VaRComparison": "quantlab.risk.var_results",
    "VaRDecomposition": "quantlab.risk.var_results",
    "VaRResult": "quantlab.risk.var_results",
    "age_weighted_var_es": "quantlab.risk.historical",
    "cornish_fisher_valid": "quantlab.risk.parametric",
    "cornish_fisher_var_es": "quantlab.risk.parametric",
    "cornish_fisher_z": "quantlab.risk.parametric",
    "drawdown_analysis": "quantlab.risk.drawdown",
    "drawdown_episodes": "quantlab.risk.drawdown",
    "ellipsoid_coverage": "quantlab.risk.reverse",
    "ellipsoid_k": "quantlab.risk.reverse",
    "es_backtest": "quantlab.risk.es_backtest",
    "estimate_betas": "quantlab.risk.beta",
    "ewma_covariance": "quantlab.risk.ewma",
    "ewma_variance": "quantlab.risk.ewma",
    "fit_t_df": "quantlab.risk.parametric",
    "historical_var_es": "quantlab.risk.historical",
    "load_scenarios": "quantlab.risk.scenarios",
    "most_plausible_breach": "quantlab.risk.reverse",
    "normal_var_es": "quantlab.risk.parametric",
    "parametric_var": "quantlab.risk.parametric",
    "portfolio_returns": "quantlab.risk.returns",
    "returns_from_prices": "quantlab.risk.returns",
    "reverse_beta": "quantlab.risk.reverse",
    "reverse_uniform": "quantlab.risk.reverse",
    "rolling_var": "quantlab.risk.rolling",
    "scenario_names": "quantlab.risk.scenarios",
    "stress_report": "quantlab.risk.report",
    "stress_test": "quantlab.risk.stress",
    "stressed_var": "quantlab.risk.stressed_var",
    "student_t_var_es": "quantlab.risk.parametric",
    "ulcer_index": "quantlab.risk.drawdown",
    "underwater": "quantlab.risk.drawdown",
    "value_at_risk": "quantlab.risk.var",
    "var_backtest": "quantlab.risk.backtesting",
    "var_backtest_from_forecasts": "quantlab.risk.backtesting",
    "var_decomposition": "quantlab.risk.decomposition",
    "worst_case_ellipsoid": "quantlab.risk.reverse",
}

__all__ = [
    "METHODS",
    "TESTS",
    "CornishFisherDomainWarning",
    "DrawdownResult",
    "ESBacktestResult",
    "HistoricalScenario",
    "HypotheticalScenario",
    "ReverseStressResult",
    "RollingVaRResult",
    "Scenario",
    "StressReport",
    "StressResult",
    "StressedVaRResult",
    "VaRBacktestResult",
    "VaRComparison",
    "VaRDecomposition",
    "VaRResult",
    "age_weighted_var_es",
    "cornish_fisher_valid",
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
    "stress_report",
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


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from quantlab.risk.backtesting import (
        TESTS,
        VaRBacktestResult,
        var_backtest,
        var_backtest_from_forecasts,
    )
    from quantlab.risk.beta import estimate_betas
    from quantlab.risk.decomposition import var_decomposition
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
        CornishFisherDomainWarning,
        cornish_fisher_valid,
        cornish_fisher_var_es,
        cornish_fisher_z,
        fit_t_df,
        normal_var_es,
        parametric_var,
        student_t_var_es,
    )
    from quantlab.risk.report import stress_report
    from quantlab.risk.returns import portfolio_returns, returns_from_prices
    from quantlab.risk.reverse import (
        ellipsoid_coverage,
        ellipsoid_k,
        most_plausible_breach,
        reverse_beta,
        reverse_uniform,
        worst_case_ellipsoid,
    )
    from quantlab.risk.rolling import rolling_var
    from quantlab.risk.scenarios import (
        HistoricalScenario,
        HypotheticalScenario,
        Scenario,
        load_scenarios,
        scenario_names,
    )
    from quantlab.risk.stress import stress_test
    from quantlab.risk.stress_results import (
        ReverseStressResult,
        StressedVaRResult,
        StressReport,
        StressResult,
    )
    from quantlab.risk.stressed_var import stressed_var
    from quantlab.risk.var import METHODS, value_at_risk
    from quantlab.risk.var_results import (
        RollingVaRResult,
        VaRComparison,
        VaRDecomposition,
        VaRResult,
    )
