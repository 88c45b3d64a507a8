"""Promotion: the gates a research strategy passes, and the frozen artifacts the live runner runs.

- :mod:`.declaration` — what a notebook declares (strategy, parameters, data);
- :mod:`.config` — gate thresholds (defaults, TOML);
- :mod:`.gates` — the six gates (walk-forward, lookahead, warm-up, risk, reproducibility,
  overfitting) and their :class:`~.gates.GateReport`;
- :mod:`.lookahead`, :mod:`.warmup` — causality checks;
- :mod:`.dsr` — deflated Sharpe ratio (Bailey and López de Prado 2014);
- :mod:`.pbo` — probability of backtest overfitting by CSCV (Bailey, Borwein, López de Prado
  and Zhu 2017);
- :mod:`.artifact` — the store ``strategies/NAME/VERSION/`` (a package: layout, hashing,
  write, verify, load, listing);
- :mod:`.promote` — :func:`promote`, the whole flow behind ``quantlab promote``.
"""

from quantlab.promote.artifact import (
    Artifact,
    PromotedStrategy,
    VerifyResult,
    list_promoted,
    load_promoted,
    verify,
    verify_artifact,
    write_artifact,
)
from quantlab.promote.dsr import (
    DeflatedSharpeResult,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
)
from quantlab.promote.lookahead import LookaheadResult, lookahead_check
from quantlab.promote.pbo import PBOResult, pbo
from quantlab.promote.warmup import WarmupResult, warmup_check

__all__ = [
    "Artifact",
    "DeflatedSharpeResult",
    "LookaheadResult",
    "PBOResult",
    "PromotedStrategy",
    "VerifyResult",
    "WarmupResult",
    "deflated_sharpe",
    "expected_max_sharpe",
    "list_promoted",
    "load_promoted",
    "lookahead_check",
    "pbo",
    "probabilistic_sharpe",
    "verify",
    "verify_artifact",
    "warmup_check",
    "write_artifact",
]
