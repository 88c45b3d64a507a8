"""``quantlab live``: run a promoted strategy on paper, in replay or on a real exchange.

One runner (:mod:`.runner`) for every mode: it waits for each bar to close (exchange time),
decides with the artifact's own ``signals()`` on a rolling window, steps the backtest
simulator's state by that bar (the *model*), and hands the model's orders to a broker — the
simulator itself on paper and in replay, ccxt on a real exchange. Around it:

- :mod:`.config`   TOML configuration with environment overrides (risk limits, breaker, orders)
- :mod:`.model`    the simulator state(s) the runner steps (one account, or one per sleeve)
- :mod:`.types`    order intents, order records and fills shared by brokers, store and runner
- :mod:`.store`    SQLite (WAL) state of one runner; :mod:`.audit` its hash-chained audit log
- :mod:`.risk`     pre-trade risk guard; :mod:`.breaker` the three-level circuit breaker
- :mod:`.feed`     closed bars from ccxt (REST polling / websockets) or from history (replay)
- :mod:`.brokers`  paper (the simulator) and ccxt (real orders, client order ids)
- :mod:`.api`      aiohttp control/health/metrics endpoints; :mod:`.metrics` Prometheus series
- :mod:`.fake_exchange`  a local fake Binance (REST) for tests and for trying paper mode offline
"""

from __future__ import annotations
