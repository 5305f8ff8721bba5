# Two commands for a fresh machine:  make run  and  make test
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= data/sim
N_PATIENTS ?= 30
SEED ?= 42

.PHONY: run test test-fast lint format sample bench clean browser explain clip gpu-wheels

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

# Simulate the default competition (git-ignored data/sim), score the prior, train `quick`, write submission.csv
run: $(VENV)/.installed
	$(PY) -m hms synth --out $(DATA) --n-patients $(N_PATIENTS) --max-eegs-per-patient 15 --seed $(SEED)
	$(PY) -m hms folds --train $(DATA)/train.csv --out files/folds.csv --n-folds 5 --seed $(SEED)
	$(PY) -m hms baseline --data $(DATA) --folds files/folds.csv --out models/baseline
	$(PY) -m hms train --config configs/quick.yaml --data $(DATA)
	$(PY) -m hms leaderboard
	$(PY) submission.py --data $(DATA) --experiment-dir models/quick --out submission.csv
	$(PY) -m hms score --solution $(DATA)/test_votes.csv --submission submission.csv

# The whole suite (CI runs this): the fast tier and the end-to-end tests marked slow
test: $(VENV)/.installed browser
	$(PY) -m pytest -q

# The fast tier only: everything but the tests marked slow (notebooks, subprocess submissions, DDP, the report in
# Chromium); for the edit-test loop
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow"

# Debian's Chromium, for the test that renders the explanation report headless (needs root; says so otherwise)
browser:
	@command -v chromium >/dev/null || apt-get install -y -qq chromium >/dev/null 2>&1 \
	  || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "could not install chromium (apt-get install -y chromium as root); the report-rendering test will skip"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

# Benchmarks compare against reference implementations in the same run (needs make run's data/sim)
bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt -c constraints.txt
	test -f $(DATA)/train.csv || $(PY) -m hms synth --out $(DATA) --n-patients $(N_PATIENTS) --max-eegs-per-patient 15 --seed $(SEED)
	$(PY) benchmarks/bench_prepare.py --sim $(DATA)
	test -f models/quick/fold0.safetensors || $(MAKE) run
	$(PY) benchmarks/bench_submission.py --experiment quick:$(DATA) $(if $(wildcard models/bench/fold0.safetensors),--experiment bench:data/bench)

# Wheels for benchmarks/gpu_suite.sh on a GPU machine with torch and no internet (Linux x86_64, Python GPU_PY):
# what benchmarks/gpu_requirements.txt needs beyond torch, at the versions installed here. GPU_SKIP=pandas,pyarrow
# leaves out what that machine has (the device tool carries at most 64 MiB).
GPU_PY ?= 3.11
GPU_SKIP ?=
gpu-wheels: $(VENV)/.installed
	$(PY) benchmarks/gpu_wheel_list.py --skip "$(GPU_SKIP)" > gpu_wheels.txt
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version $(GPU_PY) \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  --dest gpu_wheels -r gpu_wheels.txt
	du -sh gpu_wheels

# SAE + stacker + explanation report for an experiment trained by make run (EXPERIMENT=quick DATA=data/sim); first
# the per-position SAE, whose pass over the label rows also fills the embeddings cache (POSITIONS=0 skips it: a
# network without a feature map, e.g. a ViT)
EXPERIMENT ?= quick
POSITIONS ?= 1
explain: $(VENV)/.installed browser
	test -f models/$(EXPERIMENT)/fold0.safetensors || $(MAKE) run
	$(if $(filter 1,$(POSITIONS)),$(PY) -m hms sae --positions --experiment $(EXPERIMENT) --data $(DATA))
	$(PY) -m hms sae --experiment $(EXPERIMENT) --data $(DATA)
	$(PY) -m hms stack --experiment $(EXPERIMENT) --data $(DATA)
	$(PY) -m hms explain --experiment $(EXPERIMENT) --data $(DATA) --screenshot

# EEG-CLIP from the supervised CNN of each fold of an experiment, its benchmark (zero-shot, few-shot, retrieval,
# side in words, side probe), and the explanation report with feature words (EXPERIMENT=quick DATA=data/sim)
clip: $(VENV)/.installed browser
	test -f models/$(EXPERIMENT)/fold0.safetensors || $(MAKE) run
	$(PY) -m hms clip --data $(DATA) --set name=$(EXPERIMENT) --set init_from=models/$(EXPERIMENT)
	$(PY) benchmarks/bench_clip.py --data $(DATA) --clip models/$(EXPERIMENT)/clip --supervised models/$(EXPERIMENT)
	$(PY) benchmarks/bench_clip_side.py --data $(DATA) --clip models/$(EXPERIMENT)/clip --supervised models/$(EXPERIMENT)
	test -f models/$(EXPERIMENT)/sae/fold0.safetensors || $(PY) -m hms sae --experiment $(EXPERIMENT) --data $(DATA)
	test -f models/$(EXPERIMENT)/stack/best.json || $(PY) -m hms stack --experiment $(EXPERIMENT) --data $(DATA)
	$(PY) -m hms explain --experiment $(EXPERIMENT) --data $(DATA) --screenshot

# Regenerate the small committed sample in sample_data/
sample: $(VENV)/.installed
	$(PY) -m hms synth --out sample_data --n-patients 2 --n-test-patients 1 --seed 9 --max-eegs-per-patient 2 --force

clean:
	rm -rf data cache models/baseline models/quick submission.csv .pytest_cache
