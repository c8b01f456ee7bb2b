"""The Chinese notebooks: every message of the page translated in place, code and outputs untouched."""
from __future__ import annotations

from pathlib import Path

import pytest

from tools import translate_notebooks as tn

NOTEBOOKS = tn.default_notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: tn.page_of(p))
def test_every_message_is_translated_and_the_code_is_untouched(path: Path):
    english = tn.notebooks.read(path)
    zh, done, left = tn.translate(path)
    assert not left, f"prose left in English: {left[:3]}"
    assert done >= len(tn.catalog(tn.page_of(path))) - sum("![" in m for m in tn.catalog(tn.page_of(path)))
    assert [c.cell_type for c in zh.cells] == [c.cell_type for c in english.cells]
    for en_cell, zh_cell in zip(english.cells, zh.cells):
        assert zh_cell.id == en_cell.id and zh_cell.metadata == en_cell.metadata
        if en_cell.cell_type == "code":
            assert zh_cell.source == en_cell.source
            assert zh_cell.outputs == en_cell.outputs
        elif any("\u4e00" <= ch <= "\u9fff" for ch in "".join(tn.catalog(tn.page_of(path)).values())):
            assert zh_cell.source != en_cell.source or not en_cell.source.strip()


def test_markdown_structure_is_kept():
    source = "# 1. Title\n\nA `code` paragraph\nwrapped on two lines.\n\n- an item\n  continued\n\n| a | b |\n|---|---|\n| x | 3 |\n"
    messages = {"1. Title": "1\\. 标题", "A `code` paragraph wrapped on two lines.": "一段 `code` 文字。",
                "an item continued": "一项", "a": "甲", "b": "乙", "x": "丙", "3": "3"}
    out, done, left = tn.translate_markdown(source, messages)
    assert out == "# 1\\. 标题\n\n一段 `code` 文字。\n\n- 一项\n\n| 甲 | 乙 |\n|---|---|\n| 丙 | 3 |\n"
    assert (done, left) == (7, [])


def test_an_untranslated_message_stays_english_and_is_reported():
    out, done, left = tn.translate_markdown("First.\n\nSecond.\n", {"First.": "第一。"})
    assert out == "第一。\n\nSecond.\n" and done == 1 and left == ["Second."]


def test_command_line_refuses_a_missing_notebook_in_one_line(tmp_path, capsys):
    assert tn.main([str(tmp_path), str(tmp_path / "missing.ipynb")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.ipynb" in err


@pytest.mark.slow
def test_a_chinese_exercise_grades_like_the_english_one(tmp_path):
    """The kit's Chinese exercise: untouched it earns 0, with the solution's answers full marks."""
    import copy
    import json
    import subprocess
    import sys

    path = tn.ROOT / "exercises" / "01_parameter.ipynb"
    zh, _, _ = tn.translate(path)
    solution = tn.notebooks.read(tn.ROOT / "solutions" / path.name)
    answers = {c.metadata.grade.task: c.source for c in solution.cells if tn.notebooks.tagged(c, "answer")}
    solved = copy.deepcopy(zh)
    for cell in solved.cells:
        if tn.notebooks.tagged(cell, "answer"):
            cell.source = answers[cell.metadata.grade.task]
    scores = {}
    for name, nb in {"untouched": zh, "solved": solved}.items():
        target = tmp_path / name / path.name
        target.parent.mkdir()
        target.write_text(tn.nbformat.writes(nb), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "grader", str(target), "--format", "json"],
                              capture_output=True, text=True, cwd=tn.ROOT, timeout=900)
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        scores[name] = (data["score"], sum(t["max_score"] for t in data["tests"]))
    assert scores["untouched"][0] == 0 and scores["untouched"][1] > 0
    assert scores["solved"][0] == scores["solved"][1] > 0


def test_the_chinese_edition_hands_out_the_chinese_notebooks(zh_book):
    """A zh page's download button links _sources/PAGE.ipynb: that file is the Chinese notebook."""
    for path in tn.default_notebooks():
        served = zh_book / "_sources" / path.relative_to(tn.ROOT)
        assert served.exists(), served
        zh, _, _ = tn.translate(path)
        assert tn.notebooks.read(served) == zh
