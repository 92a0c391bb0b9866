# The two set-up commands of the README. Both install first (idempotent, see scripts/install.sh).
PY := .venv/bin/python

.PHONY: install run test unit docs slurm-up slurm-down
install:
	bash scripts/install.sh

run: install
	$(PY) -m sustain $(ARGS)

test: install
	bash scripts/install.sh --llamacpp
	$(PY) -m pytest $(PYTEST_ARGS)

unit: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# The docs site (docs/, mkdocs.yml) into site/; --strict fails on a broken link or anchor.
docs: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

# A single-node Slurm cluster on this machine (root, Debian/Ubuntu), for trying hydra/launcher=slurm.
slurm-up:
	bash scripts/slurm-local.sh install
	bash scripts/slurm-local.sh up

slurm-down:
	bash scripts/slurm-local.sh down
