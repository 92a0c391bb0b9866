# The two set-up commands of the README. Both install first (idempotent, see scripts/install.sh).
PY := .venv/bin/python

.PHONY: install run test unit
install:
	bash scripts/install.sh

run: install
	$(PY) -m sustain $(ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

unit: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)
