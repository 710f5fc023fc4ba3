# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PHOENIX_VENV := .phoenix-venv
PHOENIX_STAMP := $(PHOENIX_VENV)/.installed

.PHONY: setup test compiled clean-compiled bench-pure bench-run bench-tools demo lint bench lock lock-phoenix clean chromium screenshot

setup: $(STAMP)

$(STAMP): requirements/dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	# compat: the project's folder on sys.path, so that the library mypyc builds beside the
	# packages (llmobs__mypyc, make compiled) is found by every process of the venv too.
	LLMOBS_COMPILE=0 $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation \
		--config-settings editable_mode=compat -e .
	touch $(STAMP)

# Arize Phoenix (a real OTLP receiver) lives in its own venv: its dependencies are not ours.
$(PHOENIX_STAMP): requirements/phoenix.txt
	test -x $(PHOENIX_VENV)/bin/python || $(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/python -m pip install --quiet -r requirements/phoenix.txt
	touch $(PHOENIX_STAMP)

# The viewer's browser tests drive the system's Chromium (Debian's package; Playwright never
# downloads a browser here). Installed when missing, as root; otherwise say what to do.
CHROMIUM ?= $(shell command -v chromium || echo /usr/bin/chromium)
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Chromium is missing: install it (apt-get install chromium as root, or your" \
		"platform's package) or set LLMOBS_TEST_CHROMIUM; the browser tests skip without it" \
		"(and fail when CI=true)."; fi

# The whole suite runs on the accelerator's compiled modules (setup.py), what a built package
# installs; then the suites of the modules it compiles run again on their .py files, the
# reference. The compiled modules are built in place for the run and removed after it, pass or
# fail: the editable install (make setup) is pure Python, so an edit is never shadowed by an
# older compiled module (tests/conftest.py refuses to run beside one).
test: $(STAMP) $(PHOENIX_STAMP) chromium
	$(BIN)/ruff check llmobs_core llmobs_starlette llmobs_django llmobs_celery tests examples bench setup.py
	$(BIN)/mypy
	$(MAKE) --no-print-directory compiled
	LLMOBS_EXPECT_COMPILED=1 LLMOBS_PHOENIX_BIN=$(PHOENIX_VENV)/bin/phoenix \
		$(BIN)/python -m pytest; status=$$?; $(MAKE) --no-print-directory clean-compiled; \
		exit $$status
	LLMOBS_EXPECT_COMPILED=0 LLMOBS_PHOENIX_BIN=$(PHOENIX_VENV)/bin/phoenix \
		$(BIN)/python -m pytest -q tests/core tests/propagation tests/starlette tests/export \
		tests/faults tests/store/test_inbox.py tests/store/test_inbox_stores.py

# A C compiler and Python's headers: installed when missing, as root, from Debian's packages;
# otherwise the build says what is missing and the compiled run stops at its first check.
HAS_PYTHON_H = $(BIN)/python -c "import sysconfig, os, sys; \
	sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))"
compiled: $(STAMP)
	@if command -v cc >/dev/null && $(HAS_PYTHON_H); then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc python3-dev >/dev/null; \
	else echo "The accelerator needs a C compiler and Python's headers (apt-get install gcc" \
		"python3-dev, or your platform's packages)."; fi
	$(BIN)/python setup.py --quiet build_ext --inplace --force

clean-compiled:
	find llmobs_core llmobs_starlette llmobs_django llmobs_celery -name '*.so' -delete
	rm -f llmobs__mypyc.*.so

# The demo keeps its own store, so each run shows just its own traces.
DEMO_STORE := .llmobs/demo.db
PICK_TRACE := import json, sys; traces = [json.loads(line) for line in sys.stdin]; \
	print(next((t for t in traces if t["status"] == "error"), traces[0])["trace_id"])

demo: $(STAMP)
	rm -f $(DEMO_STORE) $(DEMO_STORE)-wal $(DEMO_STORE)-shm
	LLMOBS_LOCAL_PATH=$(DEMO_STORE) $(BIN)/python examples/asgi/assistant_web.py
	LLMOBS_LOCAL_PATH=$(DEMO_STORE) $(BIN)/python examples/celery_demo.py
	$(BIN)/llmobs --path $(DEMO_STORE) traces
	$(BIN)/llmobs --path $(DEMO_STORE) show \
		$$($(BIN)/llmobs --path $(DEMO_STORE) traces --json | $(BIN)/python -c '$(PICK_TRACE)')
	@echo
	@echo "See the same traces in your browser: $(BIN)/llmobs --path $(DEMO_STORE) ui --open"

# The README's picture of the trace view, taken by the browser test from the demo's traces.
screenshot: $(STAMP) chromium
	LLMOBS_SCREENSHOT_DIR=docs/images $(BIN)/python -m pytest -q -p no:randomly \
		tests/viewer/test_browser.py -k readme_screenshot

# The figures are of what a built package runs: the compiled modules, removed afterwards.
# `make bench-pure` gives the pure-Python figures.
# wrk loads the ASGI and Django servers (without it, a Python loop that saturates about when
# they do); valgrind counts instructions. Installed from Debian's packages where missing.
bench-tools:
	@missing=""; for tool in wrk valgrind; do command -v $$tool >/dev/null || \
		missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "Missing:$$missing (apt-get install$$missing, or your platform's packages);" \
		"the benches that need them say so and fall back or skip."; fi

bench: $(STAMP) bench-tools
	$(MAKE) --no-print-directory compiled
	$(MAKE) --no-print-directory bench-run; status=$$?; \
		$(MAKE) --no-print-directory clean-compiled; exit $$status

bench-pure: $(STAMP) bench-tools clean-compiled
	$(MAKE) --no-print-directory bench-run

bench-run: $(STAMP)
	$(BIN)/python bench/hot_path.py
	$(BIN)/python bench/writer.py
	$(BIN)/python bench/writer_memory.py
	$(BIN)/python bench/export_cost.py
	if command -v valgrind >/dev/null; then $(BIN)/python bench/export_cost.py --instructions; \
	else echo "bench/export_cost.py --instructions skipped: valgrind is not installed"; fi
	$(BIN)/python bench/local_store.py
	$(BIN)/python bench/asgi_middleware.py
	if command -v valgrind >/dev/null; then $(BIN)/python bench/asgi_instructions.py; \
	else echo "bench/asgi_instructions.py skipped: valgrind is not installed"; fi
	$(BIN)/python bench/django_middleware.py
	if command -v valgrind >/dev/null; then $(BIN)/python bench/django_middleware.py --instructions; \
	else echo "bench/django_middleware.py --instructions skipped: valgrind is not installed"; fi
	$(BIN)/python bench/remote_export.py
	$(BIN)/python bench/celery_tasks.py
	if command -v valgrind >/dev/null; then $(BIN)/python bench/celery_tasks.py --instructions; \
	else echo "bench/celery_tasks.py --instructions skipped: valgrind is not installed"; fi
	$(BIN)/python bench/llm_clients.py

# Re-pin every development dependency from requirements/dev.in.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements/dev.in
	.lock-venv/bin/pip freeze --exclude-editable > requirements/dev.txt
	rm -rf .lock-venv

lock-phoenix:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet arize-phoenix
	.lock-venv/bin/pip freeze > requirements/phoenix.txt
	rm -rf .lock-venv

clean: clean-compiled
	rm -rf $(VENV) $(PHOENIX_VENV) .llmobs build *.egg-info
