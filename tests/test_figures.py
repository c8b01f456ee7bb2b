"""The committed figures are exactly what figures/make_figures.py writes, and what they show is real torch."""
from __future__ import annotations

import inspect
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from tools import notebooks

sys.path.insert(0, str(notebooks.ROOT))
from figures import make_figures  # noqa: E402

FIGURE_DIR = notebooks.ROOT / "chapters" / "figures"
SVG = "{http://www.w3.org/2000/svg}"


def svg_text(path) -> str:
    """All text of an SVG in document order, one space between text elements."""
    root = ET.parse(path).getroot()
    parts = ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]
    return re.sub(r"\s+", " ", " ".join(parts))


def svg_lines(path) -> list[str]:
    root = ET.parse(path).getroot()
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]


USED_LABELS: set[str] = set()  # the translations a full run of write_all() looked up


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    make_figures.write_all(out)
    USED_LABELS.update(make_figures._used_labels)
    return out


# --- the committed SVGs are the script's output ----------------------------------------------

def test_every_figure_is_committed_and_nothing_else():
    assert sorted(p.name for p in FIGURE_DIR.glob("*.svg")) == sorted(make_figures.outputs())


@pytest.mark.parametrize("name", sorted(make_figures.outputs()))
def test_committed_svg_is_byte_identical_to_a_fresh_run(name, fresh):
    assert (FIGURE_DIR / name).read_bytes() == (fresh / name).read_bytes(), (
        f"{name} is stale: run `python -m figures.make_figures` and commit the result")


def test_output_is_deterministic(fresh, tmp_path):
    make_figures.write_all(tmp_path)
    for name in make_figures.outputs():
        assert (tmp_path / name).read_bytes() == (fresh / name).read_bytes(), name


def test_svgs_keep_text_as_text_and_carry_no_date_or_local_path(fresh):
    for name in make_figures.outputs():
        raw = (fresh / name).read_text(encoding="utf-8")
        assert "<text" in raw and "<dc:date>" not in raw and "<dc:creator>" not in raw, name
        assert str(notebooks.ROOT) not in raw and "/tmp" not in raw, name


def test_check_flags_a_corrupted_or_missing_figure(fresh, tmp_path, capsys, monkeypatch):
    """`--check` compares with what write_all() draws; the drawing itself is tested above (the
    fixture's run equals the committed files and a second run), so here it hands out that run's
    files instead of drawing them twice more."""
    def drawn(out):
        return [Path(shutil.copy(fresh / name, Path(out) / name)) for name in make_figures.outputs()]

    monkeypatch.setattr(make_figures, "write_all", drawn)
    committed = tmp_path / "committed"
    committed.mkdir()
    drawn(committed)
    assert make_figures.main(["--check", "--dir", str(committed)]) == 0
    assert capsys.readouterr().err == ""
    target = committed / "module_tree.svg"
    target.write_bytes(target.read_bytes().replace(b"running_mean", b"running_mea"))
    (committed / "state_dict_key.svg").unlink()
    assert make_figures.main(["--check", "--dir", str(committed)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert sorted(lines) == [f"stale figure: {name} (run: python -m figures.make_figures)"
                             for name in ("module_tree.svg", "state_dict_key.svg")]


# --- what the figures show comes from torch --------------------------------------------------

def _shape(t):
    return str(tuple(t.shape))


def test_module_tree_shows_the_real_dicts_of_the_model():
    lines = svg_lines(FIGURE_DIR / "module_tree.svg")
    model = make_figures.tree_model()
    for name, module in model.named_modules():
        assert (name or "model") in lines and type(module).__name__ in lines, name
        for key, p in module._parameters.items():
            assert f"{key}: {'None' if p is None else _shape(p)}" in lines, (name, key)
        for key, b in module._buffers.items():
            assert f"{key}: {_shape(b)} {str(b.dtype).removeprefix('torch.')}" in lines, (name, key)
        for key, child in module._modules.items():
            assert f"{key}: {type(child).__name__}" in lines, (name, key)
    # spelled out, so a change of model or of torch cannot pass unnoticed
    for expected in ["weight: (3, 4)", "bias: (3,)", "running_mean: (3,) float32",
                     "running_var: (3,) float32", "num_batches_tracked: () int64",
                     "weight: (2, 3)", "bias: None", "norm: BatchNorm1d"]:
        assert expected in lines, expected
    # the code printed in the figure is the code that builds the model
    text = svg_text(FIGURE_DIR / "module_tree.svg")
    assert re.sub(r"\s+", " ", make_figures.TREE_MODEL_CODE) in text


SETATTR_SOURCE = inspect.getsource(nn.Module.__setattr__)
REGISTER_SOURCE = inspect.getsource(nn.Module.register_parameter)

# (exception, message as the figure quotes it); <type> and <name> stand for the f-string fields
SETATTR_ERRORS = [
    (AttributeError, "cannot assign parameters before Module.__init__() call"),
    (TypeError, "cannot assign '<type>' as parameter '<name>' (torch.nn.Parameter or None expected)"),
    (AttributeError, "cannot assign module before Module.__init__() call"),
    (TypeError, "cannot assign '<type>' as child module '<name>' (torch.nn.Module or None expected)"),
    (TypeError, "cannot assign '<type>' as buffer '<name>' "
                "(torch.nn.Buffer, torch.Tensor or None expected)"),
]


@pytest.mark.parametrize("exc, message", SETATTR_ERRORS, ids=[m[:40] for _, m in SETATTR_ERRORS])
def test_setattr_figure_quotes_the_errors_of_torch(exc, message):
    assert message in svg_text(FIGURE_DIR / "setattr_decision.svg")
    # every piece of the message is in the source of __setattr__ (or register_parameter)
    source = SETATTR_SOURCE + REGISTER_SOURCE
    for piece in re.split(r"(?<=') (?=\()", message):
        literal = piece.replace("<type>", "{torch.typename(value)}").replace("<name>", "{name}")
        assert literal in source, piece
    assert f"raise {exc.__name__}(" in SETATTR_SOURCE


def _raised(action):
    with pytest.raises((AttributeError, TypeError)) as info:
        action()
    return info.type, str(info.value)


def test_setattr_figure_messages_are_what_torch_raises():
    bare = nn.Module.__new__(nn.Module)  # __init__ never ran
    seq, lin, bn = nn.Sequential(nn.ReLU()), nn.Linear(2, 2), nn.BatchNorm1d(2)
    raised = [
        _raised(lambda: setattr(bare, "w", nn.Parameter(torch.zeros(1)))),
        _raised(lambda: setattr(lin, "weight", 1.0)),
        _raised(lambda: setattr(bare, "child", nn.ReLU())),
        _raised(lambda: setattr(seq, "0", 1)),
        _raised(lambda: setattr(bn, "running_mean", [0.0])),
    ]
    for (exc, template), (got_exc, got) in zip(SETATTR_ERRORS, raised):
        pattern = re.escape(template).replace("<type>", "[^']+").replace("<name>", "[^']+")
        assert got_exc is exc and re.fullmatch(pattern, got), got


def test_setattr_figure_has_the_branches_in_the_order_of_the_source():
    text = svg_text(FIGURE_DIR / "setattr_decision.svg")
    shown = ["isinstance(value, Parameter)", "name in _parameters", "isinstance(value, Module)",
             "name in _modules", "isinstance(value, Buffer) or name in _buffers", "otherwise"]
    assert [text.index(s) for s in shown] == sorted(text.index(s) for s in shown)
    in_source = ["isinstance(value, Parameter)", "name in params", "isinstance(value, Module)",
                 "name in modules", "isinstance(value, Buffer) or buffers is not None and name in buffers",
                 "super().__setattr__(name, value)"]
    positions = [SETATTR_SOURCE.index(s) for s in in_source]
    assert positions == sorted(positions)
    for action in ["register_parameter(name, value)", "register_parameter(name, None)",
                   "_modules[name] = value", "_modules[name] = None",
                   "register_buffer(name, value, persistent)", "super().__setattr__(name, value)",
                   "_non_persistent_buffers_set"]:
        assert action in text, action


def test_state_dict_figure_shows_a_real_key_and_its_owners():
    lines = svg_lines(FIGURE_DIR / "state_dict_key.svg")
    model = make_figures.key_model()
    keys = list(model.state_dict())
    assert "encoder.layers.0.weight" in keys
    for key in keys:
        assert key in lines, key
    assert lines.count("encoder.layers.0.weight") == 1
    for lookup, result in [("Sequential._modules['encoder']", type(model.encoder).__name__),
                           ("Encoder._modules['layers']", type(model.encoder.layers).__name__),
                           ("ModuleList._modules['0']", type(model.encoder.layers[0]).__name__),
                           ("Linear._parameters['weight']",
                            f"Parameter {_shape(model.encoder.layers[0].weight)}")]:
        assert lookup in lines and result in lines, lookup
    assert "container index" in lines and "local name" in lines


def test_checkpoint_figure_states_the_contract_and_its_check_holds():
    text = svg_text(FIGURE_DIR / "checkpoint_timeline.svg")
    for s in ["N steps, uninterrupted", "N/2 steps", "save(model, optimizer, scheduler, epoch, RNG states)",
              "process ends", "rebuild from scratch", "load", "torch.equal", "on every tensor"]:
        assert s in text, s
    run = make_figures.exact_resume_run()
    assert run["equal"] and f"all {run['tensors']} tensors of A and B are torch.equal" in text


# --- the narrow twins show the same facts --------------------------------------------------

PAIRS = [(name, name.replace(".svg", ".narrow.svg")) for name in make_figures.FIGURES
         if not name.endswith(".narrow.svg")]


def test_every_figure_has_a_narrow_twin_that_is_narrower():
    assert sorted(make_figures.FIGURES) == sorted(n for pair in PAIRS for n in pair)
    for wide, narrow in PAIRS:
        w = float(ET.parse(FIGURE_DIR / wide).getroot().get("width").removesuffix("pt"))
        n = float(ET.parse(FIGURE_DIR / narrow).getroot().get("width").removesuffix("pt"))
        assert n == make_figures.WN * 72 and n < 0.6 * w, (wide, w, n)


@pytest.mark.parametrize("exc, message", SETATTR_ERRORS, ids=[m[:40] for _, m in SETATTR_ERRORS])
def test_narrow_setattr_figure_quotes_the_same_errors(exc, message):
    text = svg_text(FIGURE_DIR / "setattr_decision.narrow.svg")
    assert message in text and exc.__name__ in text


def test_narrow_setattr_figure_keeps_the_order_of_the_branches():
    wide = svg_text(FIGURE_DIR / "setattr_decision.svg")
    text = svg_text(FIGURE_DIR / "setattr_decision.narrow.svg")
    shown = ["isinstance(value, Parameter)", "name in _parameters", "isinstance(value, Module)",
             "name in _modules", "isinstance(value, Buffer) or name in _buffers", "otherwise"]
    assert [text.index(s) for s in shown] == sorted(text.index(s) for s in shown)
    for action in ["register_parameter(name, value)", "register_parameter(name, None)",
                   "_modules[name] = value", "_modules[name] = None",
                   "register_buffer(name, value, persistent)", "super().__setattr__(name, value)"]:
        assert action in text and action in wide, action


def test_narrow_module_tree_builds_the_same_model_and_shows_its_dicts():
    model = make_figures.tree_model()
    narrow = eval(make_figures.TREE_MODEL_CODE_NARROW, {"nn": nn, "OrderedDict": make_figures.OrderedDict})
    assert repr(narrow) == repr(model)
    code, shown = make_figures.TREE_MODEL_CODE_NARROW.split("\n"), svg_lines(FIGURE_DIR / "module_tree.narrow.svg")
    assert any(shown[i:i + len(code)] == code for i in range(len(shown))), "the code, indentation kept"
    lines = [s.strip() for s in svg_lines(FIGURE_DIR / "module_tree.narrow.svg")]
    for name, module in model.named_modules():
        assert (name or "model") in lines and type(module).__name__ in lines, name
        for dict_name, entries in make_figures.dict_entries(module).items():
            assert all(e in lines for e in entries), (name, dict_name)
            assert entries or f"{dict_name}: {{}}" in lines, (name, dict_name)


def test_narrow_state_dict_figure_shows_every_key_and_the_walk():
    lines = svg_lines(FIGURE_DIR / "state_dict_key.narrow.svg")
    model = make_figures.key_model()
    assert all(key in lines for key in model.state_dict())
    for seg, role, lookup, result in make_figures.resolve_key(model, "encoder.layers.0.weight"):
        assert seg in lines and role in lines and lookup in lines and f"→ {result}" in lines


def test_narrow_checkpoint_figure_states_the_same_contract():
    wide = svg_text(FIGURE_DIR / "checkpoint_timeline.svg")
    text = svg_text(FIGURE_DIR / "checkpoint_timeline.narrow.svg")
    for s in ["N steps, uninterrupted", "N/2 steps", "save(model, optimizer, scheduler, epoch, RNG states)",
              "process ends", "rebuild from scratch", "load", "torch.equal",
              "on every tensor: weights, buffers, optimizer state, RNG state",
              f"all {make_figures.exact_resume_run()['tensors']} tensors of A and B are torch.equal"]:
        assert s in text and s in wide, s


# --- colours: the figure follows the page's light or dark theme -------------------------------

STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S)


@pytest.mark.parametrize("name", sorted(make_figures.outputs()))
def test_every_colour_is_a_palette_variable(name):
    raw = (FIGURE_DIR / name).read_text(encoding="utf-8")
    sheet = STYLE.search(raw).group(1)
    assert sheet == make_figures.palette_css()
    body = STYLE.sub("", raw)
    assert not re.search(r"#[0-9a-fA-F]{3,6}\b", body), "a colour outside the palette"
    used = set(re.findall(r"var\(--([a-z-]+)\)", body))
    assert used and used <= set(make_figures.PALETTE), used - set(make_figures.PALETTE)
    assert {"ink", "card"} <= used  # text and the card are themed, not only some boxes
    assert "prefers-color-scheme: dark" in sheet


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("scheme", [0, 1], ids=["light", "dark"])
def test_text_colours_are_readable_on_their_backgrounds_in_both_themes(scheme):
    pal = {name: pair[scheme] for name, pair in make_figures.PALETTE.items()}
    text = ["ink", "muted", "decide", "param", "buffer", "module", "plain", "error"]
    for fg in text:
        for bg in ["card", "face"]:
            assert contrast(pal[fg], pal[bg]) >= 4.5, (fg, bg, scheme)
    for accent in ["decide", "param", "buffer", "module", "plain", "error"]:
        for fg in ["ink", accent]:
            assert contrast(pal[fg], pal[f"{accent}-fill"]) >= 4.5, (fg, accent, scheme)
    # a dark theme is dark: the card and the text swap places
    assert (_luminance(pal["card"]) > _luminance(pal["ink"])) == (scheme == 0)


def test_no_text_is_smaller_than_the_body_size():
    for name in make_figures.outputs():
        sizes = [float(s) for s in re.findall(r"font-size: ([\d.]+)px",
                                             (FIGURE_DIR / name).read_text(encoding="utf-8"))]
        assert sizes and min(sizes) >= make_figures.BODY, name


# --- the two figures of chapters 6 and 7: traced on real torch while drawn --------------------

def test_load_pipeline_shows_the_traced_keys_in_the_order_torch_runs_the_steps():
    run = make_figures.load_pipeline_run()
    lanes = run["lanes"]
    # spelled out, so a change of torch's load path cannot pass unnoticed
    assert lanes["file"] == ["module.block.fc.weight", "module.fc.weight", "module.aux.weight"]
    assert lanes["stripped"] == ["block.fc.weight", "fc.weight", "aux.weight"]
    assert lanes["root"] == ["block.fc.weight", "head.weight", "aux.weight"]
    assert lanes["block"] == ["block.proj.weight"] and run["version"] == 1 < run["new_version"]
    assert run["missing"] == ["norm.weight", "norm.bias"]
    assert run["unexpected"] == ["aux.weight", "aux.bias"]
    for name in ["load_pipeline.svg", "load_pipeline.narrow.svg"]:
        lines = [s.strip() for s in svg_lines(FIGURE_DIR / name)]
        for keys in lanes.values():
            assert all(k in lines for k in keys), (name, keys)
        assert str(run["missing"]) in lines and str(run["unexpected"]) in lines, name
        text = svg_text(FIGURE_DIR / name)
        steps = ["strip the wrapper's prefix", "load_state_dict(sd, strict=False)",
                 "the root: load pre-hooks", "block: the _version migration",
                 "each module matches its own tensors", "the result"]
        assert [text.index(s) for s in steps] == sorted(text.index(s) for s in steps), name
        assert "local_metadata['version'] = 1 < 2" in text, name


def test_the_load_order_the_figure_draws_is_torchs():
    # pre-hooks run inside Module._load_from_state_dict, after a subclass's own migration code
    # that calls it, and before the module looks for its keys; post-hooks after the subtree
    source = inspect.getsource(nn.Module._load_from_state_dict)
    assert source.index("_load_state_dict_pre_hooks") < source.index("local_state")
    walk = inspect.getsource(nn.Module.load_state_dict)
    assert walk.index("module._load_from_state_dict(") < walk.index("load(child") \
        < walk.index("_load_state_dict_post_hooks") < walk.index("if strict:")
    assert walk.index("state_dict = OrderedDict(state_dict)") < walk.index("def load(")


def test_meta_loading_figure_shows_both_ways_and_what_it_checked():
    run = make_figures.meta_load_run()
    assert run["leftovers"] == ["2.weight", "2.bias"]
    for name in ["meta_loading.svg", "meta_loading.narrow.svg"]:
        text = svg_text(FIGURE_DIR / name)
        ways = ["build on meta", "way 1: to_empty, then copy", "model.to_empty(device='cpu')",
                "sd = torch.load(path, mmap=True)", "model.load_state_dict(sd)",
                "the memory to_empty allocated", "way 2: assign",
                "model.load_state_dict(sd, assign=True)", "the model's tensors: the file's pages"]
        assert [text.index(s) for s in ways] == sorted(text.index(s) for s in ways), name
        assert "(2.weight, 2.bias here, with strict=False)" in text, name
        assert text.count("allocated: nothing") == 4 and "allocated: the whole model" in text, name


def test_memory_region_tells_a_mapped_file_from_allocated_memory(tmp_path):
    path = tmp_path / "t.pt"
    torch.save({"w": torch.arange(4096.0)}, path)
    mapped = torch.load(path, mmap=True)["w"]
    assert make_figures.memory_region(mapped.data_ptr()) == str(path)
    assert make_figures.memory_region(torch.arange(4096.0).data_ptr()) != str(path)
    with pytest.raises(ValueError):
        make_figures.memory_region(8)  # the zero page is mapped by no process


# --- the Chinese twins ---------------------------------------------------------------------------

CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")
STYLE_ATTR = re.compile(r'<text style="([^"]*)" x="([\d.-]+)" y="([\d.-]+)"[^>]*>(.*?)</text>', re.S)


def texts_with_style(path):
    """(style, x, y, text) of every text element of an SVG."""
    raw = path.read_text(encoding="utf-8")
    return [(st, float(x), float(y), ET.fromstring(f"<t>{body}</t>").text or "")
            for st, x, y, body in STYLE_ATTR.findall(raw)]


EN = [name for name in make_figures.outputs() if ".zh_CN." not in name]


def test_every_figure_has_a_chinese_twin_named_as_sphinx_looks_it_up():
    # figure_language_filename's default is "{root}.{language}{ext}"
    zh = [name for name in make_figures.outputs() if ".zh_CN." in name]
    assert sorted(zh) == sorted(n.removesuffix(".svg") + ".zh_CN.svg" for n in EN)
    assert "load_pipeline.narrow.zh_CN.svg" in zh


@pytest.mark.parametrize("name", sorted(EN))
def test_the_chinese_twin_translates_the_prose_and_keeps_code_and_data(name):
    en = texts_with_style(FIGURE_DIR / name)
    zh = texts_with_style(FIGURE_DIR / make_figures.localized(name, "zh_CN"))
    assert not any(CJK.search(t) for _, _, _, t in en)
    assert any(CJK.search(t) for _, _, _, t in zh)
    # code, keys, values and torch's messages: the same monospace lines in the same order
    mono = lambda texts: [t for st, _, _, t in texts if "Mono" in st]
    assert mono(zh) == mono(en)
    # no English label is left untranslated
    labels = {k for k in make_figures.ZH if "{" not in k}
    assert not labels & {t.strip() for st, _, _, t in zh if "Mono" not in st}
    # Chinese text asks for a CJK font; DejaVu stays first so that Latin text keeps its metrics
    for st, _, _, t in zh:
        if CJK.search(t):
            assert "font-family: 'DejaVu Sans', 'Noto Sans CJK SC'" in st, (t, st)


def test_every_translation_is_used(fresh):
    # the fixture's write_all() drew every figure in both languages
    assert USED_LABELS == set(make_figures.ZH)


def test_an_unused_or_missing_translation_fails_the_build(monkeypatch, tmp_path):
    monkeypatch.setattr(make_figures, "FIGURES", {"module_tree.svg": make_figures.draw_module_tree})
    monkeypatch.setitem(make_figures.ZH, "a label no figure has", "没有图用到的标签")
    with pytest.raises(ValueError, match="a label no figure has"):
        make_figures.write_all(tmp_path)
    monkeypatch.delitem(make_figures.ZH, "a label no figure has")
    monkeypatch.delitem(make_figures.ZH, "module")
    with pytest.raises(KeyError, match="'module'"):
        make_figures.write_all(tmp_path)
    assert make_figures._language == "en"


# --- nothing overflows, in either language -------------------------------------------------------

def test_cjk_text_is_measured_one_em_a_character_and_wrapped_between_characters():
    em = make_figures.BODY / 72
    assert make_figures.width("张量参数缓冲区") == pytest.approx(7 * em)
    assert make_figures.width("张量 tensor") == pytest.approx(2 * em + make_figures.width(" tensor"))
    with pytest.raises(ValueError, match="code text stays in English"):
        make_figures.width("张量", mono=True)
    text = "每个参数和持久缓冲区按 prefix + name 查找。形状相同：复制。"
    lines = make_figures.wrap(text, 6 * em + 0.01)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert all(make_figures.width(s) <= 6 * em + 0.01 for s in lines)
    assert not any(s[0] in "，。：；、）" for s in lines)  # punctuation never starts a line
    assert make_figures.wrap("a plain English sentence", 1.2) == ["a plain English", "sentence"]


def test_overflow_check_catches_text_wider_than_its_box():
    c = make_figures.Canvas("t")
    c.box(1, 1, 0.5, 0.3)
    c.text(1.05, 1.15, "张量张量")  # 4 em = 0.56 in in a 0.5 in box
    assert len(c.overflows(3)) == 1 and "张量张量" in c.overflows(3)[0]
    c2 = make_figures.Canvas("t")
    c2.box(1, 1, 0.7, 0.3)
    c2.text(1.05, 1.15, "张量张量")
    assert c2.overflows(3) == []
    with pytest.raises(ValueError, match="overflows"):
        c.save(make_figures.Path("unused.svg"), 3)


@pytest.mark.parametrize("name", sorted(make_figures.outputs()))
def test_no_text_leaves_the_card(name):
    root = ET.parse(FIGURE_DIR / name).getroot()
    card_w = float(root.get("width").removesuffix("pt"))
    card_h = float(root.get("height").removesuffix("pt"))
    for style, x, y, t in texts_with_style(FIGURE_DIR / name):
        size = float(re.search(r"font-size: ([\d.]+)px", style).group(1))
        w = 72 * make_figures.width(t, size=size, mono="Mono" in style, bold="font-weight: 700" in style)
        anchor = re.search(r"text-anchor: (\w+)", style).group(1)
        x0 = x - {"start": 0, "middle": w / 2, "end": w}[anchor]
        assert 1.44 - 0.72 <= x0 and x0 + w <= card_w - 1.44 + 0.72, (t, x0, x0 + w, card_w)
        assert size <= y <= card_h, (t, y)
