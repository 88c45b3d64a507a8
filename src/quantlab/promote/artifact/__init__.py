"""The promoted-strategy artifact store: freeze exactly what was validated, verify it, load it.

``quantlab promote`` validates a research strategy and then calls :func:`write_artifact`, so the
live runner runs that frozen copy and nothing else. Layout::

    <root>/NAME/VERSION/          root defaults to ``strategies/`` (relative to the current dir)
        strategy.py               the strategy source, exactly as validated
        params.json               the parameters it was validated with
        <extra files>             e.g. notebook.ipynb, report.html
        manifest.json             provenance + sha256 of every other file

VERSION is 1, 2, 3... per NAME, taken under a lock and never reused; a version is written into a
temporary folder and renamed into place in one step, so a reader sees a whole version or none.
:func:`verify_artifact` re-hashes every file against ``manifest.json`` (a changed, missing or
extra file fails); :func:`load_promoted` verifies first, then imports the verified bytes of
``strategy.py`` and instantiates the class with ``params.json``.

Modules, each importing only those above it:

- :mod:`.layout` — names, ``NAME@VERSION`` specs, version folders, file names;
- :mod:`.hashing` — sha256 of files and bytes, reading ``manifest.json``;
- :mod:`.result` — :class:`Artifact`, the handle of one version;
- :mod:`.write` — :func:`write_artifact`: version numbering under a lock, atomic write;
- :mod:`.verify` — :func:`verify_artifact`, :func:`verify` and :class:`VerifyResult`;
- :mod:`.load` — :func:`load_promoted` and :class:`PromotedStrategy`;
- :mod:`.listing` — :func:`list_promoted`.
"""

from quantlab.promote.artifact.layout import DEFAULT_ROOT, check_name, parse_spec

# The file names: importable from here as before the split, not in __all__.
from quantlab.promote.artifact.layout import MANIFEST as MANIFEST
from quantlab.promote.artifact.layout import PARAMS_FILE as PARAMS_FILE
from quantlab.promote.artifact.layout import STRATEGY_FILE as STRATEGY_FILE
from quantlab.promote.artifact.listing import list_promoted
from quantlab.promote.artifact.load import PromotedStrategy, load_promoted
from quantlab.promote.artifact.result import Artifact
from quantlab.promote.artifact.verify import VerifyResult, verify, verify_artifact
from quantlab.promote.artifact.write import write_artifact

__all__ = [
    "DEFAULT_ROOT",
    "Artifact",
    "PromotedStrategy",
    "VerifyResult",
    "check_name",
    "list_promoted",
    "load_promoted",
    "parse_spec",
    "verify",
    "verify_artifact",
    "write_artifact",
]
