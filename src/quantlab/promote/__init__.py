"""Promote gates: checks a strategy must pass before it goes live."""

from __future__ import annotations

from quantlab.promote.lookahead import LookaheadResult, lookahead_check
from quantlab.promote.warmup import WarmupResult, warmup_check

__all__ = ["LookaheadResult", "WarmupResult", "lookahead_check", "warmup_check"]
