# Two commands do all set-up on a fresh machine: `make bench` (main job) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test bench demo lint clean

# The first set-up downloads torch and the rest (several minutes): say so, and let pip show its progress.
$(STAMP): setup.cfg pyproject.toml
	@echo "make: setting up $(VENV): pip installs torch 2.13.0 and the package with its dev and plot extras."
	@echo "make: this takes several minutes the first time; pip's progress follows."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev,plot]'
	touch $(STAMP)
	@echo "make: set-up done ($(VENV))."

venv: $(STAMP)

# pytest exits 5 when it collected no test: that is a failure too.
test: $(STAMP)
	SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy $(PY) -m pytest $(PYTEST_ARGS); \
	status=$$?; [ $$status -ne 5 ] || echo "make test: pytest ran no test" >&2; exit $$status

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(VENV)/bin/lola-bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
