"""Portfolio construction and rebalancing: optimizers, rebalance planning with exchange rules and
tax lots, and rebalancing backtests. Pure computation (the packaged Binance market-rules fixture
is the only file read)."""

from quantlab.portfolio.constraints import InfeasibleError, OptimizationError
from quantlab.portfolio.costs import CostModel
from quantlab.portfolio.covariance import COV_METHODS, covariance, ledoit_wolf
from quantlab.portfolio.cvar import portfolio_cvar
from quantlab.portfolio.holdings import read_holdings
from quantlab.portfolio.hrp import hrp_weights
from quantlab.portfolio.lots import LOT_METHODS, consume_lots, harvest_candidates
from quantlab.portfolio.markets import Markets, load_markets
from quantlab.portfolio.optimize import (
    METHODS,
    OptimizeResult,
    optimize,
    optimize_result,
    risk_contributions,
)
from quantlab.portfolio.plan import RebalancePlan, plan_rebalance
from quantlab.portfolio.policies import Calendar, CostAware, Policy, Threshold
from quantlab.portfolio.rebalance_backtest import RebalanceBacktestResult, backtest_rebalancing
from quantlab.portfolio.targets import target_weights

__all__ = [
    "COV_METHODS",
    "LOT_METHODS",
    "METHODS",
    "Calendar",
    "CostAware",
    "CostModel",
    "InfeasibleError",
    "Markets",
    "OptimizationError",
    "OptimizeResult",
    "Policy",
    "RebalanceBacktestResult",
    "RebalancePlan",
    "Threshold",
    "backtest_rebalancing",
    "consume_lots",
    "covariance",
    "harvest_candidates",
    "hrp_weights",
    "ledoit_wolf",
    "load_markets",
    "optimize",
    "optimize_result",
    "plan_rebalance",
    "portfolio_cvar",
    "read_holdings",
    "risk_contributions",
    "target_weights",
]
