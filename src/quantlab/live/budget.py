"""One risk budget shared by several runners: gross exposure, leverage, VaR and drawdown of the
combined book, kept in one SQLite file.

The runners of one supervisor (``quantlab serve``) each trade their own strategy and account,
but their orders also pass a portfolio-level limit (``[budget]`` of the live configuration,
:class:`~quantlab.live.config.BudgetConfig`). Each runner opens the same file as a
:class:`SharedBudget` under its own id and

* **publishes** its book after every bar (:meth:`SharedBudget.publish`): positions
  (``{symbol: signed units}``, including its orders not yet filled that add exposure — see
  :func:`reserved_positions`), last prices, equity, and the recent closes of its symbols (the
  last :data:`HISTORY` closes per symbol are kept; the latest writer wins). The peak of the
  combined equity is kept in the file as well;
* **checks** every order intent that passed its own risk guard (:meth:`SharedBudget.check`).

The check runs inside one ``BEGIN IMMEDIATE`` transaction: it reads every runner's book,
replaces the caller's book by its positions *after* the order (a reservation: an order counts
before it fills, so two runners deciding at the same moment cannot both pass when only one
fits), evaluates the limits on the combined book and commits the reservation only when they
hold. **Reduce-only intents always pass** (de-risking is never blocked) and their reservation
is written too.

Limits (``None`` = off), checked in this order for entries and increases:

==============================  ===================================================================
rule                            refused when
==============================  ===================================================================
``budget_max_drawdown``         ``1 - E / peak >= max_drawdown``, ``E`` the combined equity (the
                                caller's equity now plus every other runner's published equity)
``budget_max_gross_exposure``   ``sum over runners and symbols of |units| x price > limit``
                                (not netted across runners: conservative)
``budget_max_gross_leverage``   ``gross exposure / E > limit``
``budget_var_limit``            one-bar EWMA VaR of the combined positions (netted per symbol)
                                as a fraction of ``E`` > ``var_limit``
==============================  ===================================================================

The VaR is :meth:`quantlab.live.risk.RiskGuard.portfolio_var` (RiskMetrics EWMA covariance of
the simple returns of the stored closes, zero-mean normal) with the runner's ``[risk]``
``var_confidence`` and ``ewma_lambda``; when it cannot be estimated (a symbol held without
enough closes) the entry is refused: risk that cannot be measured is not taken. Prices: the
caller's own, else the price of the most recently published book that has one.

A runner's book published more than ``stale_s`` seconds ago still counts (conservative), and
is flagged ``stale`` in :meth:`SharedBudget.state` and in refusal messages. Every refusal is
one line naming the order, the rule, the value and the limit, e.g.
``order ql… BUY 0.5 BTC/USDT refused by the shared budget: gross exposure 31,000.00 > max
25,000.00 (runners: a 18,000.00, b 13,000.00)``. All runners sharing a file are expected to
trade the same timeframe (the closes of all symbols are aligned by bar time for the VaR).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantlab.errors import ParameterError, StateError
from quantlab.live.config import BudgetConfig, RiskLimits
from quantlab.live.risk import RiskGuard, RiskVerdict
from quantlab.live.types import OrderIntent

__all__ = ["HISTORY", "RULES", "BudgetState", "RunnerBook", "SharedBudget",
           "reserved_positions"]

#: Closes kept per symbol for the VaR.
HISTORY = 100
#: Rule names a refusal can carry.
RULES = ("budget_max_drawdown", "budget_max_gross_exposure", "budget_max_gross_leverage",
         "budget_var_limit")
SCHEMA_VERSION = 1
APPLICATION = "quantlab-shared-budget"
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS books (
    runner TEXT PRIMARY KEY,
    positions TEXT NOT NULL,
    prices TEXT NOT NULL,
    equity REAL NOT NULL,
    bar_ms INTEGER,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS closes (
    symbol TEXT NOT NULL,
    bar_ms INTEGER NOT NULL,
    close REAL NOT NULL,
    PRIMARY KEY (symbol, bar_ms)
);
"""

_OK = RiskVerdict(ok=True)


# --------------------------------------------------------------------------------- helpers
def _money(x: float) -> str:
    return f"{x:,.2f}"


def _label(intent: OrderIntent) -> str:
    """``order <client id> BUY 0.5 BTC/USDT``."""
    return (f"order {intent.client_id} {str(intent.side).upper()} {float(intent.amount):.10g} "
            f"{intent.symbol}")


def _finite(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    return v


def _positions(positions: Mapping[str, float]) -> dict[str, float]:
    return {str(s): _finite(f"position of {s}", u) for s, u in positions.items()}


def _prices(prices: Mapping[str, float]) -> dict[str, float]:
    """The positive finite prices (others are dropped: a missing close is not a price)."""
    out: dict[str, float] = {}
    for s, p in prices.items():
        try:
            v = float(p)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v) and v > 0:
            out[str(s)] = v
    return out


def _ms(index: Any) -> np.ndarray:
    if isinstance(index, pd.DatetimeIndex):
        idx = index.tz_localize("UTC") if index.tz is None else index
        return idx.as_unit("ns").asi8 // 1_000_000
    return np.asarray(index, dtype="int64")


def reserved_positions(held: Mapping[str, float],
                       pending: Mapping[str, float]) -> dict[str, float]:
    """What a runner publishes: per symbol, the larger exposure of now and after its pending
    orders fill (an entry counts before it fills, an exit only once it has).

    Parameters
    ----------
    held : Mapping[str, float]
        Signed units held now.
    pending : Mapping[str, float]
        Signed units of the orders not yet filled, per symbol.

    Returns
    -------
    dict of str to float
    """
    out = {str(s): float(u) for s, u in held.items()}
    for s, p in pending.items():
        now = out.get(str(s), 0.0)
        after = now + float(p)
        if abs(after) > abs(now):
            out[str(s)] = after
    return out


# --------------------------------------------------------------------------------- views
@dataclass(frozen=True)
class RunnerBook:
    """One runner's published book.

    Attributes
    ----------
    runner : str
        The runner's id.
    positions, prices : dict of str to float
        Signed units and last prices per symbol.
    equity : float
        The runner's equity (quote currency).
    bar_ms : int or None
        Open time of the bar it was published after.
    updated_ms : int
        Wall time of the publication (epoch ms).
    """

    runner: str
    positions: dict[str, float]
    prices: dict[str, float]
    equity: float
    bar_ms: int | None
    updated_ms: int

    def age_s(self, now_ms: int) -> float:
        """Seconds since the book was published."""
        return max(int(now_ms) - self.updated_ms, 0) / 1000.0


@dataclass(frozen=True)
class BudgetState:
    """The combined book of every runner sharing a budget file.

    Attributes
    ----------
    books : tuple of RunnerBook
        Every runner's book, by runner id.
    prices : dict of str to float
        The price used per symbol.
    peak : float
        Peak of the combined equity (NaN before the first publication).
    now_ms : int
        When the state was read.
    stale_s : float
        Age beyond which a book is flagged stale.
    """

    books: tuple[RunnerBook, ...]
    prices: dict[str, float]
    peak: float
    now_ms: int
    stale_s: float

    def exposure(self, runner: str) -> float:
        """Gross exposure of one runner: ``sum |units| x price`` (quote currency).

        Raises
        ------
        ParameterError
            A symbol held without any known price.
        """
        book = next((b for b in self.books if b.runner == runner), None)
        if book is None:
            return 0.0
        total = 0.0
        for s, units in book.positions.items():
            if units == 0:
                continue
            if s not in self.prices:
                raise ParameterError(f"shared budget: no price for {s} held by {runner}")
            total += abs(units) * self.prices[s]
        return total

    @property
    def gross_exposure(self) -> float:
        """Sum of every runner's gross exposure (not netted across runners)."""
        return float(sum(self.exposure(b.runner) for b in self.books))

    @property
    def equity(self) -> float:
        """Combined equity of the runners."""
        return float(sum(b.equity for b in self.books))

    @property
    def leverage(self) -> float:
        """Gross exposure / combined equity (inf when the equity is not positive)."""
        return self.gross_exposure / self.equity if self.equity > 0 else math.inf

    @property
    def drawdown(self) -> float:
        """Fraction of the combined equity below its peak (0 at a new high)."""
        peak = max(self.peak, self.equity) if math.isfinite(self.peak) else self.equity
        if peak <= 0:
            return 1.0 if self.books else 0.0
        return max(1.0 - self.equity / peak, 0.0)

    @property
    def net_positions(self) -> dict[str, float]:
        """Combined positions, netted per symbol across runners."""
        out: dict[str, float] = {}
        for b in self.books:
            for s, units in b.positions.items():
                out[s] = out.get(s, 0.0) + units
        return out

    @property
    def stale(self) -> tuple[str, ...]:
        """Ids of the runners whose book is older than ``stale_s``."""
        return tuple(b.runner for b in self.books if b.age_s(self.now_ms) > self.stale_s)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return {"equity": self.equity, "peak": self.peak if math.isfinite(self.peak) else None,
                "drawdown": self.drawdown, "gross_exposure": self.gross_exposure,
                "leverage": self.leverage if math.isfinite(self.leverage) else None,
                "runners": [{"runner": b.runner, "positions": b.positions,
                             "equity": b.equity, "exposure": self.exposure(b.runner),
                             "bar_ms": b.bar_ms, "age_s": b.age_s(self.now_ms),
                             "stale": b.runner in self.stale} for b in self.books]}


# --------------------------------------------------------------------------------- budget
class SharedBudget:
    """One runner's handle on a shared risk budget file (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The SQLite file shared by the runners (created on first use).
    runner_id : str
        This runner's id (unique among the runners sharing the file).
    limits : BudgetConfig
        The limits (``None`` = off) and ``stale_s``.
    var_confidence, ewma_lambda : float
        VaR confidence level and RiskMetrics decay (the runner's ``[risk]`` values).
    clock : callable, optional
        Wall time in epoch ms (default: :func:`time.time`); for staleness.

    Raises
    ------
    ParameterError
        Empty runner id or limits not a BudgetConfig.
    StateError
        The file is not a shared budget file (or not SQLite).
    """

    def __init__(self, path: str | Path, runner_id: str, limits: BudgetConfig, *,
                 var_confidence: float = 0.99, ewma_lambda: float = 0.94,
                 clock: Callable[[], int] | None = None) -> None:
        if not isinstance(limits, BudgetConfig):
            raise ParameterError(f"limits must be a BudgetConfig, not {type(limits).__name__}")
        if not isinstance(runner_id, str) or not runner_id.strip():
            raise ParameterError(f"shared budget runner id must be a non-empty string, "
                                 f"got {runner_id!r}")
        self.path = Path(path)
        self.runner_id = runner_id
        self.limits = limits
        self._var = RiskGuard(RiskLimits(var_confidence=var_confidence,
                                         ewma_lambda=ewma_lambda))
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None,
                                         timeout=BUSY_TIMEOUT_MS / 1000,
                                         check_same_thread=False)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open shared budget file {self.path}: {exc}") from None
        try:
            self._init()
        except BaseException:
            self._conn.close()
            raise

    def _init(self) -> None:
        conn = self._conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if self._tables():  # identify the file before changing anything in it
                self._check_identity()
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous = FULL")
            with self._tx():
                if not self._tables():
                    for stmt in _SCHEMA.split(";"):
                        if stmt.strip():
                            conn.execute(stmt)
                    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                     [("application", json.dumps(APPLICATION)),
                                      ("schema_version", json.dumps(SCHEMA_VERSION))])
            self._check_identity()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path} is not a shared budget file ({exc})") from None
        if str(mode).lower() != "wal":
            raise StateError(f"{self.path}: cannot switch the budget file to WAL mode "
                             f"(got {mode})")

    def _tables(self) -> set[str]:
        return {r[0] for r in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _check_identity(self) -> None:
        """StateError unless the file is a shared budget file of a readable schema."""
        if "meta" not in self._tables():
            raise StateError(f"{self.path} is not a shared budget file (no meta table)")
        try:
            meta = {k: json.loads(v) for k, v in self._conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('application', 'schema_version')")}
        except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
            raise StateError(f"{self.path} is not a shared budget file ({exc})") from None
        if meta.get("application") != APPLICATION:
            raise StateError(f"{self.path} is not a shared budget file (no application marker)")
        version = meta.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int) or version > SCHEMA_VERSION:
            raise StateError(f"{self.path} has budget schema version {version!r}; this quantlab "
                             f"reads up to {SCHEMA_VERSION} (upgrade quantlab)")

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def _tx(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: the write lock of the file for the whole block
        (``begin="BEGIN"``: a consistent read)."""
        with self._lock:
            try:
                self._conn.execute(begin)
            except sqlite3.OperationalError as exc:
                raise StateError(f"{self.path}: shared budget is locked: {exc}") from None
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SharedBudget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SharedBudget({str(self.path)!r}, {self.runner_id!r})"

    def _books(self) -> dict[str, RunnerBook]:
        rows = self._conn.execute("SELECT runner, positions, prices, equity, bar_ms, updated_ms "
                                  "FROM books ORDER BY runner").fetchall()
        return {r[0]: RunnerBook(r[0], json.loads(r[1]), json.loads(r[2]), float(r[3]),
                                 None if r[4] is None else int(r[4]), int(r[5])) for r in rows}

    def _peak(self) -> float:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'peak'").fetchone()
        return math.nan if row is None else float(json.loads(row[0]))

    def _write_book(self, book: RunnerBook) -> None:
        self._conn.execute(
            "INSERT INTO books (runner, positions, prices, equity, bar_ms, updated_ms) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(runner) DO UPDATE SET "
            "positions = excluded.positions, prices = excluded.prices, "
            "equity = excluded.equity, bar_ms = excluded.bar_ms, "
            "updated_ms = excluded.updated_ms",
            (book.runner, json.dumps(book.positions, sort_keys=True),
             json.dumps(book.prices, sort_keys=True), book.equity, book.bar_ms,
             book.updated_ms))

    def _state(self, books: Mapping[str, RunnerBook], own_prices: Mapping[str, float],
               now: int) -> BudgetState:
        prices: dict[str, float] = {}
        for b in sorted(books.values(), key=lambda b: (b.bar_ms or 0, b.updated_ms)):
            prices.update(b.prices)
        prices.update(own_prices)
        return BudgetState(tuple(books[k] for k in sorted(books)), prices, self._peak(), now,
                           float(self.limits.stale_s))

    # ------------------------------------------------------------------ publishing
    def record_closes(self, closes: pd.DataFrame) -> None:
        """Store recent closes (index: bar open times, one column per symbol).

        The latest writer wins for a (symbol, bar) already stored; only the last
        :data:`HISTORY` closes of each symbol are kept. Missing or non-positive values are
        skipped.
        """
        if closes is None or closes.empty:
            return
        times = _ms(closes.index)
        rows = [(str(s), int(t), float(c)) for s in closes.columns
                for t, c in zip(times, closes[s].to_numpy(dtype="float64"), strict=True)
                if math.isfinite(c) and c > 0]
        with self._tx():
            self._write_closes(rows, [str(s) for s in closes.columns])

    def _write_closes(self, rows: list[tuple[str, int, float]], symbols: list[str]) -> None:
        self._conn.executemany("INSERT INTO closes (symbol, bar_ms, close) VALUES (?, ?, ?) "
                               "ON CONFLICT(symbol, bar_ms) DO UPDATE SET close = excluded.close",
                               rows)
        for s in symbols:
            self._conn.execute("DELETE FROM closes WHERE symbol = ? AND bar_ms NOT IN "
                               "(SELECT bar_ms FROM closes WHERE symbol = ? "
                               "ORDER BY bar_ms DESC LIMIT ?)", (s, s, HISTORY))

    def publish(self, positions: Mapping[str, float], prices: Mapping[str, float],
                equity: float, *, bar_ms: int | None = None,
                closes: pd.DataFrame | None = None) -> BudgetState:
        """Replace this runner's book (after a bar) and update the combined equity's peak.

        Parameters
        ----------
        positions : Mapping[str, float]
            Signed units per symbol (see :func:`reserved_positions` for pending orders).
        prices : Mapping[str, float]
            Last close per symbol (every symbol held needs a positive price).
        equity : float
            The runner's equity.
        bar_ms : int, optional
            Open time of the bar just processed.
        closes : DataFrame, optional
            Recent closes of the runner's symbols (:meth:`record_closes`).

        Returns
        -------
        BudgetState
            The combined book after the publication.

        Raises
        ------
        ParameterError
            A position or the equity not finite, or a symbol held without a price.
        """
        pos = _positions(positions)
        px = _prices(prices)
        eq = _finite("equity", equity)
        for s, units in pos.items():
            if units != 0 and s not in px:
                raise ParameterError(f"shared budget: {self.runner_id} holds {s} "
                                     f"without a price")
        now = int(self._clock())
        if closes is not None and not closes.empty:
            self.record_closes(closes)
        with self._tx():
            books = self._books()
            old = books.get(self.runner_id)
            book = RunnerBook(self.runner_id, pos, {**(old.prices if old else {}), **px}, eq,
                              None if bar_ms is None else int(bar_ms), now)
            self._write_book(book)
            books[self.runner_id] = book
            state = self._state(books, px, now)
            peak = state.equity if not math.isfinite(state.peak) else max(state.peak,
                                                                          state.equity)
            self._conn.execute("INSERT INTO meta (key, value) VALUES ('peak', ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                               (json.dumps(peak),))
        return BudgetState(state.books, state.prices, peak, now, state.stale_s)

    def state(self) -> BudgetState:
        """The combined book as stored now (every runner's last publication or reservation)."""
        with self._tx("BEGIN"):
            return self._state(self._books(), {}, int(self._clock()))

    def var(self) -> float:
        """One-bar EWMA VaR of the combined (netted) positions as stored now, as a fraction of
        the combined equity.

        Raises
        ------
        ParameterError
            It cannot be estimated (a symbol held without enough closes, no equity).
        """
        with self._tx("BEGIN"):
            state = self._state(self._books(), {}, int(self._clock()))
            return self._combined_var(state)

    def _combined_var(self, state: BudgetState) -> float:
        net = {s: u for s, u in state.net_positions.items() if u != 0}
        return self._var.portfolio_var(net, state.prices, self._returns(list(net)),
                                       state.equity)

    # ------------------------------------------------------------------ the check
    def check(self, intent: OrderIntent, positions_after: Mapping[str, float],
              prices: Mapping[str, float], *, equity: float | None = None) -> RiskVerdict:
        """Reserve ``positions_after`` for this runner if the combined book stays in budget.

        Parameters
        ----------
        intent : OrderIntent
            The order (already passed by the runner's own risk guard).
        positions_after : Mapping[str, float]
            This runner's whole book once this order (and the earlier orders of the bar
            that passed) fill.
        prices : Mapping[str, float]
            This runner's last close per symbol.
        equity : float, optional
            This runner's equity now (default: its last published equity).

        Returns
        -------
        RiskVerdict
            ``ok`` (the reservation is committed), or the rule broken (rule ``budget_*``,
            nothing written).

        Raises
        ------
        ParameterError
            A position not finite, or no equity given nor published.
        """
        after = _positions(positions_after)
        px = _prices(prices)
        with self._tx():
            now = int(self._clock())
            books = self._books()
            old = books.get(self.runner_id)
            if equity is not None:
                eq = _finite("equity", equity)
            elif old is not None:
                eq = old.equity
            else:
                raise ParameterError(f"shared budget: no equity published for "
                                     f"{self.runner_id}; pass equity=")
            mine = RunnerBook(self.runner_id, after, {**(old.prices if old else {}), **px}, eq,
                              old.bar_ms if old else None, now)
            books[self.runner_id] = mine
            verdict = _OK if intent.reduce_only else self._evaluate(
                intent, self._state(books, px, now))
            if verdict.ok:
                self._write_book(mine)
            return verdict

    def _evaluate(self, intent: OrderIntent, state: BudgetState) -> RiskVerdict:
        for rule in (self._drawdown, self._gross, self._leverage, self._var_rule):
            verdict = rule(intent, state)
            if verdict is not None:
                return verdict
        return _OK

    def _refuse(self, intent: OrderIntent, rule: str, text: str, value: float, limit: float,
                state: BudgetState, note_stale: bool = True) -> RiskVerdict:
        stale = [b for b in state.books if b.runner in state.stale
                 and b.runner != self.runner_id]
        if note_stale and stale:
            text += " (stale: " + ", ".join(f"{b.runner} {b.age_s(state.now_ms):,.0f} s"
                                            for b in stale) + ")"
        return RiskVerdict(ok=False, rule=rule,
                           message=f"{_label(intent)} refused by the shared budget: {text}",
                           value=float(value), limit=float(limit))

    def _drawdown(self, intent: OrderIntent, state: BudgetState) -> RiskVerdict | None:
        limit = self.limits.max_drawdown
        if limit is None:
            return None
        dd = state.drawdown
        if dd >= limit:
            peak = max(state.peak, state.equity) if math.isfinite(state.peak) else state.equity
            return self._refuse(intent, "budget_max_drawdown",
                                f"combined drawdown {dd:.2%} >= max {limit:.2%} "
                                f"(equity {_money(state.equity)}, peak {_money(peak)})",
                                dd, limit, state)
        return None

    def _gross(self, intent: OrderIntent, state: BudgetState) -> RiskVerdict | None:
        limit = self.limits.max_gross_exposure
        if limit is None:
            return None
        gross = state.gross_exposure
        if gross > limit:
            parts = []
            for b in state.books:
                part = f"{b.runner} {_money(state.exposure(b.runner))}"
                if b.runner in state.stale and b.runner != self.runner_id:
                    part += f" stale {b.age_s(state.now_ms):,.0f} s"
                parts.append(part)
            return self._refuse(intent, "budget_max_gross_exposure",
                                f"gross exposure {_money(gross)} > max {_money(limit)} "
                                f"(runners: {', '.join(parts)})", gross, limit, state,
                                note_stale=False)
        return None

    def _leverage(self, intent: OrderIntent, state: BudgetState) -> RiskVerdict | None:
        limit = self.limits.max_gross_leverage
        if limit is None:
            return None
        lev = state.leverage
        if lev > limit:
            return self._refuse(intent, "budget_max_gross_leverage",
                                f"gross leverage {lev:.2f} > max {limit:.2f} (gross "
                                f"{_money(state.gross_exposure)} / equity "
                                f"{_money(state.equity)})", lev, limit, state)
        return None

    def _var_rule(self, intent: OrderIntent, state: BudgetState) -> RiskVerdict | None:
        limit = self.limits.var_limit
        if limit is None:
            return None
        try:
            var = self._combined_var(state)
        except ParameterError as exc:
            return self._refuse(intent, "budget_var_limit", f"combined VaR: {exc}",
                                math.nan, limit, state)
        if var > limit:
            return self._refuse(intent, "budget_var_limit",
                                f"combined VaR {var:.2%} > max {limit:.2%} of equity "
                                f"{_money(state.equity)}", var, limit, state)
        return None

    def _returns(self, symbols: list[str]) -> pd.DataFrame | None:
        """Simple returns of the stored closes of ``symbols`` (columns), aligned by bar."""
        if not symbols:
            return None
        marks = ", ".join("?" * len(symbols))
        rows = self._conn.execute(f"SELECT symbol, bar_ms, close FROM closes "
                                  f"WHERE symbol IN ({marks}) ORDER BY bar_ms",
                                  tuple(symbols)).fetchall()
        if not rows:
            return None
        frame = pd.DataFrame(rows, columns=["symbol", "bar_ms", "close"]).pivot(
            index="bar_ms", columns="symbol", values="close").sort_index()
        return frame.pct_change(fill_method=None).iloc[1:]
