"""Turn the two kernels' reports into points: one verdict per check cell, summed per task.

A check cell passes only when all of these hold:
- it ran to its end in the learner's kernel without an exception (its printed output does not
  matter: a `print` in an answer costs nothing);
- the learner's kernel reported every case of it, through the pristine `compare`, and each
  reported observation equals torch's observation from the clean reference kernel;
- no tampering was reported before or during it (a changed torch/grader/builtins name, a refused
  operation, a tampering tool in a learner cell that runs before it);
- the learner's code did not call a function the task rebuilds (grader.forbid), and the task's
  answer names are functions written in the answer.

Every record comes from a sandbox and is only data: a forged one can at worst describe the
learner's own code wrongly, and torch's side always comes from the reference kernel.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from grader import forbid
from grader.assemble import Plan
from grader.checks import difference_line
from grader.records import decode
from grader.runner import Run

GUARD_CELLS = 1  # the grading notebook's first code cell is the guard


class ReferenceFailed(RuntimeError):
    """The pristine solution failed in the clean kernel: the exercise, not the learner, is broken."""


@dataclass
class CheckVerdict:
    check: int
    task: str
    points: float
    max_points: float
    hidden: bool
    passed: bool
    message: str = ""


@dataclass
class TaskVerdict:
    task: str
    points: float
    max_points: float
    checks: list[CheckVerdict]
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.points >= self.max_points:
            return "passed"
        return "partial" if self.points > 0 else "failed"

    @property
    def message(self) -> str:
        """Why points were lost: the first failed check's reason, then notes."""
        reasons = [c.message for c in self.checks if not c.passed and c.message][:1]
        return "; ".join(reasons + (self.notes if self.status != "passed" else []))


@dataclass
class Grade:
    """The grade of one submission."""

    file: str
    exercise: str
    status: str  # ok, timeout, crashed, invalid
    tasks: list[TaskVerdict]
    seconds: float
    seed: int
    detail: str = ""
    isolation: str = "none"  # bwrap, uid or none: how the learner's code was isolated
    warnings: list[str] = field(default_factory=list)  # e.g. the metadata names another exercise

    @property
    def points(self) -> float:
        return sum(t.points for t in self.tasks)

    @property
    def max_points(self) -> float:
        return sum(t.max_points for t in self.tasks)


def new_seed() -> int:
    """A fresh seed for the hidden checks, drawn at grading time."""
    return random.SystemRandom().randrange(1, 2**31)


def _cases(run: Run) -> dict[int, dict[tuple[int, int], dict]]:
    """check -> (call, case) -> record, taking the last report of each case."""
    out: dict[int, dict[tuple[int, int], dict]] = {}
    for rec in run.records:
        if rec.get("k") == "case" and isinstance(rec.get("check"), int):
            out.setdefault(rec["check"], {})[(rec.get("call"), rec.get("case"))] = rec
    return out


def _ends(run: Run) -> dict[int, set]:
    out: dict[int, set] = {}
    for rec in run.records:
        if rec.get("k") == "end" and isinstance(rec.get("check"), int):
            out.setdefault(rec["check"], set()).add(rec.get("call"))
    return out


def _cell_index(plan: Plan) -> dict[int, int]:
    """check ordinal -> code cell number in the grading run (the guard is cell 0)."""
    return {c.check: i + GUARD_CELLS for i, c in enumerate(plan.cells) if c.kind == "check"}


def reference_table(plan: Plan, run: Run, seed: int) -> dict[int, dict[tuple[int, int], dict]]:
    """torch's observations per check, after making sure the solution passed everything."""
    cases, ends = _cases(run), _ends(run)
    cells = _cell_index(plan)
    problems = [r["what"] for r in run.records if r.get("k") in ("tamper", "violation")]
    for check, cell in cells.items():
        result = run.cells.get(cell)
        if run.status != "ok" or result is None or result.outcome != "passed" \
                or check not in cases or check not in ends:
            why = result.message if result else run.detail or "no result"
            raise ReferenceFailed(f"the solution of {plan.exercise} fails check cell {cell} "
                                  f"in the reference kernel (seed {seed}): {why}")
    if problems:
        raise ReferenceFailed(f"the reference kernel reported: {problems[0]}")
    return cases


def forged_records(run: Run) -> dict[int, str]:
    """check -> why its reports cannot all be the guard's. The guard reports a check's cases only
    while that check's cell runs (between its `cell` and `done` records) and each case once, so a
    case or end reported outside its check's cell, or twice, was written by other code of the
    kernel (learner code that found the stream's file descriptor): the check earns nothing."""
    out: dict[int, str] = {}
    current: Any = None
    seen: set[tuple] = set()
    for rec in run.records:
        kind, check = rec.get("k"), rec.get("check")
        if kind == "cell":
            current = check
        elif kind == "done":
            current = None
        elif kind in ("case", "end") and isinstance(check, int):
            key = (kind, check, rec.get("call"), rec.get("case"))
            if check != current:
                out.setdefault(check, "tampering: a result of this check was written outside it")
            elif key in seen:
                out.setdefault(check, "tampering: a result of this check was written twice")
            seen.add(key)
    return out


def _tampering(plan: Plan, run: Run) -> dict[int, str]:
    """check -> the first tampering that happened before or during it."""
    affected: dict[int, str] = {}
    position = {c.check: i for i, c in enumerate(plan.cells) if c.kind == "check"}
    for i, cell in enumerate(plan.cells):  # tampering tools in learner cells: every later check
        if cell.kind in ("answer", "helper") and cell.findings:
            article = "an" if cell.kind == "answer" else "a"
            what = f"{article} {cell.kind} cell of task {cell.task}: {cell.findings[0]} (tampering)"
            for check, at in position.items():
                if at > i:
                    affected.setdefault(check, what)
    for check, what in forged_records(run).items():
        affected.setdefault(check, what)
    seen: str | None = None
    for rec in run.records:  # tampering while running: the current check and every later one
        if rec.get("k") == "tamper" and seen is None:
            seen = f"tampering: {rec.get('what')}"
            if isinstance(rec.get("check"), int):
                affected.setdefault(rec["check"], seen)
        elif rec.get("k") == "cell" and seen is not None and isinstance(rec.get("check"), int):
            affected.setdefault(rec["check"], seen)
    if seen is not None:
        ran = {r.get("check") for r in run.records if r.get("k") == "cell"}
        for check in position:  # checks that never started after the tampering
            if check not in ran:
                affected.setdefault(check, seen)
    return affected


def _difference(reference: dict, learner: dict, ends: set) -> str | None:
    """The first case where the learner's observation differs from torch's, as a ✗ line."""
    for key in sorted(reference, key=lambda k: (k[0], k[1])):
        want = reference[key]
        got = learner.get(key)
        if got is None:
            calls = {k[0] for k in reference}
            if not learner:
                return "the check reported no results (was `compare` replaced or bypassed?)"
            return f"the check stopped reporting at case {want.get('label')!r}" \
                if calls <= ends or key[0] not in ends else "the check did not finish"
        if got.get("label") != want.get("label"):
            return f"case {key[1]} is {got.get('label')!r} here but {want.get('label')!r} for torch"
        line = difference_line(want.get("label", "?"), decode(got.get("value")),
                               decode(want.get("value")))
        if line is not None:
            return line
    extra = set(learner) - set(reference)
    if extra:
        return "the check reported more cases than torch's run"
    return None


def judge(plan: Plan, reference: dict, run: Run, file: str, seed: int,
          warnings: list[str] | None = None) -> Grade:
    """The grade of one learner run against the reference observations."""
    cases, ends = _cases(run), _ends(run)
    cells = _cell_index(plan)
    tampered = _tampering(plan, run)
    violations: dict[int, str] = {}
    for rec in run.records:
        if rec.get("k") == "violation" and isinstance(rec.get("check"), int):
            violations.setdefault(rec["check"], f"not allowed: {rec.get('what')}")
    verdicts: dict[str, list[CheckVerdict]] = {t: [] for t in plan.tasks}
    for cell in plan.checks:
        result = run.cells.get(cells[cell.check])
        ran = result is not None and result.outcome == "passed"
        reported = cases.get(cell.check, {})
        difference = _difference(reference[cell.check], reported, ends.get(cell.check, set()))
        if not reported and result is not None and not ran and result.message:
            # the cell stopped before its first case, e.g. on a name the answer cell never
            # defined: its error says more than "no results"
            difference = f"the check cell raised {result.message}"
        message = tampered.get(cell.check) or violations.get(cell.check) or difference
        if message is None and not ran:
            message = (result.message if result else "") or "the check cell did not run"
        passed = message is None and ran
        verdicts[cell.task].append(CheckVerdict(cell.check, cell.task,
                                                cell.points if passed else 0, cell.points,
                                                cell.hidden, passed, message or ""))
    tasks = [TaskVerdict(t, sum(c.points for c in verdicts[t]), plan.tasks[t], verdicts[t],
                         plan.notes.get(t, [])) for t in plan.tasks]
    detail = run.detail + (f" (tried {run.attempts} times)" if run.attempts > 1 else "")
    return Grade(file, plan.exercise, run.status, tasks, run.seconds, seed, detail, run.isolation,
                 list(plan.warnings if warnings is None else warnings) + _refused(plan, run))


def _refused(plan: Plan, run: Run) -> list[str]:
    """What the grade says about statements of the learner's that failed outside the checks
    because they called a function the exercise rebuilds (grader.forbid.seal). Built from the
    task and the function named in the record, and only for a function that task does rebuild."""
    found = sorted({(r["task"], r["name"]) for r in run.records if r.get("k") == "refused"
                    and r["task"] in plan.tasks
                    and r["name"] in forbid.names(r["task"])})
    return [f"a statement of yours outside the checks calls {name}, which task {task} rebuilds: "
            "under grading it fails and the statements after it still run (only an answer that "
            "needs what it built loses points)" for task, name in found]


def invalid(file: str, reason: str) -> Grade:
    """The grade row of an input that could not be graded."""
    return Grade(file, "", "invalid", [], 0.0, 0, reason)
