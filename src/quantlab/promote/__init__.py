"""Promoted strategies: the frozen, hash-verified artifacts the live runner runs.

See :mod:`quantlab.promote.artifact` for the store (``strategies/NAME/VERSION/``).
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

__all__ = [
    "Artifact",
    "PromotedStrategy",
    "VerifyResult",
    "list_promoted",
    "load_promoted",
    "verify",
    "verify_artifact",
    "write_artifact",
]
