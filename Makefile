# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test demo lint bench lock clean

setup: $(STAMP)

$(STAMP): requirements/dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check llmobs_core llmobs_starlette llmobs_django llmobs_celery tests examples bench
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/python examples/assistant.py

bench: $(STAMP)
	$(BIN)/python bench/hot_path.py

# Re-pin every development dependency from requirements/dev.in.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements/dev.in
	.lock-venv/bin/pip freeze --exclude-editable > requirements/dev.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .llmobs build *.egg-info
