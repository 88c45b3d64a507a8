"""``quantlab live`` user mistakes: one line, non-zero exit, nothing written."""

from __future__ import annotations

from quantlab.cli import main
from tests.live.helpers import promote_builtin


def _art(tmp_path):
    return promote_builtin(tmp_path / "strategies", "btc_sma", "sma_cross",
                           {"fast": 10, "slow": 50}, ["BTC/USDT"])


def _live(tmp_path, *extra):
    return main(["live", "btc_sma", "--root", str(tmp_path / "strategies"), "--state",
                 str(tmp_path / "s.sqlite"), *extra])


def test_tampered_artifact_refuses_to_start(tmp_path, capsys):
    art = _art(tmp_path)
    (art / "strategy.py").write_text((art / "strategy.py").read_text() + "# edited\n")
    assert _live(tmp_path, "--mode", "replay") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "strategy.py" in err and "sha256" in err
    assert not (tmp_path / "s.sqlite").exists()


def test_unknown_mode_is_a_usage_error(tmp_path, capsys):
    _art(tmp_path)
    assert _live(tmp_path, "--mode", "yolo") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "replay, paper or live" in err


def test_unknown_strategy_and_version(tmp_path, capsys):
    _art(tmp_path)
    assert main(["live", "nope", "--mode", "replay", "--root", str(tmp_path / "strategies")]) != 0
    assert capsys.readouterr().err.count("\n") == 1
    assert _live(tmp_path, "--mode", "replay", "--version", "7") != 0
    assert capsys.readouterr().err.count("\n") == 1


def test_bad_config_names_the_key(tmp_path, capsys):
    _art(tmp_path)
    cfg = tmp_path / "live.toml"
    cfg.write_text("[risk]\nmax_drawdwn = 0.2\n")
    assert _live(tmp_path, "--mode", "replay", "--config", str(cfg)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "max_drawdwn" in err and "max_drawdown" in err


def test_state_file_of_another_strategy_is_refused(tmp_path, capsys):
    _art(tmp_path)
    promote_builtin(tmp_path / "strategies", "other", "sma_cross", {"fast": 5, "slow": 20},
                    ["ETH/USDT"], warmup=20)
    assert main(["live", "other", "--mode", "replay", "--root", str(tmp_path / "strategies"),
                 "--state", str(tmp_path / "s.sqlite"), "--end", "2020-03-01"]) == 0
    capsys.readouterr()
    assert _live(tmp_path, "--mode", "replay", "--resume") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "belongs to other@1" in err


def test_help_lists_live_and_audit(capsys):
    try:
        main(["--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    assert "live" in out and "audit" in out
