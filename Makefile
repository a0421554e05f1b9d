# vzskill: two commands on a fresh machine (see README.md)
#   make demo   -> .venv (Python 3.12, pinned stack) + `vzskill demo`
#   make test   -> .venv (Python 3.12, pinned stack) + the whole test suite (code + doc tests)
#   make test-paste -> every document's visible blocks, pasted in order into a fresh Python
# and, for drift: make test-latest -> .venv-latest with the newest releases, reruns the doc tests.
#   make dist   -> dist/virtualizing-archival-data/: the skill folder as `vzskill install-skill dist` lays it out
#                  (SKILL.md, examples.md, troubleshooting.md, references/*.md, scripts/ = `pip install ./scripts`)

SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

# Python 3.12: pyenv's 3.12.1 if installed, else python3.12 on PATH (override: make PYTHON=/path/to/python3.12 test)
PYENV_PY := $(HOME)/.pyenv/versions/3.12.1/bin/python
PYTHON ?= $(shell if [ -x "$(PYENV_PY)" ]; then echo "$(PYENV_PY)"; else command -v python3.12 || true; fi)
VENV ?= .venv
LATEST ?= .venv-latest
PIP_FLAGS ?= --disable-pip-version-check --quiet
PYTEST_ARGS ?=
DOCS := README.md SKILL.md examples.md troubleshooting.md references

.PHONY: demo test test-paste test-latest install constraints doctor dist clean

define need_python
	if [ -z "$(PYTHON)" ]; then \
	  echo "make: no Python 3.12 found -> pyenv install 3.12.1 (or apt-get install python3.12), or make PYTHON=/path/to/python3.12 $@" >&2; exit 2; fi
endef

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(need_python)
	[ -x $(VENV)/bin/python ] || "$(PYTHON)" -m venv $(VENV)
	$(VENV)/bin/python -m pip install $(PIP_FLAGS) -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/vzskill demo --dir demo-out

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Every document's visible blocks pasted in order into a fresh Python (tests/plugins/docs_paste.py);
# `make test` pastes SKILL.md, README.md and examples.md only (time budget)
test-paste: $(VENV)/.installed
	VZSKILL_PASTE=all $(VENV)/bin/python -m pytest tests/test_doc_fences.py -k paste -rs $(PYTEST_ARGS)

doctor: $(VENV)/.installed
	$(VENV)/bin/vzskill doctor

# Newest releases, no constraints: does the skill still hold? (doc tests + doctor's drift report)
test-latest:
	@$(need_python)
	rm -rf $(LATEST)
	"$(PYTHON)" -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(LATEST)/bin/python -m pip install $(PIP_FLAGS) --upgrade --upgrade-strategy eager -e ".[test]"
	$(LATEST)/bin/vzskill doctor || true
	$(LATEST)/bin/python -m pytest $(DOCS) tests/test_doc_fences.py tests/test_cli.py $(PYTEST_ARGS)

# Refresh constraints.txt from the working .venv (after adding a dependency)
constraints: $(VENV)/.installed
	$(VENV)/bin/python -m pip freeze --exclude-editable | grep -v -i '^vzskill' > constraints.txt

# The installable skill folder (the same layout `vzskill install-skill DEST` writes)
dist: $(VENV)/.installed
	$(VENV)/bin/vzskill install-skill dist

clean:
	rm -rf $(VENV) $(LATEST) demo-out dist
