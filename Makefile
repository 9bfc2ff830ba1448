# Every target sets up what it needs itself: a fresh machine needs only Python 3.10+ and make.
VENV ?= .venv
PY := $(VENV)/bin/python
BYOC := $(VENV)/bin/byoc
DEMO ?= demo
EXTRAS ?= train,serve,driver,tabular,dev

# The tiers select on the markers tests/conftest.py applies (see docs/development.md).
FAST := not slow and not docker and not sdk
# The fast tier runs on this many pytest-xdist workers (FAST_WORKERS=0: one process).
FAST_WORKERS ?= 2
RUN := PATH="$(CURDIR)/$(VENV)/bin:$$PATH"
# pytest's exit 5 ("no tests collected") is no failure when PYTEST_ARGS narrows a tier to nothing.
STAGE := $(RUN) bash scripts/pytest-stage.sh

.PHONY: help setup demo check test test-sdk lint docs image image-serving image-gpu bench clean

help:
	@echo "make demo    set up, then synthesize signs, train, evaluate, serve and invoke (no Docker)"
	@echo "make check   set up, then the fast tier: lint, unit, moto, codecs, small fuzz (minutes)"
	@echo "make test    set up, then run the whole test suite: the fast tier first, then the rest"
	@echo "make test-sdk  only the SageMaker Python SDK suite (tests/sdk; Docker and Compose)"
	@echo "make image   build the CPU image (BASE_IMAGE=... to override the base)"
	@echo "make image-serving  build the serving-only image byoc:serving (LiteRT, no TensorFlow)"
	@echo "make image-gpu  build the GPU image byoc:gpu (tensorflow[and-cuda] wheels, about 6 GB)"
	@echo "make bench   run the benchmark scripts and print their tables"
	@echo "make docs    build the documentation site into site/ (mkdocs build --strict)"

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(RUN) bash scripts/demo.sh $(DEMO)

# For every edit: no Docker, no SDK virtualenv, no training beyond a few seconds, a tenth of
# each fuzz property's examples, and the docs pages' walkthroughs left to `make test`.
check: setup
	$(VENV)/bin/ruff check src tests benchmarks
	BYOC_TIER=check $(STAGE) "fast tier" $(PY) -m pytest -m "$(FAST) and not walkthrough" -n $(FAST_WORKERS) --durations=10 $(PYTEST_ARGS)

# Everything, in two stages: the fast tier (with every fuzz example) fails in minutes; then what
# trains, searches, builds images or runs the SDK, as two sessions side by side (containers, and
# the rest: scripts/slow-tier.sh). The SDK suites' virtualenvs, when missing or stale, are made in
# the background meanwhile (log in .venv-sdk.log): the fast tier needs neither, and the SDK tests
# wait for them.
test: setup
	@if [ -z "$(PYTEST_ARGS)" ]; then $(RUN) $(PY) -m tests.support.sdk >.venv-sdk.log 2>&1 & fi
	$(STAGE) "fast tier" $(PY) -m pytest -m "$(FAST)" -n $(FAST_WORKERS) --durations=25 $(PYTEST_ARGS)
	$(RUN) bash scripts/slow-tier.sh $(PY) $(PYTEST_ARGS)

# The SDK suite makes its own virtualenvs (.venv-sdk2, .venv-sdk3) from tests/sdk/requirements-*.
test-sdk: setup
	$(STAGE) "SDK suite" $(PY) -m pytest tests/sdk --durations=25 $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/hadolint Dockerfile Dockerfile.gpu

# The site of docs/ (mkdocs.yml). --strict: a broken link, a missing page or a page left out of
# the nav fails the build.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

image:
	docker build --network host $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) -t byoc:cpu -f Dockerfile .

# The same recipe with the serve extra alone: LiteRT, no TensorFlow, `serve` only.
image-serving:
	docker build --network host $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) --build-arg EXTRAS=serve -t byoc:serving -f Dockerfile .

# The same recipe with tensorflow[and-cuda]: CUDA and cuDNN come as pip wheels (scripts/gpu-check.sh
# checks it on a machine with a GPU).
image-gpu:
	docker build --network host $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) -t byoc:gpu -f Dockerfile.gpu .

bench: setup
	$(RUN) $(PY) -m benchmarks.training_throughput --epochs 6
	$(RUN) $(PY) -m benchmarks.serving_latency
	$(RUN) $(PY) -m benchmarks.serving_runtimes
	$(RUN) $(PY) -m benchmarks.serving_chunks
	$(RUN) $(PY) -m benchmarks.accuracy --check
	$(RUN) $(PY) -m benchmarks.tabular_targets

clean:
	rm -rf $(VENV) .venv-sdk2 .venv-sdk3 .venv-sdk*.lock .venv-sdk.log $(DEMO) .pytest_cache site
