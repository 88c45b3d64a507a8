"""Self-contained HTML reports (plotly.js embedded, so they open offline)."""

from __future__ import annotations

import html
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["render_report", "write_report"]

_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{font-size:1.5em} h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em} td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
th{background:#f6f6f6} .meta{color:#666;font-size:.85em}
"""


def render_report(title: str, blocks: Iterable[Any], subtitle: str = "") -> str:
    """Render an HTML page from blocks.

    Parameters
    ----------
    title : str
        Page title.
    blocks : iterable
        Items in order: a plotly Figure, a DataFrame/Series (rendered as a table), a
        ``("heading", text)`` tuple, or a string of trusted HTML.
    subtitle : str
        A line of metadata under the title.

    Returns
    -------
    str
        The complete HTML document; the first figure embeds plotly.js so the file works offline.
    """
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    if subtitle:
        parts.append(f"<p class='meta'>{html.escape(subtitle)}</p>")
    js_done = False
    for block in blocks:
        if isinstance(block, tuple) and len(block) == 2 and block[0] == "heading":
            parts.append(f"<h2>{html.escape(str(block[1]))}</h2>")
        elif isinstance(block, pd.DataFrame | pd.Series):
            frame = block.to_frame() if isinstance(block, pd.Series) else block
            parts.append(frame.to_html(float_format=lambda v: f"{v:,.4f}", na_rep="—"))
        elif hasattr(block, "to_html") and hasattr(block, "data"):  # plotly figure
            parts.append(block.to_html(full_html=False, include_plotlyjs=not js_done))
            js_done = True
        else:
            parts.append(str(block))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str | os.PathLike[str], title: str, blocks: Iterable[Any],
                 subtitle: str = "") -> Path:
    """Render and write an HTML report atomically (temp file + rename); returns the path."""
    from quantlab._util import write_text_atomic

    return write_text_atomic(path, render_report(title, blocks, subtitle))
