"""One protocol for every result object a user handles in a notebook.

Every public result class derives from :class:`Result` and so answers the same five calls:

* ``stats()`` — the headline figures as a :class:`pandas.Series` of raw numbers (fractions, not
  percent strings; counts as ints; dates as Timestamps);
* ``summary(formatted=False)`` — the main table as a :class:`pandas.DataFrame`; with
  ``formatted=True`` the same table as display strings (percentages, thousands separators, dates);
* ``to_dict()`` — a JSON-safe dict (what ``--json`` prints);
* ``plot(**kw)`` — a :class:`plotly.graph_objects.Figure` (plotting is imported lazily);
* ``_repr_html_`` / ``__repr__`` — derived from ``summary(formatted=True)``, never a dump of
  whole frames.

A subclass implements :meth:`Result.stats`, :meth:`Result._summary_table` and
:meth:`Result._figure`, names its percent-valued figures in ``_percent`` and gives a one-line
:meth:`Result.title`. Modelled on arch's result classes (repr from ``summary()``, lazy plotting)
and skfolio's ``summary(formatted=...)``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from quantlab._util import to_jsonable

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = ["Result", "format_table", "format_value"]

_MAX_ROWS = 40


def format_value(value: Any, *, percent: bool = False, money: bool = False) -> str:
    """Display form of one figure.

    Parameters
    ----------
    value : Any
        A number, Timestamp, Timedelta, bool, string or None.
    percent : bool
        Show a fraction as a percentage (``0.1234`` → ``12.34%``).
    money : bool
        Show with thousands separators and two decimals.

    Returns
    -------
    str
        ``"—"`` for NaN/None, dates without a midnight time, integers with thousands separators,
        other floats with 4 significant digits.
    """
    if value is None or value is pd.NaT:
        return "—"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, pd.Timedelta):
        days = value / pd.Timedelta(days=1)
        return f"{days:,.0f} days" if days >= 1 else str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return "—"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if percent:
            return f"{x:.2%}"
        if money:
            return f"{x:,.2f}"
        if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
            return f"{x:.4g}"
        return f"{x:,.4f}".rstrip("0").rstrip(".") if abs(x) < 1000 else f"{x:,.2f}"
    return str(value)


def format_table(
    table: pd.DataFrame | pd.Series,
    percent: Iterable[str] = (),
    money: Iterable[str] = (),
) -> pd.DataFrame:
    """Display strings of a table: columns *or* row labels named in ``percent``/``money``.

    A figure is shown as a percentage when its column name or its row label is in ``percent``
    (so both wide tables — one column per figure — and key/value tables — one row per figure —
    format correctly).
    """
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    pct, cash = set(percent), set(money)
    out = pd.DataFrame(index=frame.index, columns=frame.columns, dtype=object)
    for j, col in enumerate(frame.columns):
        col_pct, col_money = str(col) in pct or col in pct, str(col) in cash or col in cash
        for i, label in enumerate(frame.index):
            is_pct = col_pct or label in pct or str(label) in pct
            is_money = col_money or label in cash or str(label) in cash
            out.iat[i, j] = format_value(frame.iat[i, j], percent=is_pct, money=is_money)
    return out


class Result:
    """Base class of every public result object (see the module docstring for the protocol)."""

    #: Names (summary columns, or stats/summary row labels) holding fractions shown as percents.
    _percent: ClassVar[frozenset[str]] = frozenset()
    #: Names shown as money (thousands separators, 2 decimals).
    _money: ClassVar[frozenset[str]] = frozenset()

    # ------------------------------------------------------------------ to implement
    def stats(self) -> pd.Series:
        """Headline figures as raw numbers (fractions, not percent strings)."""
        raise NotImplementedError

    def _summary_table(self) -> pd.DataFrame:
        """The main table, raw (default: the stats as a one-column table)."""
        return self.stats().to_frame("value")

    def _figure(self, **kwargs: Any) -> go.Figure:
        raise NotImplementedError(f"{type(self).__name__} has no chart")

    def title(self) -> str:
        """One line naming what this result is (used by the reprs)."""
        return type(self).__name__

    # ------------------------------------------------------------------ the protocol
    def summary(self, formatted: bool = False) -> pd.DataFrame:
        """The main table.

        Parameters
        ----------
        formatted : bool
            Return display strings (percentages, separators, dates) instead of raw numbers.

        Returns
        -------
        pandas.DataFrame
        """
        table = self._summary_table()
        if isinstance(table, pd.Series):
            table = table.to_frame()
        return format_table(table, self._percent, self._money) if formatted else table

    def plot(self, **kwargs: Any) -> go.Figure:
        """The result's chart as a plotly figure (keyword arguments depend on the result)."""
        return self._figure(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: ``{"type", "title", "stats", "summary", ...}``."""
        out: dict[str, Any] = {
            "type": type(self).__name__,
            "title": self.title(),
            "stats": self.stats(),
            "summary": self.summary(),
        }
        out.update(self._extra_dict())
        return to_jsonable(out)

    def _extra_dict(self) -> dict[str, Any]:
        """More JSON content of a subclass (merged into :meth:`to_dict`)."""
        return {}

    def __repr__(self) -> str:
        try:
            table = self.summary(formatted=True)
        except Exception as exc:  # a repr must never raise
            return f"<{type(self).__name__}: summary unavailable ({type(exc).__name__}: {exc})>"
        return f"{self.title()}\n{table.to_string(max_rows=_MAX_ROWS)}"

    def _repr_html_(self) -> str:
        table = self.summary(formatted=True)
        return (f"<p><b>{html.escape(self.title())}</b></p>"
                + table.to_html(max_rows=_MAX_ROWS, escape=True))
