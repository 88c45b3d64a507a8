"""Result objects of stress testing: scenario P&L, stressed VaR, reverse stress, the full report.

Kept apart from the functions that build them (:mod:`~quantlab.risk.stress`,
:mod:`~quantlab.risk.stressed_var`, :mod:`~quantlab.risk.reverse`,
:mod:`~quantlab.risk.report`). Every class follows :class:`quantlab._result.Result`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from quantlab._result import Result

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from quantlab.risk.drawdown import DrawdownResult
    from quantlab.risk.scenarios import Scenario

__all__ = ["ReverseStressResult", "StressReport", "StressResult", "StressedVaRResult"]


def _portfolio_text(weights: pd.Series) -> str:
    return ", ".join(f"{a} {w:g}" for a, w in weights.items())


@dataclass(repr=False)
class StressResult(Result):
    """Scenario P&L of a portfolio (:func:`quantlab.risk.stress.stress_test`).

    Attributes
    ----------
    table : DataFrame
        One row per scenario (index ``scenario``): ``kind``, ``window``, ``portfolio_return``
        (signed fraction), ``pnl`` (quote currency, only with ``value``), ``worst_asset`` and
        ``worst_contribution`` (the asset with the most negative ``w_i R_i``), ``note``
        (proxies used, floored shocks, why a scenario was skipped), then each asset's return.
    contributions : DataFrame
        ``w_i R_i`` per scenario and asset (sums to ``portfolio_return``).
    weights : Series
        Portfolio weights used.
    value : float or None
        Portfolio value in quote currency.
    scenarios : dict
        The scenario objects applied.
    betas : dict
        Betas used by beta-scaled scenarios, by scenario name.
    """

    table: pd.DataFrame
    contributions: pd.DataFrame
    weights: pd.Series
    value: float | None
    scenarios: dict[str, Scenario]
    betas: dict[str, pd.Series] = field(default_factory=dict)

    _money = frozenset({"pnl", "worst_pnl", "value"})

    @property
    def _percent(self) -> frozenset[str]:  # type: ignore[override]
        return frozenset({"portfolio_return", "worst_contribution", "worst_return",
                          "best_return", "mean_return", *map(str, self.weights.index)})

    def worst(self) -> str:
        """Name of the scenario with the lowest portfolio return."""
        return str(self.table["portfolio_return"].idxmin())

    def title(self) -> str:
        text = f"Stress test: {len(self.table)} scenarios, portfolio {_portfolio_text(self.weights)}"
        if self.value is not None:
            text += f", value {self.value:,.2f}"
        if self.table["portfolio_return"].notna().any():
            w = self.worst()
            text += f"; worst {w} {self.table.loc[w, 'portfolio_return']:.2%}"
        return text

    def stats(self) -> pd.Series:
        """Scenario counts and the worst/best/mean portfolio return (and worst P&L)."""
        ret = self.table["portfolio_return"].astype(float)
        out: dict[str, Any] = {
            "n_scenarios": len(self.table), "n_skipped": int(ret.isna().sum()),
            "worst_return": float(ret.min()), "best_return": float(ret.max()),
            "mean_return": float(ret.mean()),
        }
        if self.value is not None:
            out["value"] = self.value
            out["worst_pnl"] = float(ret.min()) * self.value
        return pd.Series(out, dtype=object, name="stress_test")

    def _summary_table(self) -> pd.DataFrame:
        return self.table.copy()

    def _extra_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "value": self.value,
            "scenarios": self.table,
            "descriptions": {n: s.description for n, s in self.scenarios.items()},
            "contributions": self.contributions,
            "betas": dict(self.betas),
        }

    def _figure(self, **kwargs: Any) -> go.Figure:
        """Bar chart of each scenario's portfolio return (``charts.risk.stress_figure``)."""
        from quantlab.charts.risk import stress_figure

        return stress_figure(self.table, **kwargs)


@dataclass(repr=False)
class StressedVaRResult(Result):
    """Base versus stressed parametric (normal) VaR and ES
    (:func:`quantlab.risk.stressed_var.stressed_var`).

    Attributes
    ----------
    table : DataFrame
        Rows ``base`` and ``stressed``; columns ``volatility`` (portfolio sigma over the
        horizon), ``var`` and ``es`` (positive loss fractions), ``undiversified_var`` (sum of
        stand-alone VaRs), ``var_pnl``/``es_pnl`` in quote currency when ``value`` is given.
    assets : DataFrame
        Per asset: weight, base and stressed volatility, stand-alone VaR base/stressed.
    correlation : DataFrame
        The stressed correlation matrix.
    level, vol_multiplier, rho, horizon, mean :
        The parameters used.
    notes : list of str
        E.g. a correlation matrix repaired to be positive semi-definite.
    """

    table: pd.DataFrame
    assets: pd.DataFrame
    correlation: pd.DataFrame
    level: float
    vol_multiplier: float
    rho: float | None
    horizon: int
    mean: bool
    value: float | None = None
    notes: list[str] = field(default_factory=list)

    _percent = frozenset({"volatility", "var", "es", "undiversified_var", "base_volatility",
                          "base_var", "base_es", "level"})
    _money = frozenset({"var_pnl", "es_pnl", "value"})

    @property
    def var(self) -> float:
        """Stressed VaR (positive loss fraction)."""
        return float(self.table.loc["stressed", "var"])

    @property
    def es(self) -> float:
        """Stressed ES (positive loss fraction)."""
        return float(self.table.loc["stressed", "es"])

    def title(self) -> str:
        rho = "unchanged" if self.rho is None else f"{self.rho:g}"
        return (f"Stressed VaR: level {self.level:g}, volatility x{self.vol_multiplier:g}, "
                f"correlation {rho}, horizon {self.horizon}")

    def stats(self) -> pd.Series:
        """Stressed and base VaR/ES/volatility and the stress parameters."""
        b, s = self.table.loc["base"], self.table.loc["stressed"]
        out: dict[str, Any] = {
            "var": float(s["var"]), "es": float(s["es"]), "volatility": float(s["volatility"]),
            "undiversified_var": float(s["undiversified_var"]), "base_var": float(b["var"]),
            "base_es": float(b["es"]), "base_volatility": float(b["volatility"]),
            "level": self.level, "vol_multiplier": self.vol_multiplier,
            "correlation": self.rho if self.rho is not None else float("nan"),
            "horizon": self.horizon,
        }
        if self.value is not None:
            out.update(value=self.value, var_pnl=float(s["var_pnl"]), es_pnl=float(s["es_pnl"]))
        return pd.Series(out, dtype=object, name="stressed_var")

    def _summary_table(self) -> pd.DataFrame:
        return self.table.copy()

    def _extra_dict(self) -> dict[str, Any]:
        return {"level": self.level, "vol_multiplier": self.vol_multiplier,
                "correlation": self.rho, "horizon": self.horizon, "mean": self.mean,
                "value": self.value, "table": self.table, "assets": self.assets,
                "notes": list(self.notes)}

    def _figure(self, **kwargs: Any) -> go.Figure:
        """Bars of base vs stressed VaR as negative returns (``stress_figure``)."""
        from quantlab.charts.risk import stress_figure

        t = pd.DataFrame({"portfolio_return": -self.table["var"]})
        t.index = [f"VaR {i}" for i in t.index]
        t.index.name = "scenario"
        return stress_figure(t, **kwargs)


@dataclass(repr=False)
class ReverseStressResult(Result):
    """A reverse-stress scenario: the move, the loss it causes and how it was found
    (:mod:`quantlab.risk.reverse`).

    Attributes
    ----------
    method : str
        ``"uniform"``, ``"beta"``, ``"ellipsoid"`` or ``"breach"`` (most plausible breach).
    scenario : Series
        Signed simple return per asset.
    weights : Series
        Portfolio weights.
    loss : float
        Portfolio loss under ``scenario`` (positive fraction).
    loss_limit : float or None
        The limit that was solved for.
    shock : float or None
        Market/uniform fall ``s`` (positive fraction) for the uniform and beta methods.
    k : float or None
        Ellipsoid radius (Mahalanobis distance of the scenario from the mean).
    coverage : float or None
        ``chi2.cdf(k^2, n)``: probability mass inside the ellipsoid under a normal model.
    betas : Series or None
        Betas used by the beta method.
    value : float or None
        Portfolio value; adds quote-currency figures.
    notes : list of str
    """

    method: str
    scenario: pd.Series
    weights: pd.Series
    loss: float
    loss_limit: float | None = None
    shock: float | None = None
    k: float | None = None
    coverage: float | None = None
    betas: pd.Series | None = None
    value: float | None = None
    notes: list[str] = field(default_factory=list)

    _percent = frozenset({"weight", "scenario_return", "contribution", "loss", "loss_limit",
                          "shock", "coverage", "exceedance"})
    _money = frozenset({"pnl", "value"})

    @property
    def exceedance(self) -> float | None:
        """``1 - coverage``: chance of a move at least as far out as the ellipsoid edge."""
        return None if self.coverage is None else 1.0 - self.coverage

    @property
    def pnl(self) -> float | None:
        """Signed P&L in quote currency (``-loss * value``), when ``value`` is given."""
        return None if self.value is None else -self.loss * self.value

    def describe(self) -> str:
        """One sentence saying what the scenario is and what it loses."""
        if self.method == "uniform":
            return f"uniform: every asset falling {self.shock:.2%} loses {self.loss:.2%}"
        if self.method == "beta":
            return f"beta-scaled: the market asset falling {self.shock:.2%} loses {self.loss:.2%}"
        if self.method == "breach":
            return (f"most plausible breach of a {self.loss_limit:.2%} loss: k = {self.k:.2f}, "
                    f"outside the {self.coverage:.2%} plausibility ellipsoid "
                    f"(exceedance {self.exceedance:.2%})")
        return (f"worst case in the {self.coverage:.0%} plausibility ellipsoid (k = {self.k:.2f}):"
                f" loses {self.loss:.2%}")

    def title(self) -> str:
        return f"Reverse stress: {self.describe()}"

    def headline(self) -> dict[str, Any]:
        """The key numbers as a dict (method plus :meth:`stats`)."""
        return {"method": self.method, "loss_limit": self.loss_limit, "shock": self.shock,
                "loss": self.loss, "pnl": self.pnl, "k": self.k, "coverage": self.coverage,
                "exceedance": self.exceedance}

    def stats(self) -> pd.Series:
        """loss, loss_limit, shock, pnl, k, coverage, exceedance (None where not defined)."""
        out = {k: v for k, v in self.headline().items() if k != "method"}
        return pd.Series(out, dtype=object, name=self.method)

    def _summary_table(self) -> pd.DataFrame:
        """Per asset: weight, beta (beta method), scenario return and P&L contribution."""
        out = pd.DataFrame({"weight": self.weights})
        if self.betas is not None:
            out["beta"] = self.betas.reindex(self.weights.index)
        out["scenario_return"] = self.scenario
        out["contribution"] = self.weights * self.scenario
        if self.value is not None:
            out["pnl"] = out["contribution"] * self.value
        out.index.name = "asset"
        return out

    @property
    def table(self) -> pd.DataFrame:
        """One row in the :class:`StressResult` table layout."""
        contrib = self.weights * self.scenario
        worst = str(contrib.idxmin())
        row: dict[str, Any] = {"kind": "reverse", "window": "", "portfolio_return": -self.loss}
        if self.value is not None:
            row["pnl"] = self.pnl
        row.update(worst_asset=worst, worst_contribution=float(contrib[worst]),
                   note="; ".join(self.notes))
        row.update(self.scenario.to_dict())
        return pd.DataFrame([row], index=pd.Index([f"reverse_{self.method}"], name="scenario"))

    def _extra_dict(self) -> dict[str, Any]:
        return {**self.headline(), "description": self.describe(), "scenario": self.scenario,
                "weights": self.weights, "betas": self.betas, "notes": list(self.notes)}

    def _figure(self, **kwargs: Any) -> go.Figure:
        """Bars of the per-asset scenario returns and the portfolio return (``stress_figure``)."""
        from quantlab.charts.risk import stress_figure

        t = pd.DataFrame({"portfolio_return": pd.concat(
            [self.scenario, pd.Series({"portfolio": -self.loss})])})
        t.index.name = "scenario"
        kwargs.setdefault("title", f"Reverse stress ({self.method}): loss {self.loss:.2%}")
        return stress_figure(t, **kwargs)


@dataclass(repr=False)
class StressReport(Result):
    """Scenarios, stressed VaR, reverse stress and drawdowns of one portfolio
    (:func:`quantlab.risk.report.stress_report`).

    Attributes
    ----------
    weights : Series
        Portfolio weights.
    value : float or None
        Portfolio value in quote currency.
    scenarios : StressResult
        Historical and hypothetical scenarios.
    stressed_var : StressedVaRResult
        Parametric VaR with stressed volatilities/correlations.
    reverse : list of ReverseStressResult
        Uniform fall, beta-scaled market fall (when the market asset is held), ellipsoid
        worst case.
    drawdown : DrawdownResult
        Drawdowns of the constant-weight (daily rebalanced) portfolio over the return history.
    loss_limit : float
        Loss limit of the reverse stress tests.
    notes : list of str
        Steps left out and why (e.g. no beta-scaled reverse stress without the market asset).
    start, end : Timestamp or None
        First and last date of the returns (stressed VaR, reverse stress, drawdowns).
    """

    weights: pd.Series
    value: float | None
    scenarios: StressResult
    stressed_var: StressedVaRResult
    reverse: list[ReverseStressResult]
    drawdown: DrawdownResult
    loss_limit: float
    notes: list[str] = field(default_factory=list)
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None

    def title(self) -> str:
        text = f"Stress report: portfolio {_portfolio_text(self.weights)}"
        if self.value is not None:
            text += f", value {self.value:,.0f}"
        if self.start is not None and self.end is not None:
            text += f"; history {self.start.date()} → {self.end.date()}"
        return text

    def sections(self) -> list[tuple[str, Result]]:
        """``(heading, result)`` in report order: scenarios, stressed VaR, reverse stress
        (one per method), drawdowns."""
        rho = self.stressed_var.rho
        svar = (f"stressed VaR (vol x{self.stressed_var.vol_multiplier:g}"
                + (f", correlation {rho:g}" if rho is not None else "") + ")")
        out: list[tuple[str, Result]] = [("scenarios", self.scenarios), (svar, self.stressed_var)]
        out += [(f"reverse stress (loss limit {self.loss_limit:.0%})", r) for r in self.reverse]
        out.append(("drawdowns of the constant-weight portfolio", self.drawdown))
        return out

    def stats(self) -> pd.Series:
        """Worst scenario return, stressed VaR/ES, each reverse-stress loss, max drawdown."""
        sc, sv, dd = self.scenarios.stats(), self.stressed_var.stats(), self.drawdown.stats()
        out: dict[str, Any] = {"worst_scenario_return": sc["worst_return"],
                               "stressed_var": sv["var"], "stressed_es": sv["es"],
                               "base_var": sv["base_var"]}
        for r in self.reverse:
            out[f"reverse_{r.method}_loss"] = r.loss
            if r.shock is not None:
                out[f"reverse_{r.method}_shock"] = r.shock
        out["max_drawdown"] = dd["max_drawdown"]
        out["ulcer_index"] = dd["ulcer_index"]
        return pd.Series(out, dtype=object, name="stress_report")

    @property
    def _percent(self) -> frozenset[str]:  # type: ignore[override]
        return frozenset(self.stats().index)

    def _extra_dict(self) -> dict[str, Any]:
        return {"weights": self.weights, "value": self.value,
                "scenarios": self.scenarios.to_dict(),
                "stressed_var": self.stressed_var.to_dict(),
                "reverse": [r.to_dict() for r in self.reverse],
                "drawdown": self.drawdown.to_dict(), "notes": list(self.notes)}

    def report_blocks(self) -> list[Any]:
        """Blocks for :func:`quantlab.reports.write_report`: per section a heading, the
        formatted table and the chart, then the notes."""
        blocks: list[Any] = []
        for heading, res in self.sections():
            blocks += [("heading", heading), f"<p>{_escape(res.title())}</p>",
                       res.summary(formatted=True), res.plot()]
        blocks += [f"<p>note: {_escape(n)}</p>" for n in self.notes]
        return blocks

    def _figure(self, **kwargs: Any) -> go.Figure:
        """The scenario chart with the reverse-stress losses as extra bars."""
        from quantlab.charts.risk import stress_figure

        rows = pd.concat([self.scenarios.table[["portfolio_return"]],
                          *[r.table[["portfolio_return"]] for r in self.reverse]])
        return stress_figure(rows, **kwargs)


def _escape(text: str) -> str:
    import html

    return html.escape(text)
