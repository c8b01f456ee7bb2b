"""The committed figures are exactly what figures/make_figures.py writes, and what they show is real torch."""
from __future__ import annotations

import inspect
import re
import shutil
import sys
import xml.etree.ElementTree as ET

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


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    make_figures.write_all(out)
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


def test_check_flags_a_corrupted_or_missing_figure(fresh, tmp_path, capsys):
    for name in make_figures.outputs():
        shutil.copy(fresh / name, tmp_path / name)
    assert make_figures.main(["--check", "--dir", str(tmp_path)]) == 0
    target = tmp_path / "module_tree.svg"
    target.write_bytes(target.read_bytes().replace(b"running_mean", b"running_mea"))
    (tmp_path / "state_dict_key.svg").unlink()
    assert sorted(make_figures.stale(tmp_path)) == ["module_tree.svg", "state_dict_key.svg"]
    assert make_figures.main(["--check", "--dir", str(tmp_path)]) == 1
    assert "stale figure: module_tree.svg" in capsys.readouterr().err


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
