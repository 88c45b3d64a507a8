"""Deflated Sharpe ratio (quantlab.promote.dsr)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.stats import norm

from quantlab.errors import DataError, ParameterError
from quantlab.promote import (
    DeflatedSharpeResult,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
)


def test_paper_numerical_example() -> None:
    """Bailey & López de Prado (2014), JPM 40(5), section "A numerical example".

    N = 100 trials, V[SR_n] = 1/2 (annualized), best annualized SR = 2.5 over T = 1,250 daily
    observations (5 years of 250 days), skewness -3, kurtosis 10. Worked out by hand:

    * Φ⁻¹(1 - 1/100) = 2.326348, Φ⁻¹(1 - 1/(100 e)) = 2.680210;
      (1 - γ) 2.326348 + γ 2.680210 = 0.422784 × 2.326348 + 0.577216 × 2.680210 = 2.530603
    * per-day V[SR] = 0.5 / 250 = 0.002, √0.002 = 0.0447214 → SR0 = 0.113172 per day
      (0.113172 × √250 = 1.7894 annualized)
    * SR = 2.5 / √250 = 0.158114 per day
    * numerator (0.158114 - 0.113172) × √1249 = 0.044942 × 35.3412 = 1.588300
    * denominator √(1 + 3 × 0.158114 + (10 - 1)/4 × 0.158114²) = √(1 + 0.474342 + 0.05625)
      = √1.530592 = 1.237171
    * DSR = Φ(1.588300 / 1.237171) = Φ(1.283816) = 0.9004

    The paper reports SR0 ≈ 0.1132 and DSR ≈ 0.9004: the strategy is *not* significant at the
    95 % level despite its annualized Sharpe of 2.5 (these figures are quoted from memory of the
    paper and reproduced by the hand computation above).
    """
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.113172, abs=1e-6)
    assert sr0 * math.sqrt(250) == pytest.approx(1.7894, abs=1e-4)
    dsr = probabilistic_sharpe(2.5 / math.sqrt(250), sr0, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)
    assert dsr < 0.95


def test_expected_max_sharpe_formula_and_one_trial() -> None:
    g = 0.5772156649015329
    z = (1 - g) * norm.ppf(1 - 1 / 10) + g * norm.ppf(1 - 1 / (10 * math.e))
    assert expected_max_sharpe(10, 4.0) == pytest.approx(2.0 * z)
    assert expected_max_sharpe(1, 4.0) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0


def test_psr_hand_computed() -> None:
    # normal returns: Φ(0.1 × √100 / √(1 + (3 - 1)/4 × 0.01)) = Φ(1 / √1.005) = Φ(0.997509)
    assert probabilistic_sharpe(0.1, 0.0, 101, 0.0, 3.0) == pytest.approx(0.840741, abs=1e-6)
    # skew -0.5, kurtosis 6, benchmark 0.05, n = 100:
    # variance term 1 + 0.5 × 0.1 + 5/4 × 0.01 = 1.0625, √ = 1.030776
    # numerator (0.1 - 0.05) × √99 = 0.497494 → z = 0.482640 → Φ(z) = 0.685324
    assert probabilistic_sharpe(0.1, 0.05, 100, -0.5, 6.0) == pytest.approx(0.685324, abs=1e-6)
    assert probabilistic_sharpe(0.05, 0.05, 100, 0.0, 3.0) == pytest.approx(0.5)


def _returns(n: int = 750, seed: int = 7, drift: float = 0.002) -> pd.Series:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2022-01-01", periods=n, freq="D", tz="UTC")
    return pd.Series(rng.standard_t(5, n) * 0.01 + drift, index=idx)


def test_deflated_sharpe_matches_its_parts() -> None:
    r = _returns()
    res = deflated_sharpe(r, trials=40, sharpe_variance=0.4)
    x = r.to_numpy()
    sr = x.mean() / x.std(ddof=1)
    assert isinstance(res, DeflatedSharpeResult)
    assert res.periods_per_year == pytest.approx(365.0)  # inferred from the daily index
    assert res.sharpe == pytest.approx(sr)
    assert res.sharpe_annualized == pytest.approx(sr * math.sqrt(365))
    assert res.skew == pytest.approx(stats.skew(x))
    assert res.kurtosis == pytest.approx(stats.kurtosis(x, fisher=False))
    assert res.sharpe_variance == pytest.approx(0.4 / 365)  # annualized input converted
    assert res.sr0 == pytest.approx(expected_max_sharpe(40, 0.4 / 365))
    assert res.dsr == pytest.approx(probabilistic_sharpe(sr, res.sr0, len(x), res.skew,
                                                         res.kurtosis))
    assert res.psr == pytest.approx(probabilistic_sharpe(sr, 0.0, len(x), res.skew, res.kurtosis))
    assert res.passed(res.dsr) and not res.passed(min(1.0, res.dsr + 1e-9))


def test_trials_as_sharpe_ratios() -> None:
    r = _returns()
    ann = np.array([0.5, 1.2, -0.3, 2.0, 0.9, np.nan])  # a NaN trial (never traded) still counts
    res = deflated_sharpe(r, trials=ann, periods_per_year=365)
    assert res.trials == 6
    assert res.sharpe_variance == pytest.approx(np.nanvar(ann, ddof=1) / 365)
    np.testing.assert_allclose(res.trial_sharpes, ann[:5] / math.sqrt(365))
    per_period = deflated_sharpe(r, trials=ann / math.sqrt(365), annualized=False)
    assert per_period.dsr == pytest.approx(res.dsr)
    # an explicit variance overrides the trials' variance
    assert deflated_sharpe(r, trials=ann, sharpe_variance=0.1).sharpe_variance == \
        pytest.approx(0.1 / 365)


def test_dsr_decreases_with_trials() -> None:
    r = _returns()
    dsrs = [deflated_sharpe(r, trials=n, sharpe_variance=1.0).dsr for n in (1, 2, 10, 100, 1000)]
    assert all(a > b for a, b in itertools.pairwise(dsrs)), dsrs


def test_one_trial_is_psr_against_zero() -> None:
    r = _returns()
    one = deflated_sharpe(r, trials=1)
    assert one.sr0 == 0.0 and one.dsr == pytest.approx(one.psr)
    assert one.dsr == pytest.approx(probabilistic_sharpe(one.sharpe, 0.0, one.n_obs, one.skew,
                                                         one.kurtosis))
    assert deflated_sharpe(r, trials=[1.5]).dsr == pytest.approx(one.dsr)


def test_periods_per_year_from_hourly_index_and_plain_arrays() -> None:
    x = _returns(300).to_numpy()
    hourly = pd.Series(x, index=pd.date_range("2024-01-01", periods=300, freq="h"))
    assert deflated_sharpe(hourly, trials=1).periods_per_year == pytest.approx(8760)
    assert deflated_sharpe(x, trials=1).periods_per_year == 365.0
    assert deflated_sharpe(list(x), trials=1, periods_per_year=252).periods_per_year == 252


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"returns": [0.01], "trials": 1}, DataError, "at least 2"),
    ({"returns": [0.01, np.nan, 0.02], "trials": 1}, DataError, "NaN"),
    ({"returns": [0.01, 0.01, 0.01], "trials": 1}, DataError, "constant"),
    ({"returns": [0.01, -0.02, 0.03], "trials": 0}, ParameterError, "trials"),
    ({"returns": [0.01, -0.02, 0.03], "trials": 2.5}, ParameterError, "trials"),
    ({"returns": [0.01, -0.02, 0.03], "trials": 5}, ParameterError, "sharpe_variance"),
    ({"returns": [0.01, -0.02, 0.03], "trials": 5, "sharpe_variance": -1}, ParameterError,
     "sharpe_variance"),
    ({"returns": [0.01, -0.02, 0.03], "trials": []}, ParameterError, "empty"),
    ({"returns": [0.01, -0.02, 0.03], "trials": [1.0, np.nan]}, DataError, "finite"),
    ({"returns": [0.01, -0.02, 0.03], "trials": 1, "periods_per_year": 0}, ParameterError,
     "periods_per_year"),
])
def test_deflated_sharpe_errors(kwargs: dict, error: type, match: str) -> None:
    returns = kwargs.pop("returns")
    with pytest.raises(error, match=match) as info:
        deflated_sharpe(returns, **kwargs)
    assert "\n" not in str(info.value)


def test_psr_errors() -> None:
    with pytest.raises(ParameterError, match="n="):
        probabilistic_sharpe(0.1, 0.0, 1, 0.0, 3.0)
    with pytest.raises(ParameterError, match="non-positive variance"):
        probabilistic_sharpe(1.0, 0.0, 100, 3.0, 0.0)  # excess kurtosis passed by mistake
    with pytest.raises(ParameterError, match="sr"):
        probabilistic_sharpe(np.nan, 0.0, 100, 0.0, 3.0)
