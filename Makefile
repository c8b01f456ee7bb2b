# Front door of the book. Every target creates .venv from requirements.txt on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NB     ?=
# Python keeps compiled modules in __pycache__ (ignored by git). Container images often switch that
# off (PYTHONDONTWRITEBYTECODE=1): then every one of the suite's Python processes (workers, kernels,
# graders) compiles the project's modules again, and pytest rewrites each test module's asserts
# again in every worker (about 2.5 CPU-seconds per worker). The targets here write them.
unexport PYTHONDONTWRITEBYTECODE
# Test workers (pytest-xdist processes); 0 runs every test in one process. PYTEST_ARGS is passed on.
TEST_JOBS   ?= 2
PYTEST_ARGS ?=
# Jupyter refuses to start as root ("Running as root is not recommended"), which course containers
# often are: there, pass --allow-root. LAB_ARGS adds options, e.g. LAB_ARGS="--no-browser --port=8890".
LAB_ARGS ?=
AS_ROOT  := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: help book catalogs test test-fast bench-test lab normalize export release notebooks figures grade grade-batch student-kit gradescope bench-grade bench bench-quick clean

help:
	@echo "make book       build the HTML book into _build/html, and its Chinese edition into _build/html/zh_CN"
	@echo "make catalogs   after an English edit: merge the new text into locale/zh_CN (changed messages turn fuzzy), then list what needs translating"
	@echo "make test       run the whole test suite (nbval, sync checks, book build, grader) on TEST_JOBS=2 workers"
	@echo "make test-fast  the same without the tests marked slow (end to end), for the edit-run loop"
	@echo "make lab        open the notebooks in JupyterLab (also as root; LAB_ARGS=... adds options)"
	@echo "make notebooks  export purenn, re-execute chapters and solutions, regenerate exercises"
	@echo "make normalize  re-execute chapters, solutions and appendix notebooks in a fresh kernel"
	@echo "make export     regenerate purenn/ from the chapters' export cells"
	@echo "make release    regenerate exercises/ from solutions/"
	@echo "make figures    regenerate chapters/figures/*.svg from figures/make_figures.py"
	@echo "make grade NB=path/to/submission.ipynb   grade one exercise notebook"
	@echo "make grade-batch DIR=submissions/ [CSV=grades.csv] [JOBS=2] [FEEDBACK=feedback/]   grade a folder into a CSV"
	@echo "make student-kit   zip what a class receives (no solutions) into _build/kit/nn-module-kit.zip"
	@echo "make gradescope EXERCISE=03_traversal   Gradescope's autograder zip into _build/gradescope/"
	@echo "make bench-grade  bare nbval vs the sandboxed grader on one solution (fresh seed, then cached), and a batch of 20 (--jobs 2)"
	@echo "make bench       all benchmarks: set-up from a fresh clone, fast tests, grading, purenn vs torch.nn"
	@echo "make bench-quick the same without the set-up part (minutes instead of ten)"
	@echo "make bench-test  run make test here: duration, peak live kernels, peak memory"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	$(PY) -m tools.i18n build

catalogs: $(STAMP)
	$(PY) -m tools.i18n update
	-$(PY) -m tools.i18n check  # a report: make test fails while a message is untranslated

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_JOBS) $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -n $(TEST_JOBS) -m "not slow" $(PYTEST_ARGS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(AS_ROOT) $(LAB_ARGS)

export: $(STAMP)
	$(PY) -m tools.export

normalize: $(STAMP)
	$(PY) -m tools.normalize --execute chapters/*.ipynb solutions/*.ipynb appendix/*.ipynb

release: $(STAMP)
	$(PY) -m tools.release

notebooks: export normalize release

figures: $(STAMP)
	$(PY) -m figures.make_figures

grade: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make grade NB=path/to/submission.ipynb" >&2; exit 2; }
	$(PY) -m grader "$(NB)"

grade-batch: $(STAMP)
	@test -n "$(DIR)" || { echo "usage: make grade-batch DIR=submissions/ [CSV=grades.csv] [JOBS=2]" >&2; exit 2; }
	$(PY) -m grader --batch "$(DIR)" --csv "$(or $(CSV),grades.csv)" --jobs "$(or $(JOBS),2)" \
	  $(if $(FEEDBACK),--feedback "$(FEEDBACK)")

student-kit: $(STAMP)
	$(PY) -m tools.kit student

gradescope: $(STAMP)
	@test -n "$(EXERCISE)" || { echo "usage: make gradescope EXERCISE=03_traversal" >&2; exit 2; }
	$(PY) -m tools.kit gradescope "$(EXERCISE)"

bench-grade: $(STAMP)
	$(PY) bench/grade.py

bench: $(STAMP)
	$(PY) -m bench

bench-quick: $(STAMP)
	$(PY) -m bench --quick

bench-test: $(STAMP)
	$(PY) -m bench.suite

clean:
	rm -rf _build
