# vswin-edu: the two commands a newcomer needs are `make setup lab` (or, headless, `make setup book`)
# and `make test`.  Everything runs inside .venv; nothing is downloaded at run time.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# pytest exits 5 when a selection holds no test; an empty subset is not a failure here.
PYTEST = run_pytest() { $(PY) -m pytest "$$@"; rc=$$?; if [ $$rc -eq 5 ]; then echo "(no tests in this subset)"; rc=0; fi; return $$rc; }; run_pytest

.PHONY: setup system browser lab test test-unit test-notebooks test-browser lint notebooks book slides bench clean-notebooks clean learner

setup: $(VENV)/.installed system

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (vswin-edu)"
	touch $@

# Debian packages some tests need: headless Chromium for the real-browser widget tests (never
# `playwright install`) and FFmpeg's shared libraries for the TorchCodec video backend.
system:
	@missing=""; [ -x /usr/bin/chromium ] || missing="chromium"; \
	ldconfig -p | grep -q 'libavcodec\.so' || missing="$$missing ffmpeg"; \
	if [ -z "$$missing" ]; then echo "system packages: chromium and FFmpeg are present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "NOTE: the browser and TorchCodec tests need Debian's$$missing: sudo apt-get install -y$$missing"; fi

browser: system

lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab notebooks/00_video_tensors.ipynb

test: lint test-unit test-notebooks test-browser

test-unit: $(VENV)/.installed
	$(PYTEST) tests -m "not browser" -q

test-notebooks: $(VENV)/.installed
	$(PYTEST) notebooks --nbval-lax --nbval-current-env -q -p no:randomly

test-browser: $(VENV)/.installed
	$(PYTEST) tests -m browser -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check vswin_edu tests notebooks
	$(VENV)/bin/ruff format --check vswin_edu tests

notebooks: $(VENV)/.installed
	$(PY) -m vswin_edu.course.notebooks

book: $(VENV)/.installed
	$(PY) -m vswin_edu.course.book

# Lecture slides of the stored chapters (reveal.js, opens offline): build/slides/NN_slug.slides.html
slides: $(VENV)/.installed
	$(PY) -m vswin_edu.course.slides

bench: $(VENV)/.installed
	$(PY) -m vswin_edu.bench --variant t

# Learner copies: solutions replaced by their stubs, "predict, then reveal" answers collapsed.
LEARNER_DIR ?= build/learner
learner: $(VENV)/.installed
	$(PY) -m vswin_edu.course.notebooks --learner $(LEARNER_DIR)

clean-notebooks: $(VENV)/.installed
	$(PY) -m vswin_edu.course.notebooks --strip

clean:
	rm -rf build site .pytest_cache .ruff_cache .hypothesis
