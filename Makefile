# The two set-up commands of the README. Both install first (idempotent, see scripts/install.sh).
PY := .venv/bin/python

.PHONY: install run test unit slurm-up slurm-down
install:
	bash scripts/install.sh

run: install
	$(PY) -m sustain $(ARGS)

test: install
	bash scripts/install.sh --llamacpp
	$(PY) -m pytest $(PYTEST_ARGS)

unit: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# A single-node Slurm cluster on this machine (root, Debian/Ubuntu), for trying hydra/launcher=slurm.
slurm-up:
	bash scripts/slurm-local.sh install
	bash scripts/slurm-local.sh up

slurm-down:
	bash scripts/slurm-local.sh down
