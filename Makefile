# quantlab — two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed.stamp
# e.g. make bench SCALE_ARGS="--bars 52560" (a tenth of the minute-bar year)
SCALE_ARGS ?=
export MPLBACKEND := Agg

.PHONY: demo test lint bench venv clean stack

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("quantlab needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name quantlab --display-name "Python (quantlab)" >/dev/null
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/quantlab demo --out reports/demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_sweep_scale.py $(SCALE_ARGS)
	$(BIN)/python benchmarks/bench_backtest_cold.py
	$(BIN)/python benchmarks/bench_risk.py
	$(BIN)/python benchmarks/bench_portfolio.py
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/bench_nightly.py
	$(BIN)/python benchmarks/bench_live.py

# The operations stack on this machine against the local fake exchange (README "Operations"):
# fake Binance on 127.0.0.1:8765, then quantlab serve with deploy/local/serve.toml (data engine,
# two paper runners, alert sink, Prometheus, Alertmanager). Ctrl-C stops everything.
stack: $(STAMP)
	mkdir -p state
	test -d strategies/btc_sma || $(BIN)/quantlab promote notebooks/research.ipynb --name btc_sma
	test -d strategies/eth_sma || $(BIN)/quantlab promote notebooks/research.ipynb \
		--name eth_sma -p symbol=ETH/USDT
	$(BIN)/python -m quantlab.live.fake_exchange --port 8765 --sample --start 2025-01-01 \
		--speed 86400 & fake=$$!; trap 'kill $$fake 2>/dev/null' EXIT INT TERM; \
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/quantlab serve --config deploy/local/serve.toml

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
