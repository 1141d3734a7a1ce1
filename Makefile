# The two entry points of the README. Both use one virtual environment, .venv: `make run`
# installs only what generating needs (seconds), `make test` adds the test, export and smoke
# extras. Each install has its own stamp, so a .venv made by `make run` still gets the
# extras when `make test` runs later, and a change to pyproject.toml re-installs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP  := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test toolchain golden bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The generator alone: jinja2 and PyYAML.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

# Everything the suite needs, and the SDK v1 export, and the inference server for smoke
# (a superset of what `run` installs, so it counts for `run` too).
$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,export,smoke]'
	touch $@ $(RUN_STAMP)

# Generate Terraform and Bicep for the example snapshot into ./out, then say how to go on.
run: $(RUN_STAMP)
	@$(BIN)/gen-iac --target terraform --target bicep --out out; \
	  status=$$?; [ $$status -le 1 ] || exit $$status
	@echo
	@echo "gen-iac is installed in $(VENV). Next, as in README.md:"
	@echo "  source $(VENV)/bin/activate && gen-iac --help"
	@echo "  (or without activating: $(BIN)/gen-iac --help)"

# The whole suite, as CI runs it (hclfmt is built from Debian's HCL sources first, and the
# Terraform engine and providers from the Go module proxy: see scripts/toolchain.sh;
# actionlint from its Go module).
test: $(TEST_STAMP)
	scripts/install-hclfmt.sh
	scripts/toolchain.sh
	scripts/install-actionlint.sh
	$(BIN)/ruff check generator tests scripts
	$(BIN)/mypy
	PATH="$(CURDIR)/.tools/bin:$$PATH" $(BIN)/python -m pytest -q

# The real engine (Terraform on PATH >= 1.11, else OpenTofu built here) and the pinned
# providers, built from the Go module proxy into .tools/ (cached in ~/.cache/gen-iac/toolchain).
toolchain: $(RUN_STAMP)
	scripts/toolchain.sh

golden: $(TEST_STAMP)
	$(BIN)/python -m tests.regen

# Measures, asserts nothing: 1k, 10k, 20k services, both targets, median of 3 (minutes); then
# day 2 at 10k per layout: one change re-generated, a first and an up-to-date --check.
# A quick look: make bench BENCH_ARGS='--counts 1000 --day2-counts 1000 --repeats 1'
bench: $(RUN_STAMP)
	$(BIN)/python scripts/benchmark.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tools out
