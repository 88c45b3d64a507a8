"""``quantlab strategies``: list the registered strategies and their parameters.

``quantlab strategies --promoted [NAME]`` lists the promoted (frozen) versions under ``--root``
instead (see :mod:`quantlab.promote.artifact`).
"""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from quantlab.cli._output import print_json, print_table

__all__ = ["handler", "register"]

_OVERLAY_NOTE = (
    "Append +vol_target to any name (e.g. sma_cross+vol_target) for volatility-targeted sizing; "
    "strategies can also be given as path/to/file.py:ClassName or package.module:ClassName."
)


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``strategies`` command to a subparsers object.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The new sub-parser (its ``func`` default is :func:`handler`).
    """
    p = sub.add_parser(
        "strategies",
        help="list available strategies and their parameters",
        description="List the registered strategies with their parameters (type, default, "
        "range), warm-up and description. " + _OVERLAY_NOTE,
    )
    p.add_argument(
        "name",
        nargs="?",
        help="show the parameters of one strategy (name, file.py:Class or module:Class)",
    )
    p.add_argument(
        "--promoted",
        nargs="?",
        const=True,
        default=None,
        metavar="NAME",
        help="list promoted strategy versions instead (all, or only NAME's)",
    )
    p.add_argument(
        "--root",
        default="strategies",
        metavar="DIR",
        help="folder of promoted strategies (with --promoted; default: strategies)",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=handler)
    return p


def _overlay_info() -> dict[str, Any]:
    from quantlab.strategies import SmaCross, strategy_info, with_vol_target

    extra = [
        p
        for p in strategy_info(with_vol_target(SmaCross))["parameters"]
        if p["name"] not in SmaCross.params
    ]
    return {
        "suffix": "+vol_target",
        "description": "size = clip(target_vol / realized_vol, 0, max_leverage); "
        "weights are scaled per asset and gross exposure capped at max_leverage",
        "parameters": extra,
    }


def handler(args: argparse.Namespace) -> int:
    """Print the strategy list (or one strategy's parameters); returns the exit code."""
    from quantlab.strategies import get_strategy, list_strategies, strategy_classes, strategy_info

    if getattr(args, "promoted", None) is not None:
        return _promoted(args)
    if getattr(args, "name", None):
        info = strategy_info(get_strategy(args.name))
        if args.json:
            print_json(info)
            return 0
        print(f"{info['name']} ({info['kind']}): {info['description']}")
        print(f"warm-up: {info['warmup']}")
        params = pd.DataFrame(info["parameters"])
        if not params.empty:
            params = params.set_index("name")[["type", "default", "low", "high", "grid", "doc"]]
            print_table(params.astype(object).where(params.notna(), ""), floatfmt="{:g}")
        return 0

    if args.json:
        print_json(
            {
                "strategies": [strategy_info(cls) for cls in strategy_classes().values()],
                "overlays": [_overlay_info()],
            }
        )
        return 0
    table = list_strategies()
    print_table(table[["kind", "parameters", "warmup", "description"]])
    print()
    print(_OVERLAY_NOTE)
    return 0


def _promoted(args: argparse.Namespace) -> int:
    """``--promoted [NAME]``: one row per promoted version under ``--root``."""
    from quantlab.errors import UsageError
    from quantlab.promote.artifact import list_promoted

    if getattr(args, "name", None):
        raise UsageError("give the strategy name to --promoted (strategies --promoted NAME), "
                         "not as a positional argument")
    name = None if args.promoted is True else args.promoted
    table = list_promoted(args.root, name=name)
    if args.json:
        print_json({"root": str(args.root), "promoted": table.to_dict(orient="records")})
        return 0
    if table.empty:
        print(f"no promoted strategies under {args.root}/")
        return 0
    shown = table.drop(columns=["path"]).set_index(["name", "version"])
    print_table(shown.astype(object).where(shown.notna(), ""), floatfmt="{:g}")
    return 0
