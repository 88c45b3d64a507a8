"""The nightly report set in a real browser: Debian's headless Chromium opens the dated index and
every report page, waits for plotly, and checks that every chart drew and no JavaScript error was
logged (DevTools protocol, tests/reports/browser.py). A screenshot of each page is saved in the
test's temp folder. ``.ci/run`` installs chromium; the test skips only where none can be found.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reports.browser import Chromium, find_chromium
from tests.reports.conftest import cli, write_config

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="no chromium on this machine (apt-get install chromium)")


def test_every_chart_draws_in_chromium(tmp_path: Path) -> None:
    reports = [
        {"name": "tiny", "notebook": "tiny.ipynb", "title": "Tiny VaR", "headline": ["var_hist"],
         "parameters": {"level": 0.95}},
        {"name": "risk", "notebook": str(ROOT / "notebooks" / "risk_report.ipynb"), "title": "Risk",
         "headline": ["var_99_hist"],
         "parameters": {"symbols": "BTC/USDT,ETH/USDT", "weights": "0.6,0.4", "window": 500}},
    ]
    cfg = write_config(tmp_path / "reports.toml", reports)
    out = tmp_path / "reports"
    for date in ("2026-01-01", "2026-01-02"):  # two nights: the index has a trend strip
        assert cli("report", "nightly", "--config", str(cfg), "--out", str(out), "--date", date) == 0
    night = out / "2026-01-02"
    pages = [night / "index.html", out / "index.html",
             *sorted(p for p in night.rglob("*.html") if p.name != "index.html")]
    assert len(pages) == 4
    shots = tmp_path / "screenshots"
    shots.mkdir()
    charts = {}
    with Chromium(tmp_path / "profile") as browser:
        for page in pages:
            check = browser.inspect(page.as_uri(), shots / f"{page.parent.name}-{page.stem}.png")
            assert check.errors == [], (page, check.errors)
            for plot in check.plots:  # every graph has data traces, an SVG and drawn trace groups
                assert plot["traces"] >= 1 and plot["svg"] >= 1 and plot["drawn"] >= 1, (page, plot)
            assert check.screenshot is not None and check.screenshot.stat().st_size > 10_000
            charts[page.relative_to(out).as_posix()] = len(check.plots)
            if page == night / "index.html":
                sparklines = check.sparklines
    # the report pages carry the notebooks' figures: tiny draws 2, the risk report several
    assert charts["2026-01-02/tiny/tiny.html"] == 2
    assert charts["2026-01-02/risk/risk.html"] >= 4
    # the index's trend strip: a sparkline per headline figure over the two nights
    assert sparklines >= 2
    nightly = json.loads((night / "nightly.json").read_text())
    assert [r["status"] for r in nightly["runs"]] == ["ok", "ok"]


def test_the_checker_sees_errors_and_undrawn_charts(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><div class='plotly-graph-div' id='g'></div>"
                    "<script>console.error('bad data'); undefinedFunction();</script></body></html>")
    with Chromium(tmp_path / "profile") as browser:
        check = browser.inspect(page.as_uri(), tmp_path / "broken.png", timeout=3)
    assert check.plots == [{"id": "g", "traces": 0, "svg": 0, "drawn": 0}]
    assert any(e.startswith("console.error: bad data") for e in check.errors), check.errors
    assert any("undefinedFunction is not defined" in e for e in check.errors), check.errors
