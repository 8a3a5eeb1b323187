# Two commands do all the set-up on a fresh machine with Python 3.11+ (README.md):
#   make run    install what is missing, then run coreset-replay on the default (embedded) stream
#   make test   install what is missing, then run the tests
# Each installs into .venv: torch 2.13.0 first (any other route to torch pulls a CUDA build of
# several GB), then the package with the constraint that keeps torch there. The install is
# redone only when pyproject.toml, constraints.txt or EXTRAS change.
# Variables: EXTRAS=dev,models,peft,avalanche (adds the Avalanche interop), PYTHON=python3.12,
# ARGS="--seed 1" (more run flags), PYTEST_ARGS="tests/test_metrics.py".

EXTRAS ?= dev,models,peft
VENV ?= .venv
ARGS ?=
PYTEST_ARGS ?=
# the first Python 3.11+ on the PATH, unless PYTHON is given
PYTHON ?= $(firstword $(foreach p,python3.13 python3.12 python3.11 python3,$(if $(shell command -v $(p) >/dev/null 2>&1 && $(p) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo y),$(p))))
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: run test install clean-venv

run: install
	$(VENV)/bin/python -m benchmark run --strategy coreset-replay $(ARGS)

test: install
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "error: cmtbench needs Python 3.11 or newer on the PATH (or make PYTHON=/path/to/python3.11)" >&2; exit 2; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet "torch==2.13.0"
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed-*
	touch $@

clean-venv:
	rm -rf $(VENV)
