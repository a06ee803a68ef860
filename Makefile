# Two commands do all the set-up on a fresh machine:
#   make run   creates .venv from uv.lock and runs the whole pipeline on the SYNTHETIC demo set
#   make test  creates .venv from uv.lock and runs the tests
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .venv-uv/bin/uv)
EXTRA ?= cpu
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= true

.PHONY: setup browser run test screenshots bench clean

.venv-uv/bin/uv:
	$(PYTHON) -m venv .venv-uv && .venv-uv/bin/pip install -q "uv==0.13.9"

setup: $(if $(findstring .venv-uv,$(UV)),.venv-uv/bin/uv)
	$(UV) sync --locked --extra $(EXTRA) --compile-bytecode
	@.venv/bin/python -c "from genre.data.audio import ffmpeg_exe; print('ffmpeg:', ffmpeg_exe())" || \
	  (echo "ffmpeg is missing: install it (apt-get install ffmpeg) or check that imageio-ffmpeg installed"; exit 1)
	@.venv/bin/python -c "from genre.features.numba_cache import import_librosa; import_librosa()"  # numba's cache, built once

run: setup
	.venv/bin/genre run $(ARGS)

# The browser tests (tests/test_page.py) drive Debian's chromium through playwright, which downloads no browser:
# installed here where we can (root with apt-get), else said plainly; without it those tests fail, saying why.
CHROMIUM ?= $(or $(GENRE_CHROMIUM),/usr/bin/chromium)
export GENRE_CHROMIUM := $(CHROMIUM)
browser:
	@if [ -x "$(CHROMIUM)" ]; then \
	  echo "chromium: $(CHROMIUM)"; \
	elif [ "$(CHROMIUM)" = /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium for the browser tests (apt-get install chromium)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; } || \
	    echo "*** apt-get could not install chromium: tests/test_page.py will fail until it is installed"; \
	else \
	  echo "*** The browser tests need Chromium at $(CHROMIUM) and it is missing. Install it:"; \
	  echo "***   Debian: sudo apt-get install chromium    Ubuntu/other: your package manager's chromium"; \
	  echo "***   elsewhere: make test CHROMIUM=/path/to/chromium. Until then tests/test_page.py fails."; \
	fi

test: setup browser
	.venv/bin/python -m pytest $(PYTEST_ARGS)

screenshots: setup browser  # docs/page-*.png from the champion of $GENRE_HOME (or .genre): ARGS="--home DIR"
	.venv/bin/python scripts/screenshots.py $(ARGS)

bench: setup  # the quick speed measurements of BENCHMARKS.md (about 10 minutes on 2 cores); the others (cnn, ensemble,
              # pretrained, serve, runtime, mutation) need a champion or take much longer: their commands are in BENCHMARKS.md
	.venv/bin/python bench/features.py
	.venv/bin/python bench/ingest.py
	.venv/bin/python bench/validate.py --rows 1000 4000 --repeat 2
	.venv/bin/python bench/classical.py --part table --iterations 6

clean:
	rm -rf .genre .pytest_cache

# Prefect: a local server with its UI, the deployments of prefect.yaml, and a worker.
# `make stack` does all of it in one terminal (Ctrl-C stops everything); the three targets below do it step by step.
PREFECT := .venv/bin/prefect
.PHONY: stack stack-down server deploy worker
stack: setup
	scripts/stack.sh

stack-down:
	scripts/stack.sh down

server: setup
	$(PREFECT) server start --host 127.0.0.1 --port 4200

deploy: setup
	PREFECT_API_URL=http://127.0.0.1:4200/api $(PREFECT) work-pool create genre-local --type process --overwrite
	PREFECT_API_URL=http://127.0.0.1:4200/api $(PREFECT) --no-prompt deploy --all

worker: setup
	PREFECT_API_URL=http://127.0.0.1:4200/api $(PREFECT) worker start --pool genre-local
