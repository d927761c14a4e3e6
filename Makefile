# The two commands of spinrl. Both work on a fresh clone: they create .venv and install into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Train the best algorithm spinrl has on CartPole-v1, then plot its learning curve.
run: $(STAMP)
	$(BIN)/spinrl train ppo --env CartPole-v1 --seed 0 --total-steps 100000 --exp-name make_run --data-dir data --overwrite
	$(BIN)/spinrl plot data/make_run --value AverageEpRet --out data/make_run/learning_curve.png
	@echo "run directory:  data/make_run/make_run_s0"
	@echo "learning curve: data/make_run/learning_curve.png"

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache .hypothesis
