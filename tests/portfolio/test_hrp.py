"""Hierarchical Risk Parity (quantlab.portfolio.hrp): hand-derived splits, both distance variants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.portfolio.hrp import hrp_weights
from quantlab.portfolio.optimize import optimize
from tests.portfolio._helpers import dummy_returns as _dummy_returns

# ----------------------------------------------------------------------------- HRP


def test_hrp_block_diagonal_known_split() -> None:
    # Two uncorrelated blocks of two identical assets (correlation 0.5 inside a block):
    #   block 1 (a, b): variance 0.04 each, covariance 0.02
    #   block 2 (c, d): variance 0.01 each, covariance 0.005
    # Single linkage merges a-b and c-d first, so the quasi-diagonal order keeps the blocks
    # together and the first bisection splits {a, b} | {c, d}.
    # Inverse-variance weights inside each block are (1/2, 1/2), so
    #   V1 = 1/4 (0.04 + 0.04 + 2 * 0.02)  = 0.03
    #   V2 = 1/4 (0.01 + 0.01 + 2 * 0.005) = 0.0075
    #   alpha = 1 - V1 / (V1 + V2) = 1 - 0.03 / 0.0375 = 0.2
    # then each block splits in halves with alpha = 1/2 (identical assets):
    #   w = (0.1, 0.1, 0.4, 0.4)
    s = np.array([[0.04, 0.02, 0, 0], [0.02, 0.04, 0, 0],
                  [0, 0, 0.01, 0.005], [0, 0, 0.005, 0.01]])
    np.testing.assert_allclose(hrp_weights(s), [0.1, 0.1, 0.4, 0.4], atol=1e-12)
    # same with the assets shuffled: weights follow the assets
    perm = [2, 0, 3, 1]
    np.testing.assert_allclose(hrp_weights(s[np.ix_(perm, perm)]), [0.4, 0.1, 0.4, 0.1],
                               atol=1e-12)
    res = optimize(_dummy_returns(4), "hrp", cov=s)
    np.testing.assert_allclose(res.weights, [0.1, 0.1, 0.4, 0.4], atol=1e-12)
    assert res.status == "heuristic"
    assert res.stats()["linkage"] == "single" and res.stats()["distance"] == "euclidean"


def test_hrp_on_sample(returns: pd.DataFrame) -> None:
    res = optimize(returns, "hrp")
    assert res.weights.sum() == pytest.approx(1.0)
    assert (res.weights > 0).all()
    # diagonal covariance: HRP reduces to inverse-variance weights
    d = np.diag([0.01, 0.04, 0.02, 0.05, 0.03])
    np.testing.assert_allclose(hrp_weights(d), (1 / np.diag(d)) / (1 / np.diag(d)).sum(),
                               atol=1e-12)


# Four assets in two correlated blocks, vols (0.1, 0.2) and (0.15, 0.3), correlation 0.8 inside
# a block and 0.2 across. Hand computation (López de Prado 2016, §3; the same steps as
# PyPortfolioOpt's HRPOpt._raw_hrp_allocation):
#   distance d = sqrt((1 - rho) / 2): sqrt(0.1) inside a block < sqrt(0.4) across, so every
#   linkage and both distance definitions merge {A, B} and {C, D} first -> the first bisection
#   splits {A, B} | {C, D}.
#   inverse-variance weights inside {A, B}: (1/0.01, 1/0.04) ∝ (0.8, 0.2);
#     V1 = 0.64*0.01 + 0.04*0.04 + 2*0.8*0.2*(0.8*0.1*0.2) = 0.01312
#   inside {C, D}: (1/0.0225, 1/0.09) ∝ (0.8, 0.2);
#     V2 = 0.64*0.0225 + 0.04*0.09 + 2*0.8*0.2*(0.8*0.15*0.3) = 0.02952
#   alpha = 1 - V1/(V1 + V2) = 1 - 4/13 = 9/13 (V1/V2 = 4/9)
#   second level: single assets, alpha_A = 1 - 0.01/0.05 = 0.8, alpha_C = 1 - 0.0225/0.1125 = 0.8
#   w = (9/13*0.8, 9/13*0.2, 4/13*0.8, 4/13*0.2) = (7.2, 1.8, 3.2, 0.8) / 13
_VOL = np.array([0.1, 0.2, 0.15, 0.3])
_CORR = np.array([[1.0, 0.8, 0.2, 0.2], [0.8, 1.0, 0.2, 0.2],
                  [0.2, 0.2, 1.0, 0.8], [0.2, 0.2, 0.8, 1.0]])
_BLOCK_COV = _CORR * np.outer(_VOL, _VOL)
_BLOCK_W = np.array([7.2, 1.8, 3.2, 0.8]) / 13


@pytest.mark.parametrize("distance", ["euclidean", "correlation"])
@pytest.mark.parametrize("linkage", ["single", "complete", "average", "ward"])
def test_hrp_block_example_by_hand(linkage: str, distance: str) -> None:
    np.testing.assert_allclose(hrp_weights(_BLOCK_COV, linkage, distance), _BLOCK_W, atol=1e-12)
    # interleaved columns (A, C, B, D): the tree, not the column order, decides the split
    perm = [0, 2, 1, 3]
    np.testing.assert_allclose(hrp_weights(_BLOCK_COV[np.ix_(perm, perm)], linkage, distance),
                               _BLOCK_W[perm], atol=1e-12)


def _pypfopt_style_hrp(cov: np.ndarray) -> np.ndarray:
    """Independent transcription of the common library form (PyPortfolioOpt ``HRPOpt``):
    condensed ``sqrt((1 - rho) / 2)``, single linkage, ``to_tree(...).pre_order()``, halves."""
    from scipy.cluster.hierarchy import linkage, to_tree
    from scipy.spatial.distance import squareform

    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    dist = np.sqrt(np.clip((1 - corr) / 2, 0, 1))
    np.fill_diagonal(dist, 0)
    order = to_tree(linkage(squareform(dist, checks=False), "single")).pre_order()
    w = np.ones(len(cov))
    todo = [list(order)]
    while todo:
        todo = [c[a:b] for c in todo for a, b in ((0, len(c) // 2), (len(c) // 2, len(c)))
                if len(c) > 1]
        for left, right in zip(todo[::2], todo[1::2], strict=True):
            v = []
            for part in (left, right):
                sub = cov[np.ix_(part, part)]
                ivp = 1 / np.diag(sub)
                ivp /= ivp.sum()
                v.append(ivp @ sub @ ivp)
            alpha = 1 - v[0] / (v[0] + v[1])
            w[left] *= alpha
            w[right] *= 1 - alpha
    return w / w.sum()


def test_hrp_correlation_distance_matches_the_library_form(returns: pd.DataFrame) -> None:
    s = returns.cov().to_numpy()
    np.testing.assert_allclose(hrp_weights(s, "single", "correlation"), _pypfopt_style_hrp(s),
                               atol=1e-12)
    res = optimize(returns, "hrp", linkage="single", distance="correlation")
    np.testing.assert_allclose(res.weights.to_numpy(), _pypfopt_style_hrp(s), atol=1e-12)
    assert res.stats()["distance"] == "correlation"


def test_hrp_variants_can_differ(returns: pd.DataFrame) -> None:
    # on the eight sample pairs at least one linkage/distance choice changes the tree
    s = returns.cov().to_numpy()
    base = hrp_weights(s)
    others = [hrp_weights(s, lk, d) for lk in ("single", "complete", "average", "ward")
              for d in ("euclidean", "correlation")]
    assert any(np.abs(o - base).max() > 1e-6 for o in others)
    for o in others:
        assert o.sum() == pytest.approx(1.0) and (o > 0).all()


def test_hrp_options_are_checked(returns: pd.DataFrame) -> None:
    from quantlab.errors import ParameterError

    with pytest.raises(ParameterError, match=r"linkage='median' is unknown"):
        optimize(returns, "hrp", linkage="median")
    with pytest.raises(ParameterError, match=r"distance='cosine' is unknown"):
        optimize(returns, "hrp", distance="cosine")
    with pytest.raises(ParameterError, match=r"linkage applies to method='hrp' only"):
        optimize(returns, "erc", linkage="single")
