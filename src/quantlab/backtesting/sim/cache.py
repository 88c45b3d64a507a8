"""Where numba keeps quantlab's compiled simulator: a per-user cache folder.

numba writes the machine code of ``cache=True`` functions next to the source file by default,
or under ``NUMBA_CACHE_DIR``. A source tree may be read-only (site-packages) and a folder per
project directory would recompile in every new folder, so quantlab uses
``$XDG_CACHE_HOME/quantlab/numba`` (``~/.cache/quantlab/numba``) unless ``NUMBA_CACHE_DIR``
is set, which always wins.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["configure_numba_cache", "numba_cache_dir"]


def numba_cache_dir() -> Path:
    """The folder numba's cache goes to: ``NUMBA_CACHE_DIR`` or ``<user cache>/quantlab/numba``."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "quantlab" / "numba"


def configure_numba_cache() -> Path:
    """Point numba's cache at :func:`numba_cache_dir` (call before compiled modules load).

    Returns
    -------
    Path
        The cache folder in use.
    """
    path = numba_cache_dir()
    if not os.environ.get("NUMBA_CACHE_DIR"):
        os.environ["NUMBA_CACHE_DIR"] = str(path)
        config = sys.modules.get("numba.core.config")
        if config is not None:  # numba already imported: re-read the environment
            config.reload_config()  # type: ignore[attr-defined]
    return path
