# Front door of the book. Every target creates .venv from requirements.txt on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NB     ?=

.PHONY: help book test lab normalize export release notebooks figures grade grade-batch student-kit gradescope bench-grade bench bench-quick clean

help:
	@echo "make book       build the HTML book into _build/html"
	@echo "make test       run the whole test suite (nbval, sync checks, book build, grader)"
	@echo "make lab        open the notebooks in JupyterLab"
	@echo "make notebooks  export purenn, re-execute chapters and solutions, regenerate exercises"
	@echo "make normalize  re-execute chapters, solutions and appendix notebooks in a fresh kernel"
	@echo "make export     regenerate purenn/ from the chapters' export cells"
	@echo "make release    regenerate exercises/ from solutions/"
	@echo "make figures    regenerate chapters/figures/*.svg from figures/make_figures.py"
	@echo "make grade NB=path/to/submission.ipynb   grade one exercise notebook"
	@echo "make grade-batch DIR=submissions/ [CSV=grades.csv] [JOBS=2] [FEEDBACK=feedback/]   grade a folder into a CSV"
	@echo "make student-kit   zip what a class receives (no solutions) into _build/kit/nn-module-kit.zip"
	@echo "make gradescope EXERCISE=03_traversal   Gradescope's autograder zip into _build/gradescope/"
	@echo "make bench-grade  time the grader against a bare nbval run, and batch throughput"
	@echo "make bench       all benchmarks: set-up from a fresh clone, grading, purenn vs torch.nn"
	@echo "make bench-quick the same without the set-up part (minutes instead of ten)"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

test: $(STAMP)
	$(PY) -m pytest

lab: $(STAMP)
	$(VENV)/bin/jupyter lab

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

clean:
	rm -rf _build
