"""risk.scenarios: the scenario model and the packaged/user TOML library."""

from __future__ import annotations

import pytest

from quantlab.errors import DataError
from quantlab.risk.scenarios import HistoricalScenario, HypotheticalScenario, load_scenarios

# --------------------------------------------------------------------------- scenario library


def test_packaged_library_loads_and_is_valid(btc):
    lib = load_scenarios()
    for name in ("covid_crash", "covid_week", "may_2021_crash", "luna_ust", "celsius_3ac", "ftx",
                 "carry_unwind_2024", "btc_minus_30", "market_minus_20_beta", "alts_minus_50"):
        assert name in lib
    hist = [s for s in lib.values() if isinstance(s, HistoricalScenario)]
    assert len(hist) >= 6
    first, last = btc.index[0], btc.index[-1]
    for s in hist:
        # the day before start must exist in the data so the window return is defined
        assert first < s.start <= s.end <= last, s.name
        assert s.description
    beta = lib["market_minus_20_beta"]
    assert isinstance(beta, HypotheticalScenario)
    assert beta.beta_scaled and beta.market == -0.20 and beta.market_asset == "BTC/USDT"
    assert lib["alts_minus_50"].default == -0.5


def test_user_file_extends_and_overrides(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text(
        '[historical.covid_crash]\nstart = 2020-03-12\nend = 2020-03-13\n'
        '[hypothetical.eth_minus_10]\nshocks = { "ETH/USDT" = -0.1 }\n'
    )
    lib = load_scenarios(f)
    assert lib["covid_crash"].window == "2020-03-12..2020-03-13"  # bare TOML dates accepted
    assert lib["eth_minus_10"].shocks == {"ETH/USDT": -0.1}
    assert "luna_ust" in lib
    only = load_scenarios(f, include_packaged=False)
    assert list(only) == ["covid_crash", "eth_minus_10"]


@pytest.mark.parametrize(("text", "fragment"), [
    ("[historical.x]\nstart = \"2020-03-12\"\n", "historical.x.end is missing"),
    ("[historical.x]\nstart = \"2020-03-13\"\nend = \"2020-03-12\"\n", "historical.x.start"),
    ("[historical.x]\nstart = \"March\"\nend = \"2020-03-12\"\n", "historical.x.start"),
    ("[historical.x]\nstart = \"2020-03-12\"\nend = \"2020-03-12\"\nwindow = 3\n",
     "historical.x.window is not a known key"),
    ("[hypothetical.y]\nshocks = { \"BTC/USDT\" = \"-30%\" }\n", "hypothetical.y.shocks.BTC/USDT"),
    ("[hypothetical.y]\nshocks = { \"BTC/USDT\" = -1.5 }\n", "below -1"),
    ("[hypothetical.y]\ndescription = \"nothing\"\n", "hypothetical.y needs shocks or market"),
    ("[hypothetical.y]\nmarket = -0.2\ndefault = -0.1\n", "hypothetical.y.default"),
    ("[hypothetical.y]\nshocks = { \"BTC/USDT\" = -0.1 }\nbeta_scaled = true\n",
     "hypothetical.y.beta_scaled needs a market"),
    ("[scenarios.z]\nx = 1\n", "scenarios is not a known section"),
    ("[historical.x\n", "not valid TOML"),
])
def test_malformed_file_names_file_and_key(tmp_path, text, fragment):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(DataError) as err:
        load_scenarios(f)
    msg = str(err.value)
    assert str(f) in msg and fragment in msg
    assert "\n" not in msg


def test_missing_file():
    with pytest.raises(DataError, match=r"nope\.toml"):
        load_scenarios("nope.toml")
