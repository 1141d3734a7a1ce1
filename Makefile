# The two entry points of the README. Each creates its own virtual environment.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint golden bench clean

$(BIN)/gen-iac: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,export]'
	touch $@

# Generate Terraform and Bicep for the example snapshot into ./out.
run: $(BIN)/gen-iac
	$(BIN)/gen-iac --target terraform --target bicep --out out; \
	  status=$$?; [ $$status -le 1 ] || exit $$status; echo "See out/MIGRATION.md"

# The whole suite, as CI runs it (hclfmt is built from Debian's HCL sources first).
test: $(BIN)/gen-iac
	scripts/install-hclfmt.sh
	$(BIN)/ruff check generator tests scripts
	$(BIN)/mypy
	PATH="$(CURDIR)/.tools/bin:$$PATH" $(BIN)/python -m pytest -q

golden: $(BIN)/gen-iac
	$(BIN)/python -m tests.regen

bench: $(BIN)/gen-iac
	$(BIN)/python scripts/benchmark.py

clean:
	rm -rf $(VENV) .tools out
