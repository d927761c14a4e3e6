# The two commands of spinrl. Both work on a fresh clone: they create .venv and install into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test docs lint format clean

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
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs
	$(MAKE) docs
	$(BIN)/python -m pytest

# The documentation site, built into site/ with --strict: any warning (a broken link, a
# reference to a function or test that does not exist) fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	@echo "docs: site/index.html"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks docs
	$(BIN)/ruff check --fix src tests benchmarks docs

clean:
	rm -rf $(VENV) build site src/*.egg-info .pytest_cache .ruff_cache .hypothesis
