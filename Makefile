# Two commands on a fresh machine: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export AIGW_DATA_DIR ?= $(CURDIR)/.aigw

.PHONY: run test test-replicas test-vllm check-manifests lint format proto install clean bench bench-peers

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED)

## run: start the whole suite with the simulator as a demo model; prints a curl line to try
run: $(INSTALLED)
	$(BIN)/aigw up --demo

## test: the whole test suite (unit, servicer, in-process server and end-to-end tests)
test: $(INSTALLED)
	$(BIN)/pytest

## test-replicas: two replicas of every service behind HAProxy on PostgreSQL (installs HAProxy)
test-replicas: $(INSTALLED)
	scripts/install-test-balancer
	timeout 600 $(BIN)/pytest -m replicas tests/replicas -s

## check-manifests: render deploy/kubernetes's overlays and validate them offline; lint compose.yaml
check-manifests: $(INSTALLED)
	timeout 300 scripts/check-manifests

## test-vllm: the suite end to end in front of a real vLLM (CPU build, a tiny random-weight
## model written at test time); installs vLLM once into ~/.cache/aigw, outside .venv
test-vllm: $(INSTALLED)
	AIGW_VLLM_PYTHON="$$(scripts/vllm_env.sh)" $(BIN)/pytest -m vllm tests/vllm -s

## lint: ruff, mypy, and buf lint/format on the contracts
lint: $(INSTALLED)
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/ruff format --check src tests scripts bench
	$(BIN)/mypy
	cd proto && ../$(BIN)/buf lint && ../$(BIN)/buf format --diff --exit-code

format: $(INSTALLED)
	$(BIN)/ruff check --fix src tests scripts bench
	$(BIN)/ruff format src tests scripts bench
	cd proto && ../$(BIN)/buf format -w

## proto: regenerate src/aigw from proto/ (commit the result)
proto: $(INSTALLED)
	$(BIN)/python scripts/gen_protos.py

## bench: aigw vs direct calls to the simulator (docs/performance.md); BENCH_ARGS=--quick etc.
bench: $(INSTALLED)
	$(BIN)/python -m bench $(BENCH_ARGS)

## bench-peers: install LiteLLM and Portkey into .bench-peers/ (never into .venv), then compare
bench-peers: $(INSTALLED)
	bench/peers/install.sh
	$(BIN)/python -m bench --only peers $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .aigw .pytest_cache .mypy_cache .ruff_cache .bench-peers
