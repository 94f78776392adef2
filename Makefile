# The two quick-start commands: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The benchmarks: every script in bench/ but the helpers, whose names start with `_`.
BENCHES := $(filter-out bench/_%,$(wildcard bench/*.py))

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "mediator needs Python 3.11 or newer: set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[fast,test,bench,dev,postgres]'
	@touch $@

demo: $(BIN)/.installed
	$(BIN)/mediator demo

# Before the first run's long silence, say that it builds the real Tryton (only when it will).
test: $(BIN)/.installed
	@$(BIN)/python -c 'from mediator.testing.tryton_server import cache_is_ready as ready; \
	ready() or print("make test: the first run builds a real Tryton 8.2 ERP for the tryton-marked " \
	"tests into $$MEDIATOR_TRYTON_CACHE or ~/.cache/mediator (about 45 s, silent, once); later runs reuse it", flush=True)'
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict mediator tests bench

# `make bench QUICK=1` passes --quick to each (a smaller run, to check that they work).
bench: $(BIN)/.installed
	@echo "make bench: $(notdir $(BENCHES)), one after another$(if $(QUICK), (--quick)); each prints its JSON"
	@start=$$(date +%s); \
	for b in $(BENCHES); do \
		echo "== $$b"; t=$$(date +%s); \
		$(BIN)/python $$b $(if $(QUICK),--quick) || exit 1; \
		echo "== $$b: $$(( $$(date +%s) - t )) s"; \
	done; \
	echo "make bench: done in $$(( $$(date +%s) - start )) s"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
