"""Thresholds of the promotion gates: documented defaults, overridable from a TOML file.

``quantlab promote ... --gates gates.toml`` reads a file of this shape (every key optional)::

    [walk_forward]
    train = "365D"          # bars (int) or a duration
    test = "180D"
    min_oos_sharpe = 0.0
    max_oos_drawdown = 0.6
    min_trades = 5
    [walk_forward.grid]     # re-optimized in each fold; default: the declared parameters only
    fast = [5, 10, 20]
    slow = [50, 100]

    [lookahead]
    changes = 50            # signal changes re-checked on truncated data
    random = 50             # random bars re-checked
    seed = 0

    [warmup]
    last_k = 5              # bars compared at each end point

    [risk]
    var_level = 0.99        # one-step rolling historical VaR of the strategy's returns
    var_window = 250
    max_zone = "yellow"     # traffic light: "green" or "yellow" (red always fails)
    max_drawdown = 0.7      # of the full-sample backtest

    [overfit]
    min_dsr = 0.0           # deflated Sharpe ratio; 0 disables the threshold (figure still kept)
    max_pbo = 1.0           # probability of backtest overfitting; 1 disables the threshold
    pbo_splits = 16
    pbo_max_configs = 100   # configurations backtested for PBO (evenly spaced through the grid)
    trials = 0              # configurations tried in research, if more than the grid (0: the grid)
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from quantlab._validate import check_choice, check_range
from quantlab.errors import ParameterError, UsageError

__all__ = ["GateConfig"]

_SECTIONS: dict[str, dict[str, str]] = {
    "walk_forward": {"train": "wf_train", "test": "wf_test", "min_oos_sharpe": "min_oos_sharpe",
                     "max_oos_drawdown": "max_oos_drawdown", "min_trades": "min_trades",
                     "grid": "wf_grid"},
    "lookahead": {"changes": "lookahead_changes", "random": "lookahead_random",
                  "seed": "lookahead_seed"},
    "warmup": {"last_k": "warmup_last_k"},
    "risk": {"var_level": "var_level", "var_window": "var_window", "max_zone": "max_zone",
             "max_drawdown": "max_drawdown"},
    "overfit": {"min_dsr": "min_dsr", "max_pbo": "max_pbo", "pbo_splits": "pbo_splits",
                "pbo_max_configs": "pbo_max_configs", "trials": "trials"},
}


@dataclass(frozen=True)
class GateConfig:
    """Thresholds and settings of the six promotion gates (see the module docstring)."""

    wf_train: int | str = "365D"
    wf_test: int | str = "180D"
    wf_grid: dict[str, list[Any]] | None = None
    min_oos_sharpe: float = 0.0
    max_oos_drawdown: float = 0.6
    min_trades: int = 5
    lookahead_changes: int = 50
    lookahead_random: int = 50
    lookahead_seed: int = 0
    warmup_last_k: int = 5
    var_level: float = 0.99
    var_window: int = 250
    max_zone: str = "yellow"
    max_drawdown: float = 0.7
    min_dsr: float = 0.0
    max_pbo: float = 1.0
    pbo_splits: int = 16
    pbo_max_configs: int = 100
    trials: int = 0
    source: str = field(default="defaults", compare=False)

    def __post_init__(self) -> None:
        for name in ("min_trades", "lookahead_changes", "lookahead_random", "warmup_last_k",
                     "var_window", "pbo_splits", "trials"):
            object.__setattr__(self, name, check_range(getattr(self, name), name, 0, integer=True))
        check_range(self.max_oos_drawdown, "max_oos_drawdown", 0.0, 1.0)
        check_range(self.max_drawdown, "max_drawdown", 0.0, 1.0)
        check_range(self.var_level, "var_level", 0.5, 1.0, open_high=True)
        check_range(self.min_dsr, "min_dsr", 0.0, 1.0)
        check_range(self.max_pbo, "max_pbo", 0.0, 1.0)
        check_range(self.min_oos_sharpe, "min_oos_sharpe")
        check_choice(self.max_zone, "max_zone", ("green", "yellow"))
        object.__setattr__(self, "pbo_max_configs",
                           check_range(self.pbo_max_configs, "pbo_max_configs", 2, integer=True))
        if self.pbo_splits < 2 or self.pbo_splits % 2:
            raise ParameterError(f"pbo_splits must be an even number >= 2, got {self.pbo_splits}")
        if self.wf_grid is not None:
            if not isinstance(self.wf_grid, dict) or not all(
                    isinstance(v, list) and v for v in self.wf_grid.values()):
                raise ParameterError("walk_forward.grid must map parameter names to non-empty lists")

    @classmethod
    def from_toml(cls, path: str | Path) -> GateConfig:
        """Read thresholds from a TOML file (unknown sections or keys are errors)."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read gates file {p}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ParameterError(f"{p}: not valid TOML: {exc}") from None
        kwargs: dict[str, Any] = {}
        for section, values in data.items():
            keys = _SECTIONS.get(section)
            if keys is None or not isinstance(values, dict):
                raise ParameterError(f"{p}: unknown section [{section}] "
                                     f"(sections: {', '.join(_SECTIONS)})")
            for key, value in values.items():
                if key not in keys:
                    raise ParameterError(f"{p}: unknown key {key!r} in [{section}] "
                                         f"(keys: {', '.join(keys)})")
                kwargs[keys[key]] = value
        try:
            return cls(**kwargs, source=str(p))
        except ParameterError as exc:
            raise ParameterError(f"{p}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (recorded in the artifact's manifest)."""
        out = asdict(self)
        out.pop("source")
        return out

    @classmethod
    def names(cls) -> list[str]:
        """Field names."""
        return [f.name for f in fields(cls) if f.name != "source"]
