"""The handle of one promoted-strategy version: :class:`Artifact`.

:func:`~quantlab.promote.artifact.write.write_artifact` returns it: the version folder, the
name, the version number and the parsed ``manifest.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from quantlab._result import Result

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = ["Artifact"]


@dataclass(repr=False)
class Artifact(Result):
    """One written (or resolved) promoted-strategy version.

    Attributes
    ----------
    path : pathlib.Path
        The version folder ``<root>/NAME/VERSION``.
    name : str
        Strategy name.
    version : int
        Version number (1, 2, ...).
    manifest : dict
        The parsed ``manifest.json``.
    """

    path: Path
    name: str
    version: int
    manifest: dict[str, Any] = field(default_factory=dict)

    def __fspath__(self) -> str:
        return str(self.path)

    def title(self) -> str:
        """``Promoted trend v3 (strategy.py:Trend, 4 files)``."""
        return (f"Promoted {self.name} v{self.version} ({self.manifest.get('strategy_ref')}, "
                f"{len(self.manifest.get('files', {}))} files)")

    def stats(self) -> pd.Series:
        """Headline figures: name, version, created, strategy_ref, files, data_files,
        git_commit, git_dirty."""
        git = self.manifest.get("git") or {}
        created = self.manifest.get("created")
        return pd.Series({
            "name": self.name, "version": int(self.version),
            "created": pd.Timestamp(created) if created else None,
            "strategy_ref": self.manifest.get("strategy_ref"),
            "files": len(self.manifest.get("files", {})),
            "data_files": len(self.manifest.get("data_files", [])),
            "git_commit": git.get("commit"), "git_dirty": git.get("dirty"),
        }, name=self.name, dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        files = self.manifest.get("files", {})
        return pd.DataFrame({"sha256": pd.Series(files, dtype=object)}).rename_axis("file")

    def _figure(self, **kwargs: Any) -> go.Figure:
        import plotly.graph_objects as go

        names = list(self.manifest.get("files", {}))
        sizes = [(self.path / n).stat().st_size if (self.path / n).is_file() else 0 for n in names]
        fig = go.Figure(go.Bar(x=sizes, y=names, orientation="h"))
        fig.update_layout(title=f"{self.title()}: file sizes (bytes)",
                          yaxis={"autorange": "reversed"}, **kwargs)
        return fig

    def _extra_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.name, "version": self.version,
                "manifest": self.manifest}
