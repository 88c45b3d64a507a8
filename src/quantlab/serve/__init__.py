"""``quantlab serve``: operations around the live runners.

The supervisor of several runners and the data engine, their REST API, and the Alertmanager
webhook sink (:mod:`quantlab.serve.alerts`, ``quantlab alerts serve``) that records every alert
and forwards it to a URL or by email.

The supervisor (``quantlab serve [--config serve.toml]``, see ``serve.example.toml``):

* :mod:`~quantlab.serve.config` — :class:`ServeConfig`: the TOML file and its environment
  overrides (``MODE``, ``QUANTLAB_SERVE_PORT``, ``ENABLE_<COMPONENT>``...), secrets masking;
* :mod:`~quantlab.serve.entries` — its tables: ``[serve]``, ``[[runner]]``, ``[components.NAME]``;
* :mod:`~quantlab.serve.specs` — the command line and environment of each component, start
  order, Prometheus ``file_sd`` targets;
* :mod:`~quantlab.serve.process` — one child process in its own session, its rotating log;
* :mod:`~quantlab.serve.component` — one supervised component: health checks, restarts with
  exponential backoff, ``critical`` after ``max_restarts`` within ``restart_window_s``;
* :mod:`~quantlab.serve.supervisor` — :class:`Supervisor` (ordered start and shutdown, operator
  actions, hash-chained audit in ``state/serve.sqlite``) and :func:`run_serve`;
* :mod:`~quantlab.serve.api` — the REST API (``/api/status``, ``/api/health``,
  ``/api/metrics``, ``/api/components``, restarts, shutdown) with
  :mod:`~quantlab.serve.ratelimit`;
* :mod:`~quantlab.serve.metrics` — the supervisor's Prometheus series.

The data engine (``quantlab data-engine --config engine.toml``, see ``engine.example.toml``):

* :mod:`~quantlab.serve.engine` — :class:`DataEngine`: closed bars of one exchange group,
  validated, written to a SQLite bar store for the runners
  (:class:`~quantlab.live.feed_engine.EngineFeed`), failover websocket → REST → next source
  and back; :func:`run_engine`;
* :mod:`~quantlab.serve.engine_config` — ``[engine]`` and ``[[source]]`` with environment
  overrides;
* :mod:`~quantlab.serve.engine_source` — one exchange: REST fetches and validation, its kline
  websocket, its health;
* :mod:`~quantlab.serve.engine_ladder` — the failover paths and the rules between them;
* :mod:`~quantlab.serve.engine_checks` — the quality checks of each new bar;
* :mod:`~quantlab.serve.engine_store` — the bar store (bars, heartbeat, audit);
* :mod:`~quantlab.serve.engine_metrics` and :mod:`~quantlab.serve.engine_http` — its
  Prometheus series, ``/metrics``, ``/health`` and ``/status``.
"""
