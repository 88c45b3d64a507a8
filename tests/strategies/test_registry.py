"""Registry, spec resolution and user-file loading."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from quantlab.errors import StrategyError, UnknownStrategyError
from quantlab.strategies import (
    SmaCross,
    Strategy,
    get_strategy,
    list_strategies,
    register,
    strategy_classes,
    with_vol_target,
)
from quantlab.strategies import registry as reg

BUILTINS = {"sma_cross", "rsi_reversion", "donchian_breakout", "momentum_rotation"}

USER_FILE = '''
import pandas as pd
from quantlab.strategies import Param, Signals, Strategy, register


@register
class Dip(Strategy):
    """Buy after a drop of more than `drop`; sell after `hold` bars."""

    name = "test_user_dip"
    drop = Param(0.05, low=0.0, high=1.0, doc="minimum one-bar drop")
    hold = Param(3, low=1, doc="bars held")

    def warmup(self) -> int:
        return 1

    def signals(self, bars):
        ret = bars["close"].pct_change()
        entries = (ret < -self.drop).fillna(False)
        return Signals(entries=entries, exits=entries.shift(self.hold, fill_value=False))


class Helper:
    pass
'''


@pytest.fixture(autouse=True)
def _clean_registry():
    before = dict(reg._REGISTRY)
    yield
    reg._REGISTRY.clear()
    reg._REGISTRY.update(before)


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_strats.py"
    path.write_text(USER_FILE)
    return path


def test_builtins_registered_by_name() -> None:
    assert BUILTINS <= set(strategy_classes())
    for name in BUILTINS:
        assert get_strategy(name).name == name
    assert get_strategy("sma_cross") is SmaCross
    assert get_strategy(" sma_cross ") is SmaCross
    assert get_strategy(SmaCross) is SmaCross
    assert get_strategy(SmaCross(fast=3, slow=9)) is SmaCross


def test_list_strategies_frame() -> None:
    df = list_strategies()
    assert isinstance(df, pd.DataFrame) and BUILTINS <= set(df.index)
    assert list(df.columns) == [
        "kind",
        "multi_asset",
        "shorts",
        "parameters",
        "warmup",
        "description",
    ]
    row = df.loc["sma_cross"]
    assert row["kind"] == "signals" and not row["multi_asset"]
    assert "fast: int=10 [1, 1000]" in row["parameters"]
    assert row["warmup"] == "slow (50 bars at defaults)"
    assert row["description"].startswith("Fast/slow")
    assert df.loc["momentum_rotation", "kind"] == "weights"
    assert df.loc["momentum_rotation", "multi_asset"]
    assert df.loc["donchian_breakout", "shorts"]


def test_misspelled_name_suggests() -> None:
    with pytest.raises(UnknownStrategyError) as exc:
        get_strategy("sma_crss")
    msg = str(exc.value)
    assert "Did you mean 'sma_cross'" in msg and "rsi_reversion" in msg
    with pytest.raises(UnknownStrategyError, match="Available"):
        get_strategy("zzzz")
    with pytest.raises(UnknownStrategyError, match="Did you mean 'sma_cross'"):
        get_strategy("sma_cros+vol_target")


def test_overlay_suffix() -> None:
    cls = get_strategy("rsi_reversion+vol_target")
    assert cls.name == "rsi_reversion+vol_target" and "target_vol" in cls.params
    assert cls.kind == "signals"
    assert get_strategy("momentum_rotation+vol_target").kind == "weights"


def test_load_from_file(user_file: Path) -> None:
    cls = get_strategy(f"{user_file}:Dip")
    assert issubclass(cls, Strategy) and cls.name == "test_user_dip"
    assert get_strategy(str(user_file)) is cls  # the only Strategy subclass in the file
    assert get_strategy(f"{user_file}:Dip") is cls  # cached while unchanged
    assert get_strategy("test_user_dip") is cls  # @register inside the file
    vt = get_strategy(f"{user_file}:Dip+vol_target")
    assert vt is with_vol_target(cls) and "drop" in vt.params
    bars = pd.DataFrame(
        {"close": [100.0, 90, 91, 92, 93, 80]},
        index=pd.date_range("2024-01-01", periods=6, tz="UTC"),
    )
    sig = cls(hold=2).run(bars)
    assert sig.entries.tolist() == [False, True, False, False, False, True]
    assert sig.exits.tolist() == [False, False, False, True, False, False]


def test_edited_file_is_reloaded(user_file: Path) -> None:
    first = get_strategy(f"{user_file}:Dip")
    user_file.write_text(USER_FILE.replace("low=1, doc", "low=2, doc") + "\n# edited\n")
    second = get_strategy(f"{user_file}:Dip")
    assert second is not first and second.params["hold"].low == 2
    assert get_strategy("test_user_dip") is second  # re-registration replaces


def test_relative_path_spec(user_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(user_file.parent)
    assert get_strategy("my_strats.py:Dip").name == "test_user_dip"
    assert get_strategy("./my_strats.py").name == "test_user_dip"


def test_load_from_module() -> None:
    assert get_strategy("quantlab.strategies.sma_cross:SmaCross") is SmaCross
    assert get_strategy("quantlab.strategies.sma_cross:SmaCross+vol_target") is with_vol_target(
        SmaCross
    )
    with pytest.raises(UnknownStrategyError, match="no_such_pkg"):
        get_strategy("no_such_pkg.mod:Thing")
    with pytest.raises(UnknownStrategyError, match=r"has no class 'SmaCros'.*SmaCross"):
        get_strategy("quantlab.strategies.sma_cross:SmaCros")
    with pytest.raises(StrategyError, match="not a quantlab Strategy"):
        get_strategy("quantlab.errors:ParameterError")


@pytest.mark.parametrize(
    ("content", "spec_suffix", "error", "pattern"),
    [
        (None, ":Dip", UnknownStrategyError, "strategy file not found"),
        ("def broken(:\n    pass\n", ":Dip", StrategyError, r":1: syntax error"),
        ("raise RuntimeError('boom')\n", ":Dip", StrategyError, "RuntimeError: boom"),
        ("import not_a_real_module_xyz\n", "", StrategyError, "not_a_real_module_xyz"),
        (USER_FILE, ":Nope", UnknownStrategyError, "has no class 'Nope'.*Dip"),
        (USER_FILE, ":Helper", StrategyError, "not a quantlab Strategy subclass"),
        (USER_FILE, ":pd", StrategyError, "not a quantlab Strategy subclass"),
        ("x = 1\n", "", UnknownStrategyError, "defines no Strategy subclass"),
        (
            USER_FILE + "\nclass Other(Dip):\n    name = 'test_user_other'\n",
            "",
            UnknownStrategyError,
            "several strategies.*Dip, Other",
        ),
    ],
)
def test_bad_user_files(tmp_path: Path, content, spec_suffix, error, pattern) -> None:
    path = tmp_path / "bad.py"
    if content is not None:
        path.write_text(content)
    with pytest.raises(error, match=pattern) as exc:
        get_strategy(f"{path}{spec_suffix}")
    assert "bad.py" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_non_python_file(tmp_path: Path) -> None:
    path = tmp_path / "strategy.txt"
    path.write_text("x")
    with pytest.raises(StrategyError, match=r"strategy\.txt is not a \.py file"):
        get_strategy(f"{path}:X")


def test_register_rules() -> None:
    class NoName(Strategy):
        pass

    with pytest.raises(StrategyError, match="has no `name`"):
        register(NoName)
    with pytest.raises(StrategyError, match="Strategy subclass"):
        register(int)  # type: ignore[arg-type]

    class Clash(Strategy):
        name = "sma_cross"

    with pytest.raises(StrategyError, match="already registered"):
        register(Clash)

    @register(name="test_named")
    class Named(Strategy):
        pass

    assert Named.name == "test_named" and get_strategy("test_named") is Named
