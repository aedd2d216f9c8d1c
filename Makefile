# Quickstart targets.  `make demo`: install, train spa-en-quick, evaluate, export, serve.
# Each step is skipped when its output exists (delete runs/<name> or exports/<name>
# to redo it).  Variables: PYTHON (for the venv), HOST, PORT, DEMO_ARGS.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 7860
DEMO_ARGS ?=

.PHONY: help install reinstall demo dates-demo serve test test-fast lint models
.SECONDARY:  # keep the run folders and exports make builds along the way

help:
	@echo "make demo        install, train spa-en-quick (Spanish->English), export it, start the demo"
	@echo "make dates-demo  the same with the small dates model (a few minutes end to end)"
	@echo "make serve       start the demo on what is in exports/ (HOST=$(HOST) PORT=$(PORT))"
	@echo "make test        the test suite (python -m pytest; browser tests need /usr/bin/chromium)"
	@echo "make lint        ruff check + format check"

# The venv and the package (editable, with the dev extras).  Skipped when they import.
install:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import translator, gradio, tensorflow_text, gradio_client" 2>/dev/null \
		|| $(PY) -m pip install -e ".[dev]"

reinstall:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e ".[dev]"

# runs/<preset>: training writes summary.json last, so it marks a finished run.  An
# interrupted run (a checkpoint but no summary) is resumed.  --download fetches a
# missing corpus (spa-eng: 2.6 MB) unless TRANSLATOR_DATA_DIR already has it.
runs/%/summary.json: | install
	@if [ -f runs/$*/checkpoints/last.keras ]; then \
		$(PY) -m translator.train --resume --output runs/$* --download; \
	else \
		$(PY) -m translator.train --config $* --output runs/$* --download; \
	fi

# Test-split scores (BLEU, exact match, ...) and, where a preset has one, its
# phrasebook count; the export copies them into its metadata and the demo shows them.
PHRASEBOOK_spa-en-quick := tests/data/spa-en-everyday.tsv
runs/%/eval/test.json: runs/%/summary.json
	$(if $(PHRASEBOOK_$*),$(PY) -m translator.evaluate --run runs/$* --phrasebook $(PHRASEBOOK_$*))
	$(PY) -m translator.evaluate --run runs/$* --split test --download --no-progress

exports/%/saved_model.pb: runs/%/eval/test.json
	$(PY) -m translator.export --run runs/$* --out exports/$* --force

models: exports/spa-en-quick/saved_model.pb

demo: install exports/spa-en-quick/saved_model.pb
	$(PY) app.py --models exports --host $(HOST) --port $(PORT) $(DEMO_ARGS)

dates-demo: install exports/dates/saved_model.pb
	$(PY) app.py --models exports --host $(HOST) --port $(PORT) $(DEMO_ARGS)

serve: install
	$(PY) app.py --models exports --host $(HOST) --port $(PORT) $(DEMO_ARGS)

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not browser" --deselect tests/test_notebook.py

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
