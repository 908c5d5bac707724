# Two commands from a fresh clone (only Python 3.11 needed for the first; Java 17 + Maven for
# the services the test suite starts):
#   make demo   set up, then generate a labelled world, detect, and score the alerts
#   make test   set up, then run the whole test suite (it starts Kafka and Elasticsearch itself)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean services-stop

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/tokenhawk demo

test: install
	$(BIN)/python -m pytest

# benches print figures (they are not timed tests); stream and es start their services
bench: install
	$(BIN)/python bench/normalize.py
	$(BIN)/python bench/detect.py
	$(BIN)/python bench/inventory.py

services-stop:
	-scripts/kafka stop
	-scripts/elasticsearch stop

clean: services-stop
	rm -rf $(VENV) .services out .pytest_cache
