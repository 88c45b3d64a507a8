"""Score the combinations of a parameter sweep on a Dask cluster.

``quantlab.sweep(..., scheduler="dask")`` splits its list of valid combinations into partitions
and scores each partition with :func:`quantlab.backtesting.scoring.score_runs` on a Dask worker:
either on a throwaway :class:`distributed.LocalCluster` of worker processes on this machine
(no ``address``) or on a running cluster (``address="tcp://scheduler:8786"``; its workers need
quantlab installed). The price data is sent to every worker once; partitions come back in
order, so the table equals the one of a local run.

Dask is an optional dependency: ``pip install "quantlab[dask]"``.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from quantlab._validate import check_choice, check_range
from quantlab.errors import ParameterError, QuantlabError

if TYPE_CHECKING:
    from distributed import Client

    from quantlab.backtesting.options import BacktestOptions
    from quantlab.backtesting.prepared import PreparedData
    from quantlab.strategies.base import Strategy

__all__ = ["CONNECT_TIMEOUT", "SCHEDULERS", "check_scheduler", "dask_client", "partition",
           "score_on_dask"]

#: Values of ``sweep(scheduler=...)``.
SCHEDULERS = ("local", "dask")
#: Seconds to wait for a Dask scheduler at ``address`` to answer (and for a worker to join it).
CONNECT_TIMEOUT = 10.0
#: Worker processes of the local cluster started when no ``address`` is given.
DEFAULT_WORKERS = 2
#: Partitions per worker: several, so fast workers take over the work of slow ones.
PARTITIONS_PER_WORKER = 4

_INSTALL = 'pip install "quantlab[dask]"'
_USER_MODULES = "quantlab_user_strategies."  # strategies loaded from a .py file


def _import_distributed() -> Any:
    """The ``distributed`` package, or a one-line error saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise QuantlabError(
            f"scheduler='dask' needs dask.distributed, which is not installed: {_INSTALL}"
        ) from None
    return distributed


def check_scheduler(scheduler: str, address: str | None, workers: int | None
                    ) -> tuple[str, str | None, int | None]:
    """Validate the ``scheduler``, ``address`` and ``workers`` arguments of a sweep.

    Parameters
    ----------
    scheduler : {"local", "dask"}
        Where the combinations are scored.
    address : str, optional
        Address of a running Dask scheduler (``"tcp://host:8786"``); only with ``"dask"``.
    workers : int, optional
        Worker processes of the local Dask cluster; only with ``"dask"`` and no ``address``.

    Returns
    -------
    tuple
        ``(scheduler, address, workers)`` with ``workers`` as an int.

    Raises
    ------
    ParameterError
        An unknown scheduler, or ``address``/``workers`` where they do not apply.
    QuantlabError
        ``scheduler="dask"`` but dask.distributed is not installed.
    """
    check_choice(scheduler, "scheduler", SCHEDULERS)
    if scheduler != "dask":
        for name, value in (("address", address), ("workers", workers)):
            if value is not None:
                raise ParameterError(f"{name} only applies with scheduler='dask'")
        return scheduler, None, None
    if address is not None:
        if not isinstance(address, str) or not address.strip():
            raise ParameterError(f"address must be a Dask scheduler address like "
                                 f"'tcp://host:8786', got {address!r}")
        address = address.strip()
        if workers is not None:
            raise ParameterError("workers sets the size of the local Dask cluster and does not "
                                 "apply with an address (start `dask worker` processes instead)")
    workers = check_range(workers, "workers", 1, integer=True, allow_none=True)
    _import_distributed()
    return scheduler, address, workers


def _check_reachable(address: str, timeout: float) -> None:
    """Fail fast, naming ``address``, when nothing listens there (TCP-based addresses only)."""
    from distributed.comm import parse_address, parse_host_port

    try:
        scheme, loc = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return
        host, port = parse_host_port(loc, default_port=8786)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"address={address!r} is not a Dask scheduler address like "
                             f"'tcp://host:8786' ({exc})") from None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ParameterError(f"cannot reach a Dask scheduler at {address} ({reason}); "
                             "is `dask scheduler` running there?") from None


@contextmanager
def dask_client(address: str | None = None, workers: int | None = None,
                timeout: float = CONNECT_TIMEOUT) -> Iterator[Client]:
    """A Dask client: on a new local cluster, or connected to the scheduler at ``address``.

    Parameters
    ----------
    address : str, optional
        Address of a running scheduler (``"tcp://host:8786"``). Without it, a
        ``LocalCluster`` of ``workers`` single-threaded worker processes listening on
        127.0.0.1 (no dashboard) is started, and closed again on exit; its log messages below
        CRITICAL are not shown (its workers' errors reach the caller as exceptions, and closing
        workers that have imported vectorbt logs harmless heartbeat errors and kill warnings).
    workers : int, optional
        Worker processes of the local cluster (default 2).
    timeout : float
        Seconds to wait for the scheduler at ``address`` to answer and for at least one worker
        to be connected to it.

    Yields
    ------
    distributed.Client
        Closed on exit; a remote cluster itself is left running.

    Raises
    ------
    ParameterError
        Nothing answers at ``address`` within ``timeout``, or no worker is connected to it.
    """
    distributed = _import_distributed()
    if address is None:
        with distributed.LocalCluster(n_workers=workers or DEFAULT_WORKERS, threads_per_worker=1,
                                      processes=True, host="127.0.0.1", dashboard_address=None,
                                      silence_logs=logging.CRITICAL,
                                      # its health-check HTTP server: any free port, not 8787
                                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                      ) as cluster, distributed.Client(cluster) as client:
            yield client
        return
    _check_reachable(address, timeout)
    try:
        client = distributed.Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise ParameterError(f"cannot connect to a Dask scheduler at {address} "
                             f"within {timeout:g} s ({type(exc).__name__})") from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise ParameterError(f"no Dask worker is connected to the scheduler at {address} "
                                 f"(start one with `dask worker {address}`)") from None
        yield client
    finally:
        client.close()


def partition(runs: list[Any], n_workers: int) -> list[list[Any]]:
    """Split ``runs`` into consecutive partitions, about four per worker.

    Parameters
    ----------
    runs : list
        The combinations of a sweep, in table order.
    n_workers : int
        Workers of the cluster.

    Returns
    -------
    list of list
        Partitions of ``ceil(len(runs) / (n_workers * 4))`` runs (at least 1); concatenated,
        they are ``runs``.
    """
    size = max(1, math.ceil(len(runs) / (max(n_workers, 1) * PARTITIONS_PER_WORKER)))
    return [runs[i:i + size] for i in range(0, len(runs), size)]


def _pack(runs: list[Strategy]) -> bytes:
    """Pickle a partition with cloudpickle, a strategy loaded from a ``.py`` file by value.

    Workers cannot import such a strategy's module by name (it exists only in this process);
    Dask pickles plain lists with :mod:`pickle`, which would refer to it by name.
    """
    import sys

    import cloudpickle

    module = type(runs[0]).__module__
    if module.startswith(_USER_MODULES) and module in sys.modules:
        cloudpickle.register_pickle_by_value(sys.modules[module])
    return cloudpickle.dumps(runs)


def _score_packed(packed: bytes, full: PreparedData, pdata: PreparedData, rows: slice,
                  opts: BacktestOptions, chunk_size: int) -> np.ndarray:
    """Worker side: unpickle a partition made by :func:`_pack` and score it with ``score_runs``."""
    import cloudpickle

    from quantlab.backtesting.scoring import score_runs

    return score_runs(cloudpickle.loads(packed), full, pdata, rows, opts, chunk_size)


def _reraise(exc: BaseException) -> None:
    """Re-raise a worker's error: a QuantlabError as it is, a missing module as one line."""
    if isinstance(exc, QuantlabError):
        raise exc
    if isinstance(exc, ImportError):
        raise QuantlabError(
            f"a Dask worker cannot import {exc.name or exc}: the workers need quantlab "
            f"({_INSTALL}) and the strategy's module installed"
        ) from exc
    raise exc


def score_on_dask(
    runs: list[Strategy],
    full: PreparedData,
    pdata: PreparedData,
    rows: slice,
    opts: BacktestOptions,
    chunk_size: int,
    *,
    address: str | None = None,
    workers: int | None = None,
    on_progress: Callable[[int], Any] | None = None,
) -> np.ndarray:
    """:func:`quantlab.backtesting.scoring.score_runs` over partitions of ``runs`` on Dask.

    Parameters
    ----------
    runs, full, pdata, rows, opts, chunk_size
        As for :func:`~quantlab.backtesting.scoring.score_runs`.
    address : str, optional
        A running Dask scheduler; without it a local cluster is started for this call.
    workers : int, optional
        Worker processes of the local cluster (default 2).
    on_progress : callable, optional
        Called with the number of runs of each partition as it finishes.

    Returns
    -------
    dict of str to ndarray
        The metrics of every run in the order of ``runs``, as ``score_runs`` returns them.

    Raises
    ------
    QuantlabError
        The error a worker raised, when it is one (e.g. a :class:`StrategyError`), or a missing
        module on a worker.
    """
    distributed = _import_distributed()
    with dask_client(address, workers) as client:
        n_workers = len(client.scheduler_info().get("workers", {}))
        parts = partition(runs, n_workers)
        # The price data goes to every worker once, not once per partition.
        if pdata is full:
            full_f = pdata_f = client.scatter(full, broadcast=True, hash=False)
        else:
            full_f, pdata_f = client.scatter([full, pdata], broadcast=True, hash=False)
        futures = client.map(_score_packed, [_pack(p) for p in parts], full=full_f, pdata=pdata_f,
                             rows=rows, opts=opts, chunk_size=chunk_size, pure=False)
        where = {f.key: i for i, f in enumerate(futures)}
        results: list[np.ndarray | None] = [None] * len(parts)
        try:
            for fut in distributed.as_completed(futures):
                i = where[fut.key]
                try:
                    results[i] = fut.result()
                except Exception as exc:
                    _reraise(exc)
                if on_progress is not None:
                    on_progress(len(parts[i]))
        finally:
            client.cancel(futures)
    return np.concatenate(results)  # type: ignore[arg-type]
