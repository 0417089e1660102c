# cacheinspect developer entry points. Every target installs what it needs itself, so a fresh clone
# on a fresh machine works with `make test` / `make e2e` / `make demo` alone.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: venv deps lint type unit test e2e demo bench fuzz fixtures testbed-up testbed-down clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/.installed  ## create the virtualenv and install cacheinspect with dev extras

deps:  ## install the Debian packages the integration tests and benchmarks use (when missing)
	bash testbed/apt-deps.sh

lint: venv  ## ruff
	$(BIN)/ruff check cacheinspect tests benchmarks
	$(BIN)/ruff format --check cacheinspect tests benchmarks

type: venv  ## mypy --strict on the package
	$(BIN)/mypy

unit: venv  ## pytest without lint/type (fast loop)
	$(BIN)/pytest $(PYTEST_ARGS)

test: venv deps lint type  ## lint, types and the whole pytest suite against real registries on loopback
	$(BIN)/pytest $(PYTEST_ARGS)

e2e: venv deps  ## bring up the real BuildKit test bed (both engines) and run the tests marked e2e on each
	bash testbed/e2e.sh

demo: venv  ## inspect and diff the bundled fixtures (offline, no registry)
	bash testbed/demo.sh

fuzz: venv  ## the long fuzz runs: 100,000 mutated caches, then 100,000 hostile inputs over every CLI surface
	$(BIN)/python -m tests.fuzz.run --cases 100000 --workers 2
	$(BIN)/python -m tests.fuzz.surfaces --cases 100000 --workers 2

bench: venv deps  ## benchmarks, printed as tables
	$(BIN)/python -m benchmarks

fixtures: venv deps  ## regenerate fixtures/ with real BuildKit builds (slow)
	bash testbed/make-fixtures.sh

testbed-up:  ## start dockerd 26.1 (BuildKit v0.13) and dockerd 28.5 (BuildKit v0.25) + a registry; prints the env files
	bash testbed/buildkit.sh up

testbed-down:  ## stop everything testbed-up started
	bash testbed/buildkit.sh down

clean:  ## remove the venv and build dir
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
