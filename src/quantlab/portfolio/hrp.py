"""Hierarchical Risk Parity (López de Prado 2016).

López de Prado, M. (2016). "Building Diversified Portfolios that Outperform Out of Sample",
*Journal of Portfolio Management* 42(4), 59–69. The three stages, as in the paper:

1. **Tree clustering.** Correlation distance ``d_ij = sqrt((1 - rho_ij) / 2)``; then, as in the
   paper (and its code, which passes the distance matrix to ``linkage``), the Euclidean distance
   between the columns of ``D``, ``dd_ij = sqrt(sum_k (d_ki - d_kj)^2)``, clustered with
   single linkage (``scipy.cluster.hierarchy.linkage(..., "single")``).
2. **Quasi-diagonalisation.** Assets are ordered as the leaves of the dendrogram
   (``leaves_list``: the paper's recursive replacement of each cluster by its two children).
3. **Recursive bisection.** Starting with all weights 1, each list of sorted assets is split into
   two halves ``L1, L2``; each half's variance is ``V = w' Sigma w`` with inverse-variance weights
   ``w = diag(Sigma)^-1 / tr(diag(Sigma)^-1)`` inside it; ``alpha = 1 - V1 / (V1 + V2)`` scales the
   weights of ``L1`` and ``1 - alpha`` those of ``L2``. HRP weights are long-only and sum to 1.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import pdist

__all__ = ["hrp_order", "hrp_weights"]


def _corr(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    return np.clip((corr + corr.T) / 2.0, -1.0, 1.0)


def hrp_order(cov: np.ndarray) -> np.ndarray:
    """Quasi-diagonal order of the assets (positions), stages 1–2."""
    n = cov.shape[0]
    if n <= 2:
        return np.arange(n)
    dist = np.sqrt(np.clip((1.0 - _corr(cov)) / 2.0, 0.0, None))
    link = linkage(pdist(dist, metric="euclidean"), method="single")
    return leaves_list(link)


def _cluster_var(cov: np.ndarray, idx: np.ndarray) -> float:
    sub = cov[np.ix_(idx, idx)]
    ivp = 1.0 / np.diag(sub)
    ivp /= ivp.sum()
    return float(ivp @ sub @ ivp)


def hrp_weights(cov: np.ndarray) -> np.ndarray:
    """HRP weights (in the original asset order) of a covariance matrix with positive variances."""
    cov = np.asarray(cov, dtype="float64")
    order = hrp_order(cov)
    w = np.ones(cov.shape[0])
    clusters = [order]
    while clusters:
        nxt = []
        for items in clusters:
            if len(items) < 2:
                continue
            half = len(items) // 2
            left, right = items[:half], items[half:]
            v1, v2 = _cluster_var(cov, left), _cluster_var(cov, right)
            alpha = 1.0 - v1 / (v1 + v2)
            w[left] *= alpha
            w[right] *= 1.0 - alpha
            nxt += [left, right]
        clusters = nxt
    return w / w.sum()
