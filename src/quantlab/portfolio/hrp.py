"""Hierarchical Risk Parity (López de Prado 2016), in the paper's form or the common library form.

López de Prado, M. (2016). "Building Diversified Portfolios that Outperform Out of Sample",
*Journal of Portfolio Management* 42(4), 59–69. Three stages:

1. **Tree clustering.** Correlation distance ``d_ij = sqrt((1 - rho_ij) / 2)``. Then either

   * ``distance="euclidean"`` (default; the paper and its code, which pass the distance *matrix*
     to ``linkage``): the Euclidean distance between the columns of ``D``,
     ``dd_ij = sqrt(sum_k (d_ki - d_kj)^2)``, is what gets clustered; or
   * ``distance="correlation"``: ``d_ij`` itself is clustered — what PyPortfolioOpt's
     ``HRPOpt`` (``squareform(sqrt((1 - corr) / 2))``, single linkage by default), riskfolio-lib
     (``codependence="pearson"``, ``linkage="single"``) and skfolio (``PearsonDistance``, Ward
     linkage by default) do.

   The clusters are agglomerated with ``scipy.cluster.hierarchy.linkage(..., linkage)``;
   ``linkage="single"`` (default, as in the paper and PyPortfolioOpt), ``"complete"``,
   ``"average"`` or ``"ward"``.
2. **Quasi-diagonalisation.** Assets are ordered as the leaves of the dendrogram
   (``leaves_list``, the same order as the paper's recursive replacement of each cluster by its
   two children and as ``to_tree(link).pre_order()``).
3. **Recursive bisection.** Starting with all weights 1, each list of ordered assets is split
   into two *halves* ``L1, L2`` (positions ``[:n//2]`` and ``[n//2:]``, not the dendrogram's own
   clusters); each half's variance is ``V = w' Sigma w`` with inverse-variance weights
   ``w = diag(Sigma)^-1 / tr(diag(Sigma)^-1)`` inside it; ``alpha = 1 - V1 / (V1 + V2)`` scales
   the weights of ``L1`` and ``1 - alpha`` those of ``L2``. HRP weights are long-only and sum
   to 1.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import leaves_list
from scipy.cluster.hierarchy import linkage as _linkage
from scipy.spatial.distance import pdist, squareform

from quantlab.errors import ParameterError

__all__ = ["HRP_DISTANCES", "HRP_LINKAGES", "check_hrp_options", "hrp_order", "hrp_weights"]

HRP_LINKAGES = ("single", "complete", "average", "ward")
HRP_DISTANCES = ("euclidean", "correlation")


def check_hrp_options(linkage: str, distance: str) -> None:
    """Refuse an unknown linkage or distance (one-line message naming the choices)."""
    if linkage not in HRP_LINKAGES:
        raise ParameterError(f"linkage={linkage!r} is unknown; use one of "
                             f"{', '.join(HRP_LINKAGES)}")
    if distance not in HRP_DISTANCES:
        raise ParameterError(f"distance={distance!r} is unknown; use one of "
                             f"{', '.join(HRP_DISTANCES)}")


def _corr(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    return np.clip((corr + corr.T) / 2.0, -1.0, 1.0)


def hrp_order(cov: np.ndarray, linkage: str = "single", distance: str = "euclidean"
              ) -> np.ndarray:
    """Quasi-diagonal order of the assets (positions), stages 1–2."""
    check_hrp_options(linkage, distance)
    n = cov.shape[0]
    if n <= 2:
        return np.arange(n)
    dist = np.sqrt(np.clip((1.0 - _corr(cov)) / 2.0, 0.0, None))
    if distance == "euclidean":
        condensed = pdist(dist, metric="euclidean")
    else:
        np.fill_diagonal(dist, 0.0)
        condensed = squareform(dist, checks=False)
    return leaves_list(_linkage(condensed, method=linkage))


def _cluster_var(cov: np.ndarray, idx: np.ndarray) -> float:
    sub = cov[np.ix_(idx, idx)]
    ivp = 1.0 / np.diag(sub)
    ivp /= ivp.sum()
    return float(ivp @ sub @ ivp)


def hrp_weights(cov: np.ndarray, linkage: str = "single", distance: str = "euclidean"
                ) -> np.ndarray:
    """HRP weights (in the original asset order) of a covariance matrix with positive variances.

    Parameters
    ----------
    cov : array
        Covariance matrix.
    linkage : {"single", "complete", "average", "ward"}
        Agglomeration method of the tree clustering.
    distance : {"euclidean", "correlation"}
        Cluster the Euclidean distance between the columns of the correlation-distance matrix
        (the paper) or the correlation distance ``sqrt((1 - rho) / 2)`` itself (PyPortfolioOpt,
        riskfolio-lib, skfolio).
    """
    cov = np.asarray(cov, dtype="float64")
    order = hrp_order(cov, linkage, distance)
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
