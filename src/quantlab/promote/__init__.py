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

from __future__ import annotations

from typing import TYPE_CHECKING

from quantlab._lazy import lazy_exports

# Names load on first use: the live runner imports ``quantlab.promote.artifact`` without the
# gates' scipy-based statistics.
_EXPORTS: dict[str, str] = {
    "Artifact": "quantlab.promote.artifact",
    "DeflatedSharpeResult": "quantlab.promote.dsr",
    "LookaheadResult": "quantlab.promote.lookahead",
    "PBOResult": "quantlab.promote.pbo",
    "PromotedStrategy": "quantlab.promote.artifact",
    "VerifyResult": "quantlab.promote.artifact",
    "WarmupResult": "quantlab.promote.warmup",
    "deflated_sharpe": "quantlab.promote.dsr",
    "expected_max_sharpe": "quantlab.promote.dsr",
    "list_promoted": "quantlab.promote.artifact",
    "load_promoted": "quantlab.promote.artifact",
    "lookahead_check": "quantlab.promote.lookahead",
    "pbo": "quantlab.promote.pbo",
    "probabilistic_sharpe": "quantlab.promote.dsr",
    "verify": "quantlab.promote.artifact",
    "verify_artifact": "quantlab.promote.artifact",
    "warmup_check": "quantlab.promote.warmup",
    "write_artifact": "quantlab.promote.artifact",
}

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

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
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
