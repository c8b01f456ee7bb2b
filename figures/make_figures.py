"""Generate every figure of the book as SVG into chapters/figures/.

    python -m figures.make_figures            # (re)write the SVGs
    python -m figures.make_figures --check    # exit 1 if a committed SVG is not what this script writes

What a figure shows is read from real torch objects (module dicts, state_dict keys, a real
checkpoint round trip) or quoted from torch's own source, and checked here while drawing, so a
figure cannot silently disagree with the installed torch. The output is byte-for-byte
deterministic: fixed fonts, fixed SVG hash salt, no dates.

Every figure is written twice: NAME.svg in English and NAME.zh_CN.svg in Chinese, the labels of
the latter from the table ZH below (code stays English), laid out with the width of the Chinese
text; a text that would overflow its box stops the script in either language.

Every figure sits on its own rounded card. Its colours are CSS variables defined inside the SVG:
the light palette by default, the dark one under `prefers-color-scheme: dark`. A browser hands an
SVG image the colour scheme of the page that shows it, and the book's dark theme sets
`color-scheme: dark`, so a figure follows the book's light/dark switch.
"""
from __future__ import annotations

import argparse
import copy
import filecmp
import functools
import inspect
import io
import re
import sys
import tempfile
import unicodedata
import warnings
from collections import OrderedDict
from pathlib import Path

import matplotlib

matplotlib.use("svg")

import matplotlib.font_manager as fm  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402
from matplotlib.textpath import text_to_path  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "chapters" / "figures"

# --- style -----------------------------------------------------------------------------------

plt.rcParams.update({
    "svg.hashsalt": "nn-module-from-the-inside",
    "svg.fonttype": "none",  # text stays text: searchable, small, testable
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.monospace": ["DejaVu Sans Mono"],
    "font.size": 10,
    "path.simplify": False,
})
SAVE_KW = {"format": "svg", "metadata": {"Date": None, "Creator": None}, "facecolor": "none"}

W = 8.0  # figure width in inches; the book shows it at about 770 px, so 10pt text is 13 px
# The narrow twin (NAME.narrow.svg) of each figure, shown on phones: a 390 px screen gives it
# about 350 px, so its 10pt text is still 10 CSS px there (the wide one would be 6 px).
WN = 4.4
PAD = 0.3  # inner margin of the card

# name: (light, dark). The dark values follow the book theme's dark colours (text #ced6dd on
# #14181e); every figure is drawn with the light values, which save() turns into var(--name).
PALETTE = {
    "ink": ("#1f2328", "#ced6dd"),
    "muted": ("#59636e", "#9ca4af"),
    "card": ("#f6f8fa", "#1a1f26"),
    "card-edge": ("#c9d1d9", "#48566b"),
    "face": ("#ffffff", "#14181e"),
    "decide": ("#7d5a00", "#e3b341"),
    "decide-fill": ("#fff5d6", "#2e2508"),
    "param": ("#0a5ac2", "#6cb6ff"),
    "param-fill": ("#e3eefc", "#0f2540"),
    "buffer": ("#1a7339", "#57c47b"),
    "buffer-fill": ("#e2f3e7", "#0f2a19"),
    "module": ("#7438d1", "#c297ff"),
    "module-fill": ("#efe7fc", "#261a3f"),
    "plain": ("#4f5862", "#a0aab4"),
    "plain-fill": ("#eceff2", "#232a33"),
    "error": ("#b4232c", "#ff8e87"),
    "error-fill": ("#fde8e8", "#3a1417"),
}
INK, MUTED = PALETTE["ink"][0], PALETTE["muted"][0]
CARD, CARD_EDGE = PALETTE["card"][0], PALETTE["card-edge"][0]
WHITE = PALETTE["face"][0]
DECIDE, DECIDE_FILL = PALETTE["decide"][0], PALETTE["decide-fill"][0]
PARAM, PARAM_FILL = PALETTE["param"][0], PALETTE["param-fill"][0]
BUFFER, BUFFER_FILL = PALETTE["buffer"][0], PALETTE["buffer-fill"][0]
MODULE, MODULE_FILL = PALETTE["module"][0], PALETTE["module-fill"][0]
PLAIN, PLAIN_FILL = PALETTE["plain"][0], PALETTE["plain-fill"][0]
ERROR, ERROR_FILL = PALETTE["error"][0], PALETTE["error-fill"][0]
HEX = re.compile(r"#[0-9a-fA-F]{6}\b")


def palette_css() -> str:
    """The SVG's own style sheet: one CSS variable per colour, light by default, dark on request."""
    light = " ".join(f"--{name}: {pair[0]};" for name, pair in PALETTE.items())
    dark = " ".join(f"--{name}: {pair[1]};" for name, pair in PALETTE.items())
    return (f"svg {{ {light} }}\n@media (prefers-color-scheme: dark) {{ svg {{ {dark} }} }}\n"
            "text { white-space: pre; }")  # keep the indentation of code lines


def themed(svg: str) -> str:
    """Replace every colour of matplotlib's SVG by its variable and add the palette's style sheet."""
    for name, (light, _) in PALETTE.items():
        svg = svg.replace(light, f"var(--{name})")
    if HEX.search(svg):
        raise ValueError(f"a colour outside the palette: {HEX.search(svg).group()}")
    if svg.count("<defs>") < 1:
        raise ValueError("no <defs> in matplotlib's SVG to hold the palette")
    return svg.replace("<defs>", f'<defs>\n  <style type="text/css">{palette_css()}</style>', 1)

BODY = 10  # pt, the smallest size used anywhere
TITLE = 13.5


def _font(size: float, mono: bool, bold: bool) -> fm.FontProperties:
    return fm.FontProperties(family="monospace" if mono else "sans-serif",
                             weight="bold" if bold else "normal", size=size)


def _check_fonts() -> None:
    """Text positions depend on font metrics: use the fonts that ship with matplotlib."""
    bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for mono in (False, True):
        for bold in (False, True):
            found = Path(fm.findfont(_font(BODY, mono, bold), fallback_to_default=False))
            if found.parent != bundled:
                raise RuntimeError(f"expected matplotlib's bundled DejaVu font, got {found}")


# --- languages ---------------------------------------------------------------------------------
#
# Every figure is drawn once per language: NAME.svg in English and NAME.zh_CN.svg, the file that
# Sphinx's figure_language_filename default `{root}.{language}{ext}` picks for the Chinese edition.
# Prose labels go through tr(), which looks them up in the table ZH below; code,
# identifiers, values and torch's own messages are never translated.

LANGUAGES = ("en", "zh_CN")
_language = "en"
_used_labels: set[str] = set()


def tr(label: str, **fields) -> str:
    """label in the language being drawn; {fields} are filled in after the lookup."""
    if _language == "zh_CN":
        if label not in ZH:
            raise KeyError(f"no zh_CN translation of the figure label {label!r} in "
                           "the table ZH of figures/make_figures.py")
        _used_labels.add(label)
        label = ZH[label]
    return label.format(**fields) if fields else label


def tr_prose(label: str, **fields) -> str:
    """tr() for a label that may be a line of code (`name(...)` or `x = name(...)`), which stays."""
    if re.fullmatch(r"([\w.]+ = )?[\w.]+\(.*\)", label):
        return label
    return tr(label, **fields)


def para(lines: list[str], avail: float, fields: dict | None = None, **style) -> list[str]:
    """English lines as laid out by hand; in another language, the translated whole, wrapped
    (a translation may force a break with \\n). {fields} are filled in after the lookup."""
    fields = fields or {}
    if _language == "en":
        return [line.format(**fields) if fields else line for line in lines]
    return [line for part in tr(" ".join(lines), **fields).split("\n")
            for line in wrap(part, avail, **style)]


def localized(name: str, language: str) -> str:
    """The file name of figure `name` (NAME.svg or NAME.narrow.svg) in `language`."""
    return name if language == "en" else name.removesuffix(".svg") + f".{language}.svg"


# CJK glyphs are not in DejaVu: the browser takes them from the next font of this stack. Every
# font of it draws an ideograph and a full-width punctuation mark one em wide, which is what
# width() counts for them, so the layout holds whichever of them the reader has.
CJK_FAMILIES = "'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei'"
_glyph_cache: dict[tuple[bool, bool], object] = {}


def _in_dejavu(ch: str, mono: bool, bold: bool) -> bool:
    key = (mono, bold)
    if key not in _glyph_cache:
        _glyph_cache[key] = fm.get_font(fm.findfont(_font(BODY, mono, bold)))
    return _glyph_cache[key].get_char_index(ord(ch)) != 0


@functools.lru_cache(maxsize=None)  # the layout measures the same strings again and again
def width(s: str, size: float = BODY, mono: bool = False, bold: bool = False) -> float:
    """Width of one line of text in inches: DejaVu's metrics, one em for each CJK character."""
    total, run = 0.0, ""
    for ch in s + "\0":
        if ch == "\0" or not _in_dejavu(ch, mono, bold):
            if run:
                w, _, _ = text_to_path.get_text_width_height_descent(run, _font(size, mono, bold),
                                                                     ismath=False)
                total += w
                run = ""
            if ch == "\0":
                break
            if mono or unicodedata.east_asian_width(ch) not in ("W", "F"):
                raise ValueError(f"no font of the figures is sure to draw {ch!r} in {s!r}"
                                 + (" (code text stays in English)" if mono else ""))
            total += size
        else:
            run += ch
    return total / 72


def line_height(size: float = BODY) -> float:
    return size * 1.4 / 72


class Canvas:
    """A figure `width` inches wide whose data coordinates are inches, y pointing down.

    The title and the subtitle wrap to the width; `top` is the y below them.
    """

    def __init__(self, title: str, subtitle: str | None = None, width: float = W):
        self.W = width
        self.texts: list[tuple] = []  # (x, y, text, size, mono, bold, ha) of every text drawn
        self.boxes: list[tuple] = []  # (x, y, w, h) of every box drawn
        self.fig = plt.figure(figsize=(width, 4))
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_axis_off()
        titles = wrap(title, width - 2 * PAD, size=TITLE, bold=True)
        for i, line in enumerate(titles):
            self.text(PAD, 0.42 + i * line_height(TITLE), line, size=TITLE, bold=True)
        self.top = 0.42 + (len(titles) - 1) * line_height(TITLE) + 0.28 - line_height() / 2
        if subtitle:
            self.top = self.lines(PAD, self.top, [(line, {"color": MUTED}) for line in
                                                        wrap(subtitle, width - 2 * PAD)])

    def text(self, x, y, s, size=BODY, mono=False, bold=False, color=INK, ha="left", va="center",
             zorder=5):
        assert size >= BODY, s
        self.texts.append((x, y, s, size, mono, bold, ha))
        self.ax.text(x, y, s, fontproperties=_font(size, mono, bold), color=color, ha=ha, va=va,
                     zorder=zorder)

    def lines(self, x, y_top, rows, ha="left", size=BODY):
        """Stack lines of (text, style) starting at y_top; return the y below the last line."""
        lh = line_height(size)
        for i, (s, style) in enumerate(rows):
            self.text(x, y_top + (i + 0.5) * lh, s, size=size, ha=ha, **style)
        return y_top + len(rows) * lh

    def box(self, x, y, w, h, face=WHITE, edge=INK, lw=1.2, r=0.08, ls="-", zorder=2):
        self.boxes.append((x, y, w, h))
        self.ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=f"round,pad=0,rounding_size={r}",
                                         facecolor=face, edgecolor=edge, linewidth=lw,
                                         linestyle=ls, zorder=zorder))

    def arrow(self, points, color=INK, lw=1.2, head=True, both=False, zorder=3):
        style = "<|-|>" if both else ("-|>" if head else "-")
        codes = [MplPath.MOVETO] + [MplPath.LINETO] * (len(points) - 1)
        self.ax.add_patch(FancyArrowPatch(path=MplPath(points, codes), arrowstyle=style,
                                          mutation_scale=11, color=color, linewidth=lw,
                                          shrinkA=0, shrinkB=0, joinstyle="miter",
                                          capstyle="butt", zorder=zorder))

    def line(self, points, color=INK, lw=1.2, ls="-", zorder=3):
        xs, ys = zip(*points)
        self.ax.plot(xs, ys, color=color, linewidth=lw, linestyle=ls, solid_capstyle="butt",
                     zorder=zorder)

    def overflows(self, height: float) -> list[str]:
        """Every text that sticks out of the box it sits in (the innermost box around its middle),
        or out of the card; measured with width(), so CJK text counts at its real width."""
        card = (0.02, 0.02, self.W - 0.04, height - 0.04)
        bad = []
        for x, y, s, size, mono, bold, ha in self.texts:
            w, h = width(s, size, mono, bold), size / 72
            x0 = x - {"left": 0, "center": w / 2, "right": w}[ha]
            xm = x0 + w / 2
            around = [b for b in self.boxes if b[0] <= xm <= b[0] + b[2] and b[1] <= y <= b[1] + b[3]]
            bx, by, bw, bh = min(around, key=lambda b: b[2] * b[3]) if around else card
            for frame in {(bx, by, bw, bh), card}:
                fx, fy, fw, fh = frame
                if x0 < fx - 0.01 or x0 + w > fx + fw + 0.01 or y - h / 2 < fy or y + h / 2 > fy + fh:
                    bad.append(f"{s!r} ({x0:.2f}..{x0 + w:.2f}, {y:.2f}) leaves its box "
                               f"({fx:.2f}..{fx + fw:.2f}, {fy:.2f}..{fy + fh:.2f})")
                    break
        return bad

    def save(self, path: Path, height: float) -> None:
        bad = self.overflows(height)
        if bad:
            raise ValueError(f"{Path(path).name}: text overflows its box:\n  " + "\n  ".join(bad))
        self.fig.set_size_inches(self.W, height)
        self.ax.set_xlim(0, self.W)
        self.ax.set_ylim(height, 0)
        self.box(0.02, 0.02, self.W - 0.04, height - 0.04, face=CARD, edge=CARD_EDGE, lw=1.0, r=0.18,
                 zorder=0)
        out = io.StringIO()
        with warnings.catch_warnings():
            # CJK glyphs are not in DejaVu; the SVG keeps them as text for the browser's CJK font
            warnings.filterwarnings("ignore", r"Glyph \d+ .* missing from font", UserWarning)
            self.fig.savefig(out, **SAVE_KW)
        plt.close(self.fig)
        svg = themed(out.getvalue())
        if _language != "en":
            svg = svg.replace("font-family: 'DejaVu Sans', sans-serif",
                              f"font-family: 'DejaVu Sans', {CJK_FAMILIES}, sans-serif")
        Path(path).write_text(svg, encoding="utf-8")


_CJK = "\u2e80-\u9fff\u3000-\u303f\uff00-\uffef"
_OPENING = "（「『《“‘"
_CLOSING = "，。、：；！？）」』》”’"


def _atoms(s: str) -> list[str]:
    """The pieces a line may break between, each with the spaces before it: words, and each CJK
    character (punctuation stays with its neighbour, as Chinese typesetting wants)."""
    atoms: list[str] = []
    glue = False
    for atom in re.findall(rf" *(?:[{_CJK}]|[^ {_CJK}]+)| +$", s):
        if atoms and (glue or atom[0] in _CLOSING):
            atoms[-1] += atom
        else:
            atoms.append(atom)
        glue = atom[-1] in _OPENING
    return atoms


def wrap(s: str, avail: float, **style) -> list[str]:
    """Break s into lines no wider than avail inches, at spaces and between CJK characters
    (a single long word fails)."""
    lines: list[str] = []
    for atom in _atoms(s):
        if lines and width(lines[-1] + atom, **style) <= avail:
            lines[-1] += atom
        else:
            atom = atom.lstrip(" ")
            fits(atom, avail, **style)
            lines.append(atom)
    return lines


def fits(s, avail, **style):
    """Fail loudly instead of drawing text that overflows its box."""
    if width(s, **style) > avail:
        raise ValueError(f"text too wide for its box: {s!r} ({width(s, **style):.2f} > {avail:.2f} in)")


# --- 1. Module.__setattr__ -------------------------------------------------------------------

SETATTR_SOURCE = inspect.getsource(nn.Module.__setattr__)


def quoted(fragment: str) -> str:
    """A message fragment quoted from torch's __setattr__; <type> and <name> stand for the f-string fields."""
    literal = fragment.replace("<type>", "{torch.typename(value)}").replace("<name>", "{name}")
    if literal not in SETATTR_SOURCE:
        raise ValueError(f"not in torch's Module.__setattr__ source: {fragment!r}")
    return fragment


def para_rows(rows: list[tuple[str, dict]], avail: float) -> list[tuple[str, dict]]:
    """Rows of (text, style): code rows stay, each run of prose rows of one style goes through para()."""
    out: list[tuple[str, dict]] = []
    i = 0
    while i < len(rows):
        style = rows[i][1]
        if style.get("mono"):
            out.append(rows[i])
            i += 1
            continue
        j = i
        while j < len(rows) and rows[j][1] is style:
            j += 1
        out += [(line, style) for line in para([r[0] for r in rows[i:j]], avail,
                                               bold=style.get("bold", False))]
        i = j
    return out


def guard_lines(guard: list[str], avail: float) -> list[str]:
    """The guard's lines; a translation may break its lines with \\n."""
    if _language == "en":
        return guard
    return [line for part in tr(" ".join(guard)).split("\n") for line in wrap(part, avail)]


def _setattr_branches(action_width: float):
    # The tests of __setattr__ in the order the source makes them; the first that matches wins.
    order = ["isinstance(value, Parameter)", "name in params", "isinstance(value, Module)",
             "name in modules", "isinstance(value, Buffer)", "super().__setattr__(name, value)"]
    positions = [SETATTR_SOURCE.index(s) for s in order]
    assert positions == sorted(positions), "torch changed the order of the branches of __setattr__"
    sans, muted, plain = {}, {"color": MUTED}, {"color": MUTED}
    branches = [
        dict(cond=["isinstance(value, Parameter)"], guard=["_parameters", "exists?"],
             color=PARAM, fill=PARAM_FILL,
             action=[("remove name from __dict__,", sans),
                     ("_buffers, _modules,", sans),
                     ("_non_persistent_buffers_set", sans),
                     ("register_parameter(name, value)", {"mono": True, "bold": True})],
             error=("AttributeError", [quoted("cannot assign parameters before"),
                                       quoted("Module.__init__() call")])),
        dict(cond=["name in _parameters"], guard=["value is", "None?"],
             color=PARAM, fill=PARAM_FILL,
             action=[("register_parameter(name, None)", {"mono": True, "bold": True})],
             error=("TypeError", [quoted("cannot assign '<type>' as parameter '<name>'"),
                                  quoted("(torch.nn.Parameter or None expected)")])),
        dict(cond=["isinstance(value, Module)"], guard=["_modules", "exists?"],
             color=MODULE, fill=MODULE_FILL,
             action=[("remove name from __dict__,", sans),
                     ("_parameters, _buffers,", sans),
                     ("_non_persistent_buffers_set", sans),
                     ("_modules[name] = value", {"mono": True, "bold": True})],
             error=("AttributeError", [quoted("cannot assign module before"),
                                       quoted("Module.__init__() call")])),
        dict(cond=["name in _modules"], guard=["value is", "None?"],
             color=MODULE, fill=MODULE_FILL,
             action=[("_modules[name] = None", {"mono": True, "bold": True})],
             error=("TypeError", [quoted("cannot assign '<type>' as child module '<name>'"),
                                  quoted("(torch.nn.Module or None expected)")])),
        dict(cond=["isinstance(value, Buffer)", "or name in _buffers"], guard=["Tensor or", "None?"],
             color=BUFFER, fill=BUFFER_FILL,
             action=[("register_buffer(name, value,", {"mono": True, "bold": True}),
                     ("                persistent)", {"mono": True, "bold": True}),
                     ("persistent: from the Buffer, else kept", muted),
                     ("from before", muted)],
             error=("TypeError", [quoted("cannot assign '<type>' as buffer '<name>'"),
                                  quoted("(torch.nn.Buffer, torch.Tensor or None expected)")])),
        dict(cond=["otherwise"], guard=None, color=PLAIN, fill=PLAIN_FILL,
             action=[("super().__setattr__(name, value)", {"mono": True, "bold": True}),
                     ("that is object.__setattr__: a plain", plain),
                     ("entry of __dict__", plain)],
             error=None),
    ]
    for br in branches:
        br["action"] = para_rows(br["action"], action_width)
        if br["guard"] is None:
            br["cond"] = [tr(s) for s in br["cond"]]
    return branches


def torch_version() -> str:
    return torch.__version__.split("+")[0]


def titled(title: str, subtitle: str, width: float) -> Canvas:
    """A canvas with the title and the subtitle in the language being drawn; {version} is torch's."""
    return Canvas(tr(title), tr(subtitle, version=torch_version()), width=width)


def setattr_canvas(width: float) -> Canvas:
    return titled("module.name = value: the path through nn.Module.__setattr__",
                  "torch {version}: the checks run top to bottom, the first one that matches wins", width)


def draw_setattr(path: Path) -> None:
    c = setattr_canvas(W)
    lh = line_height()
    xa, wa = PAD, 2.56                      # condition column
    xb, wb = xa + wa + 0.38, 1.16           # guard column
    xc = xb + wb + 0.38                     # action column
    wc = W - PAD - xc
    we = W - PAD - xb                       # error boxes span guard + action columns
    ipad = 0.1

    y = 1.05
    c.box(xa + wa / 2 - 0.95, y, 1.9, 0.36, face=WHITE, edge=INK, r=0.18)
    c.text(xa + wa / 2, y + 0.18, "module.name = value", mono=True, ha="center")
    prev_bottom = y + 0.36
    y += 0.36 + 0.34

    for br in _setattr_branches(wc - 2 * ipad):
        last = br["guard"] is None
        guard = [] if last else guard_lines(br["guard"], wb - 0.16)
        for s in br["cond"]:
            fits(s, wa - 2 * ipad, mono=not last)
        for s, st in br["action"]:
            fits(s, wc - 2 * ipad, mono=st.get("mono", False), bold=st.get("bold", False))
        hc = len(br["cond"]) * lh + 0.16
        ha_ = len(br["action"]) * lh + 0.16
        hg = len(guard) * lh + 0.16 if guard else 0
        top_h = max(hc, ha_, hg)
        mid = y + top_h / 2

        # condition (a decision on the main spine)
        c.arrow([(xa + wa / 2, prev_bottom), (xa + wa / 2, mid - hc / 2)])
        if prev_bottom > 1.5:
            c.text(xa + wa / 2 + 0.08, (prev_bottom + mid - hc / 2) / 2, tr("no"), color=MUTED)
        c.box(xa, mid - hc / 2, wa, hc, face=PLAIN_FILL if last else DECIDE_FILL,
              edge=PLAIN if last else DECIDE)
        c.lines(xa + wa / 2, mid - hc / 2 + 0.08, [(s, {"mono": not last}) for s in br["cond"]],
                ha="center")

        # action
        c.box(xc, mid - ha_ / 2, wc, ha_, face=br["fill"], edge=br["color"])
        c.lines(xc + ipad, mid - ha_ / 2 + 0.08, br["action"])

        if br["guard"] is None:
            c.arrow([(xa + wa, mid), (xc, mid)])
            y = mid + top_h / 2 + 0.2
            break

        # guard: yes -> action, no -> error
        c.arrow([(xa + wa, mid), (xb, mid)])
        c.text((xa + wa + xb) / 2, mid - 0.1, tr("yes"), color=MUTED, ha="center")
        c.box(xb, mid - hg / 2, wb, hg, face=DECIDE_FILL, edge=DECIDE)
        c.lines(xb + wb / 2, mid - hg / 2 + 0.08, [(s, {"mono": "_" in s}) for s in guard],
                ha="center")
        c.arrow([(xb + wb, mid), (xc, mid)])
        c.text((xb + wb + xc) / 2, mid - 0.1, tr("yes"), color=MUTED, ha="center")

        kind, message = br["error"]
        for s in message:
            fits(s, we - 2 * ipad, mono=True)
        he = (1 + len(message)) * lh + 0.16
        ye = y + top_h + 0.26
        c.arrow([(xb + wb / 2, mid + hg / 2), (xb + wb / 2, ye)], color=ERROR)
        c.text(xb + wb / 2 + 0.08, (mid + hg / 2 + ye) / 2, tr("no"), color=ERROR)
        c.box(xb, ye, we, he, face=ERROR_FILL, edge=ERROR)
        c.lines(xb + ipad, ye + 0.08, [(kind, {"bold": True, "color": ERROR})]
                + [(s, {"mono": True}) for s in message])

        prev_bottom = mid + hc / 2
        y = ye + he + 0.22
    c.save(path, y + 0.1)


# --- 2. the module tree ----------------------------------------------------------------------

# The figure prints this code and draws the model this very code builds.
TREE_MODEL_CODE = ("nn.Sequential(OrderedDict(encoder=nn.Linear(4, 3), norm=nn.BatchNorm1d(3),\n"
                   "                          act=nn.ReLU(), head=nn.Linear(3, 2, bias=False)))")


def tree_model() -> nn.Sequential:
    """The small model drawn in module_tree.svg."""
    torch.manual_seed(0)
    return eval(TREE_MODEL_CODE, {"nn": nn, "OrderedDict": OrderedDict})


def shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


def dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def dict_entries(module: nn.Module) -> dict[str, list[str]]:
    """The three dicts of one module, as the lines the figure prints."""
    return {
        "_parameters": [f"{k}: None" if p is None else f"{k}: {shape(p)}"
                        for k, p in module._parameters.items()],
        "_buffers": [f"{k}: None" if b is None else f"{k}: {shape(b)} {dtype(b)}"
                     for k, b in module._buffers.items()],
        "_modules": [f"{k}: {type(m).__name__}" for k, m in module._modules.items()],
    }


def draw_trunk(c: Canvas, placed, indent: float) -> None:
    """The tree's edges: a trunk down from the root's box, one arrow into each child's label."""
    (root_top, root_h, _), *children = placed
    tx = PAD + indent / 2
    c.line([(tx, root_top + root_h), (tx, children[-1][2])], color=MODULE, lw=1.4)
    for _, _, label_y in children:
        c.arrow([(tx, label_y), (PAD + indent, label_y)], color=MODULE, lw=1.4)


def tree_canvas(width: float) -> Canvas:
    return titled("Every nn.Module keeps three dicts",
                  "each module's own dicts, read back from the model that this code builds "
                  "(torch {version}):", width)


TREE_NOTE = ("head.bias is registered as None: it stays in _parameters, but parameters() and "
             "state_dict() skip it. ReLU has no state, so all three of its dicts are empty.")


def draw_module_tree(path: Path) -> None:
    model = tree_model()
    assert model.head.bias is None and "bias" in model.head._parameters
    assert "head.bias" not in model.state_dict()
    c = tree_canvas(W)
    code = TREE_MODEL_CODE.split("\n")
    for s in code:
        fits(s, W - 2 * PAD, mono=True)
    y = c.lines(PAD, c.top + 0.06, [(s, {"mono": True}) for s in code])
    lh = line_height()
    indent = 0.42
    cols = {"_parameters": 1.95, "_buffers": 3.5, "_modules": 6.1}
    colour = {"_parameters": PARAM, "_buffers": BUFFER, "_modules": MODULE}
    col_end = {"_parameters": cols["_buffers"], "_buffers": cols["_modules"], "_modules": W - PAD}

    y += 0.3
    c.text(PAD + 0.12, y, tr("module"), bold=True, color=MUTED)
    for name, x in cols.items():
        c.text(x, y, name, mono=True, bold=True, color=colour[name])
    y += 0.22

    rows = [("model", model, 0)] + [(name, m, 1) for name, m in model.named_children()]
    placed = []  # (top, height, y of the label) of every box
    for label, module, depth in rows:
        entries = dict_entries(module)
        n = max(2, *(len(v) for v in entries.values()))
        h = n * lh + 0.14
        x0 = PAD + depth * indent
        c.box(x0, y, W - PAD - x0, h, face=WHITE, edge=CARD_EDGE if depth else INK,
              lw=1.0 if depth else 1.3)
        c.lines(x0 + 0.12, y + 0.06, [(label, {"mono": True, "bold": True}),
                                      (type(module).__name__, {"color": MUTED})])
        for name, x in cols.items():
            shown = entries[name] or ["{}"]
            for s in shown:
                fits(s, col_end[name] - x - 0.08, mono=True)
            c.lines(x, y + 0.06, [(s, {"mono": True, "color": INK if entries[name] else MUTED})
                                  for s in shown])
        placed.append((y, h, y + 0.06 + lh / 2))
        y += h + 0.14
    draw_trunk(c, placed, indent)

    note = para(["head.bias is registered as None: it stays in _parameters, but parameters() and",
                 "state_dict() skip it. ReLU has no state, so all three of its dicts are empty."],
                W - 2 * PAD)
    assert " ".join(note) == TREE_NOTE or _language != "en"
    for s in note:
        fits(s, W - 2 * PAD)
    y = c.lines(PAD, y + 0.02, [(s, {"color": MUTED}) for s in note])
    c.save(path, y + 0.2)


# --- 3. anatomy of a state_dict key ----------------------------------------------------------

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def key_model() -> nn.Sequential:
    """The model whose state_dict() supplies the example key of state_dict_key.svg."""
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(encoder=Encoder(), norm=nn.BatchNorm1d(4),
                                     head=nn.Linear(4, 2)))


def resolve_key(model: nn.Module, key: str):
    """Walk a state_dict key from the root: one row (segment, role, lookup, result) per segment."""
    *prefix, local = key.split(".")
    rows, owner = [], model
    for seg in prefix:
        child = owner._modules[seg]
        indexed = isinstance(owner, (nn.ModuleList, nn.Sequential)) and seg.isdigit()
        role = "container index" if indexed else "child name"
        rows.append((seg, role, f"{type(owner).__name__}._modules['{seg}']", type(child).__name__))
        owner = child
    if local in owner._parameters:
        where, t = "_parameters", owner._parameters[local]
        result = f"Parameter {shape(t)}"
    else:
        where, t = "_buffers", owner._buffers[local]
        result = f"tensor {shape(t)}"
    assert torch.equal(model.state_dict()[key], t)
    rows.append((local, "local name", f"{type(owner).__name__}.{where}['{local}']", result))
    return rows


def key_canvas(width: float) -> Canvas:
    return Canvas(tr("Anatomy of a state_dict key"),
                  tr("a real key of model.state_dict(), resolved by walking the dicts from the root"),
                  width=width)


def key_legend(c: Canvas, x: float, y: float) -> None:
    """The colour key of a state_dict listing: which keys live in _parameters, which in _buffers."""
    for label, col in [(tr("in _parameters"), PARAM), (tr("in _buffers"), BUFFER)]:
        c.box(x, y - 0.06, 0.12, 0.12, face=col, edge=col, r=0.02)
        c.text(x + 0.18, y, label, color=col)
        x += 0.18 + width(label) + 0.3


def key_note(model: nn.Module) -> str:
    """The note under the keys: which layer has none, and why."""
    empty = next(i for i, m in enumerate(model.encoder.layers) if not m.state_dict())
    return tr("No encoder.layers.{i}.* key: layer {i} is a {cls}, which holds no tensors.",
              i=empty, cls=type(model.encoder.layers[empty]).__name__)


def draw_state_dict_key(path: Path) -> None:
    model = key_model()
    keys = list(model.state_dict())
    key = next(k for k in keys if k.count(".") == 3)  # encoder.layers.0.weight
    rows = resolve_key(model, key)
    c = key_canvas(W)

    # the key, big, one colour per part
    size = 18
    segs = key.split(".")
    total = width(key, size=size, mono=True, bold=True)
    x = (W - total) / 2
    ky = 1.28
    starts = []
    for i, seg in enumerate(segs):
        starts.append(x)
        col = PARAM if i == len(segs) - 1 else MODULE
        c.text(x, ky, seg, size=size, mono=True, bold=True, color=col)
        x += width(seg, size=size, mono=True, bold=True)
        if i < len(segs) - 1:
            c.text(x, ky, ".", size=size, mono=True, bold=True, color=MUTED)
            x += width(".", size=size, mono=True, bold=True)
    ends = [s + width(seg, size=size, mono=True, bold=True) for s, seg in zip(starts, segs)]

    # brackets under the key: prefix vs local name
    by = ky + 0.26
    for (x0, x1, col, label) in [
        (starts[0], ends[-2], MODULE, tr("prefix: path of _modules names from the root")),
        (starts[-1], ends[-1], PARAM, tr("local name")),
    ]:
        c.line([(x0, by - 0.06), (x0, by), (x1, by), (x1, by - 0.06)], color=col, lw=1.3)
        c.line([((x0 + x1) / 2, by), ((x0 + x1) / 2, by + 0.1)], color=col, lw=1.3)
        lx = min((x0 + x1) / 2, x1 - width(label) / 2)  # keep the two labels apart
        c.text(lx, by + 0.24, label, color=col, ha="center")

    # the walk, one row per segment
    cols = [PAD + 0.12, PAD + 1.2, PAD + 2.7, PAD + 5.55]
    heads = [tr(h) for h in ["segment", "role", "looked up in", "gives"]]
    ty = by + 0.72
    for x, h in zip(cols, heads):
        c.text(x, ty, h, bold=True, color=MUTED)
    ty += 0.2
    rh = 0.34
    for i, (seg, role, lookup, result) in enumerate(rows):
        last = i == len(rows) - 1
        col, fill = (PARAM, PARAM_FILL) if last else (MODULE, MODULE_FILL)
        yy = ty + i * (rh + 0.08)
        c.box(cols[0] - 0.1, yy, W - PAD - cols[0] + 0.1, rh, face=fill, edge=col, lw=1.0)
        c.text(cols[0], yy + rh / 2, seg, mono=True, bold=True, color=col)
        c.text(cols[1], yy + rh / 2, tr(role))
        fits(lookup, cols[3] - cols[2] - 0.1, mono=True)
        c.text(cols[2], yy + rh / 2, lookup, mono=True)
        c.text(cols[3], yy + rh / 2, result, mono=True, bold=last)
    walk_end = ty + len(rows) * (rh + 0.08) - 0.08

    # every key of this model, parameters and buffers
    y = walk_end + 0.45
    heading = tr("all {n} keys of this model's state_dict():", n=len(keys))
    c.text(PAD, y, heading, bold=True)
    key_legend(c, PAD + width(heading, bold=True) + 0.25, y)
    y += 0.14
    owners = dict(model.named_modules())
    ncol = 3
    per = -(-len(keys) // ncol)
    colw = (W - 2 * PAD) / ncol
    for j, k in enumerate(keys):
        owner_name, _, local = k.rpartition(".")
        is_param = local in owners[owner_name]._parameters
        fits(k, colw - 0.1, mono=True)
        c.text(PAD + (j // per) * colw, y + (j % per + 0.5) * line_height(), k, mono=True,
               bold=k == key, color=PARAM if is_param else BUFFER)
    y += per * line_height()
    y = _muted_note(c, y + 0.1, key_note(model))
    c.save(path, y + 0.2)


# --- 4. the exact-resume contract ------------------------------------------------------------

RESUME_STEPS = 8


@functools.cache  # one run serves the wide and the narrow figure in both languages
def exact_resume_run(n_steps: int = RESUME_STEPS) -> dict:
    """Run the contract for real on a toy model: N steps straight vs N/2, checkpoint, N/2."""

    def build(seed):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        return model, opt, sched

    def train(model, opt, sched, steps):
        for _ in range(steps):
            x, y = torch.randn(16, 4), torch.randn(16, 1)  # data and dropout both draw from the RNG
            loss = F.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()

    def tensors(model, opt):
        out = dict(model.state_dict())
        for pid, st in opt.state_dict()["state"].items():
            out.update({f"optimizer.{pid}.{k}": v for k, v in st.items() if torch.is_tensor(v)})
        out["rng"] = torch.get_rng_state()
        return out

    half = n_steps // 2
    a = build(0)
    train(*a, n_steps)
    end_a = tensors(a[0], a[1])

    b = build(0)
    train(*b, half)
    buf = io.BytesIO()
    torch.save({"model": b[0].state_dict(), "optimizer": b[1].state_dict(),
                "scheduler": b[2].state_dict(), "epoch": half, "rng": torch.get_rng_state()}, buf)
    del b                                   # the process ends
    model, opt, sched = build(1)            # rebuild from scratch: other seed, other weights
    ckpt = torch.load(io.BytesIO(buf.getvalue()))
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    torch.set_rng_state(ckpt["rng"])
    train(model, opt, sched, n_steps - ckpt["epoch"])
    end_b = tensors(model, opt)

    assert end_a.keys() == end_b.keys()
    equal = all(torch.equal(end_a[k], end_b[k]) for k in end_a)
    assert equal, "the exact-resume contract does not hold on the toy model"
    assert a[2].get_last_lr() == sched.get_last_lr()
    return {"steps": n_steps, "tensors": len(end_a), "equal": equal}


def resume_canvas(width: float) -> Canvas:
    return Canvas(tr("The exact-resume contract"),
                  tr("stopping, saving and loading halfway must not change a single bit of the result"),
                  width=width)


RESUME_NOTE = ["Checked when this figure was built: a toy model with dropout, SGD with momentum "
               "and StepLR,", "N = {steps} steps; all {tensors} tensors of A and B are "
               "torch.equal, and the learning rates match."]
RESUME_CHECK = "on every tensor: weights, buffers, optimizer state, RNG state"


def draw_checkpoint_timeline(path: Path) -> None:
    run = exact_resume_run()
    c = resume_canvas(W)
    x0, x1 = PAD + 0.1, W - PAD - 0.55      # both lanes run from x0 to x1
    ya, yb = 1.5, 3.3
    bh = 0.42
    mono_b = {"mono": True}

    # lane A
    c.text(x0, ya - bh / 2 - 0.17, tr("run A"), bold=True, color=MUTED)
    c.box(x0, ya - bh / 2, x1 - x0, bh, face=PARAM_FILL, edge=PARAM)
    c.text((x0 + x1) / 2, ya, tr("N steps, uninterrupted"), ha="center", bold=True, color=PARAM)

    # lane B: N/2 steps -> save -> process ends -> rebuild -> load -> N/2 steps
    c.text(x0, yb - 0.74, tr("run B"), bold=True, color=MUTED)
    gap = 0.13
    save_lines = ["save(model,", "     optimizer,", "     scheduler,", "     epoch,",
                  "     RNG states)"]
    parts = [
        ("steps", None, [tr("N/2 steps")]),
        ("box", max(width(s, mono=True) for s in save_lines) + 0.2, save_lines),
        ("break", 0.75, para(["process", "ends"], 0.75, bold=True)),
        ("box", 1.05, para(["rebuild", "from scratch"], 1.05 - 0.16)),
        ("box", 0.62, ["load"]),
        ("steps", None, [tr("N/2 steps")]),
    ]
    fixed = sum(w for _, w, _ in parts if w) + gap * (len(parts) - 1)
    bar = (x1 - x0 - fixed) / 2           # the two halves get the same length
    fits(tr("N/2 steps"), bar - 0.2, bold=True)
    lh = line_height()
    x = x0
    for i, (kind, w, label) in enumerate(parts):
        w = w or bar
        if kind == "steps":
            c.box(x, yb - bh / 2, w, bh, face=PARAM_FILL, edge=PARAM)
            c.text(x + w / 2, yb, label[0], ha="center", bold=True, color=PARAM)
        elif kind == "break":
            xm = x + w / 2
            c.line([(x - gap, yb), (xm - 0.14, yb)], color=MUTED, lw=1.2, ls=(0, (2, 2)))
            c.line([(xm + 0.14, yb), (x + w + gap, yb)], color=MUTED, lw=1.2, ls=(0, (2, 2)))
            c.line([(xm - 0.06, yb - 0.3), (xm + 0.06, yb - 0.1), (xm - 0.06, yb + 0.1),
                    (xm + 0.06, yb + 0.3)], color=ERROR, lw=2.0)
            c.lines(xm, yb + 0.4, [(s, {"color": ERROR, "bold": True}) for s in label], ha="center")
        else:
            h = len(label) * lh + 0.14
            for s in label:
                fits(s, w - 0.16, mono=label is save_lines or s == "load")
            c.box(x, yb - h / 2, w, h, face=WHITE, edge=INK)
            if label is save_lines:
                c.lines(x + 0.1, yb - h / 2 + 0.07, [(s, mono_b) for s in label])
            else:
                c.lines(x + w / 2, yb - len(label) * lh / 2,
                        [(s, mono_b if s == "load" else {}) for s in label], ha="center")
        if kind != "break" and i + 1 < len(parts) and parts[i + 1][0] != "break":
            c.line([(x + w, yb), (x + w + gap, yb)], color=INK, lw=1.2)  # join to the next part
        x += w + gap

    # the two end states, joined by the check
    xe = x1 + 0.28
    for yy, name, dy in [(ya, "A", -0.26), (yb, "B", 0.26)]:  # the end states
        c.line([(x1, yy), (xe, yy)], color=INK, lw=1.2)
        c.ax.add_patch(plt.Circle((xe, yy), 0.09, facecolor=INK, edgecolor=INK, zorder=4))
        c.text(xe, yy + dy, name, bold=True, ha="center")
    c.arrow([(xe, ya + 0.14), (xe, yb - 0.14)], color=BUFFER, lw=1.6, both=True)
    ym = (ya + yb) / 2
    c.text(xe - 0.14, ym - 0.1, "torch.equal", mono=True, bold=True, color=BUFFER, ha="right")
    c.text(xe - 0.14, ym + 0.1, tr(RESUME_CHECK), color=BUFFER, ha="right")

    y = yb + 0.95
    note = para(RESUME_NOTE, W - 2 * PAD, fields={"steps": run["steps"], "tensors": run["tensors"]})
    for s in note:
        fits(s, W - 2 * PAD)
    y = c.lines(PAD, y, [(s, {"color": MUTED}) for s in note])
    c.save(path, y + 0.2)


# --- 5. the key-rewriting pipeline of a load (chapter 6) -------------------------------------

def stage(c: Canvas, x: float, y: float, w: float, title: str, desc: str, color: str,
          rows=(), split: float | None = None) -> float:
    """A step of a pipeline: a box with its title, its description and rows of (text, style);
    with `split`, the rows stand in a column that starts `split` inches into the box. Returns the
    y of the box's bottom."""
    lh = line_height()
    text_w = (split or w) - 0.24
    left = ([(s, {"bold": True, "color": color}) for s in wrap(title, text_w, bold=True)]
            + [(s, {}) for s in wrap(desc, text_w)])
    right = list(rows)
    if split is None:
        left, right = left + right, []
    h = max(len(left), len(right)) * lh + 0.16
    c.box(x, y, w, h, face=WHITE, edge=color)
    c.lines(x + 0.12, y + 0.08, left)
    if right:
        c.lines(x + split, y + 0.08, right)
    return y + h


@functools.cache  # one run serves the wide and the narrow figure in both languages
def load_pipeline_run() -> dict:
    """Load an old, compiled model's checkpoint into the renamed new model, recording every step."""
    events = []

    class BlockV1(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

    class Block(nn.Module):
        _version = 2  # version 1 called the projection `fc`

        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(3, 3)

        def _load_from_state_dict(self, state_dict, prefix, local_metadata, *rest):
            version = local_metadata.get("version")
            if version is None or version < 2:
                for key in [k for k in state_dict if k.startswith(prefix + "fc.")]:
                    state_dict[prefix + "proj." + key[len(prefix + "fc."):]] = state_dict.pop(key)
            events.append(("migrate", prefix, version, list(state_dict)))
            super()._load_from_state_dict(state_dict, prefix, local_metadata, *rest)

    class OldNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.block, self.fc, self.aux = BlockV1(), nn.Linear(3, 2), nn.Linear(3, 1)

    class NewNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.block, self.head, self.norm = Block(), nn.Linear(3, 2), nn.LayerNorm(2)

    def rename_fc(module, state_dict, prefix, *rest):
        for key in [k for k in state_dict if k.startswith(prefix + "fc.")]:
            state_dict[prefix + "head." + key[len(prefix + "fc."):]] = state_dict.pop(key)

    def hooked():
        net = NewNet()
        net.register_load_state_dict_pre_hook(rename_fc)
        for prefix, module in [("", net), ("block.", net.block)]:
            module.register_load_state_dict_pre_hook(
                lambda m, sd, p, *rest: events.append(("pre-hooks", p, None, list(sd))))
            module.register_load_state_dict_post_hook(
                lambda m, keys, p=prefix: events.append(("post-hooks", p, None, None)))
        return net

    torch.manual_seed(0)
    old = OldNet()
    in_file = nn.DataParallel(old).state_dict()
    stripped = copy.copy(in_file)
    consume_prefix_in_state_dict_if_present(stripped, "module.")
    new = hooked()
    result = new.load_state_dict(stripped, strict=False)

    steps = [(kind, prefix) for kind, prefix, _, _ in events]
    assert steps == [("pre-hooks", ""), ("migrate", "block."), ("pre-hooks", "block."),
                     ("post-hooks", "block."), ("post-hooks", "")], steps
    root_keys, (_, _, version, block_keys), block_hook_keys = events[0][3], events[1], events[2][3]
    assert "head.weight" in root_keys and "fc.weight" not in root_keys
    assert block_keys == block_hook_keys == ["block.proj.weight", "block.proj.bias"]
    assert version == 1 < Block._version
    assert "fc.weight" in stripped  # the hooks rewrote load_state_dict's own copy
    assert result.missing_keys == ["norm.weight", "norm.bias"]
    assert result.unexpected_keys == ["aux.weight", "aux.bias"]
    assert torch.equal(new.block.proj.weight, old.block.fc.weight)
    assert torch.equal(new.head.weight, old.fc.weight)
    strict = hooked()
    try:
        strict.load_state_dict(stripped)
        raise AssertionError("strict=True accepted missing and unexpected keys")
    except RuntimeError as err:
        assert "Missing key(s)" in str(err) and "Unexpected key(s)" in str(err)
    wrong = OrderedDict(stripped, **{"fc.weight": torch.zeros(5, 3)})
    try:
        hooked().load_state_dict(wrong, strict=False)
        raise AssertionError("strict=False accepted a size mismatch")
    except RuntimeError as err:
        assert "size mismatch for head.weight" in str(err)

    def weights(keys):
        return [k for k in keys if k.endswith(".weight")]

    def renamed(key, old_name, new_name):
        head, sep, rest = key.partition(old_name + ".")
        return head + new_name + "." + rest if sep and head in ("", "block.") else key

    lanes = {"file": weights(in_file), "stripped": weights(stripped)}
    lanes["root"] = [k if k.startswith("block.") else renamed(k, "fc", "head") for k in lanes["stripped"]]
    assert sorted(lanes["root"]) == sorted(weights(root_keys))
    lanes["block"] = weights(block_keys)
    arrived = set(lanes["block"]) | {k for k in lanes["root"] if not k.startswith("block.")}
    lanes["copied"] = [k for k in weights(new.state_dict()) if k in arrived]
    assert lanes["copied"] == ["block.proj.weight", "head.weight"]
    return {"lanes": lanes, "version": version, "new_version": Block._version,
            "missing": result.missing_keys, "unexpected": result.unexpected_keys}


LOAD_STEPS = [
    # (colour, title, description, lane of keys shown, how they look)
    ("plain", "the checkpoint",
     "torch.load(path) of a file saved through nn.DataParallel(old_net): the model was the "
     "wrapper's child module. Since then, fc was renamed head, aux dropped, norm added, and Block (now "
     "_version {new_version}) renamed its fc to proj.", "file"),
    ("plain", "your code: strip the wrapper's prefix",
     "consume_prefix_in_state_dict_if_present(sd, 'module.') before the call", "stripped"),
    ("module", "load_state_dict(sd, strict=False)",
     "works on OrderedDict(sd), a copy that keeps _metadata (every module's saved _version), and "
     "walks the tree from the root with prefix ''", "stripped"),
    ("decide", "the root: load pre-hooks",
     "Module._load_from_state_dict runs the hooks of register_load_state_dict_pre_hook before it "
     "looks for any key: rename_fc renames fc.* to head.*", "root"),
    ("decide", "block: the _version migration",
     "the child gets only the keys under 'block.'. Block._load_from_state_dict reads "
     "local_metadata['version'] = {version} < {new_version}, renames fc.* to proj.*, then calls "
     "the base class, whose pre-hooks see the new keys", "block"),
    ("param", "each module matches its own tensors",
     "every parameter and persistent buffer looks up prefix + name. Same shape: copy_ "
     "(assign=True: setattr). Another shape: size mismatch, an error even with strict=False. "
     "Absent: missing_keys. A key under the prefix that names no child and no tensor: "
     "unexpected_keys.", "copied"),
    ("error", "the result",
     "the load post-hooks run after each module's subtree; then strict=True raises a "
     "RuntimeError listing both lists, strict=False returns them", "result"),
]


def draw_load_pipeline(path: Path, width: float = W) -> None:
    c = titled("How load_state_dict rewrites a checkpoint's keys",
               "a real load, traced while this figure was built (torch {version}); the .weight "
               "keys are shown, each .bias goes the same way", width)
    run, narrow = load_pipeline_run(), width < W
    colour = {"plain": PLAIN, "module": MODULE, "decide": DECIDE, "param": PARAM, "error": ERROR}
    lanes, before = run["lanes"], None
    split = None if narrow else 4.05
    x, w = PAD, width - 2 * PAD
    y = c.top + 0.2
    for i, (kind, title, desc, lane) in enumerate(LOAD_STEPS):
        col = colour[kind]
        if lane == "result":
            rows = [("missing_keys=", {"mono": True, "bold": True, "color": col}),
                    (f"  {run['missing']}", {"mono": True}),
                    ("unexpected_keys=", {"mono": True, "bold": True, "color": col}),
                    (f"  {run['unexpected']}", {"mono": True})]
        else:
            keys = lanes[lane]
            # a key this step rewrote stands out
            shown = set(lanes[before]) if before and lane != "copied" else set(keys)
            rows = [(("  " if narrow else "") + k, {"mono": True, "bold": k not in shown,
                                                    "color": INK if k in shown else col})
                    for k in keys]
            caption = {"copied": "copied into the model:", "block": "the keys block gets:"}.get(
                lane, "the keys now:" if narrow else None)
            if caption:
                rows = [(tr(caption), {"color": MUTED})] + rows
            before = lane
        if i:
            c.arrow([(x + 0.3, y - 0.22), (x + 0.3, y)])
        y = stage(c, x, y, w, tr_prose(title), tr(desc, version=run["version"],
                                            new_version=run["new_version"]),
                  col, rows, split) + 0.22
    c.save(path, y)


def draw_load_pipeline_narrow(path: Path) -> None:
    draw_load_pipeline(path, WN)


# --- 6. the meta -> real loading path (chapter 7) ---------------------------------------------

def memory_region(ptr: int) -> str:
    """The file behind the mapping of this process that holds address ptr ('' for anonymous memory)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            lo, hi = (int(a, 16) for a in fields[0].split("-"))
            if lo <= ptr < hi:
                return fields[5].strip() if len(fields) > 5 else ""
    raise ValueError(f"address {ptr:#x} is in no mapping of this process")


@functools.cache  # one run serves the wide and the narrow figure in both languages
def meta_load_run() -> dict:
    """Both ways from a meta model to a loaded one, on a real file: where each tensor's memory lies."""

    def build():
        return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "checkpoint.pt")
        torch.manual_seed(0)
        source = build()
        torch.save(source.state_dict(), path)

        with torch.device("meta"):
            copied = build()
        assert all(t.is_meta for t in copied.state_dict().values())
        copied.to_empty(device="cpu")
        allocated = {k: t.data_ptr() for k, t in copied.state_dict().items()}
        assert all(memory_region(p) != path for p in allocated.values())
        sd = torch.load(path, mmap=True)
        assert all(memory_region(t.data_ptr()) == path for t in sd.values()), "mmap=True maps the file"
        copied.load_state_dict(sd)
        assert {k: t.data_ptr() for k, t in copied.state_dict().items()} == allocated
        assert all(torch.equal(copied.state_dict()[k], v) for k, v in source.state_dict().items())

        with torch.device("meta"):
            placed = build()
        placed.load_state_dict(torch.load(path, mmap=True), assign=True)
        assert all(memory_region(t.data_ptr()) == path for t in placed.state_dict().values())
        assert all(type(p) is nn.Parameter for p in placed.parameters())
        assert all(torch.equal(placed.state_dict()[k], v) for k, v in source.state_dict().items())

        with torch.device("meta"):
            partial = build()
        partial.load_state_dict({k: v for k, v in torch.load(path, mmap=True).items()
                                 if not k.startswith("2.")}, strict=False, assign=True)
        leftovers = [k for k, t in partial.state_dict().items() if t.is_meta]
        assert leftovers == ["2.weight", "2.bias"], leftovers
        del sd, placed, partial
    return {"leftovers": leftovers}


META_START = ("build on meta", "with torch.device('meta'): model = build(). Every Parameter is "
              "registered as usual, with a shape and a dtype but no storage.", "allocated: nothing")
META_LOAD = ("sd = torch.load(path, mmap=True)", "maps the file: every tensor is a view of its pages, "
             "which the kernel reads when they are first touched", "allocated: nothing")
META_LANES = [
    ("way 1: to_empty, then copy", [
        ("model.to_empty(device='cpu')", "gives every parameter and buffer new, uninitialised storage",
         "allocated: the whole model"),
        META_LOAD,
        ("model.load_state_dict(sd)", "copy_ reads every page of the file into the model's storage",
         "resident: the model and the file's pages"),
    ], "the model's tensors: the memory to_empty allocated"),
    ("way 2: assign", [
        META_LOAD,
        ("model.load_state_dict(sd, assign=True)", "sets each loaded tensor as the module's attribute, "
         "in a Parameter where there was one; no copy. Keys missing from sd stay on meta "
         "({leftovers} here, with strict=False).", "allocated: nothing"),
    ], "the model's tensors: the file's pages"),
]


def draw_meta_loading(path: Path, width: float = W) -> None:
    c = titled("From meta to real: where a big model's memory comes from",
               "checked on a real file while this figure was built (torch {version}): the "
               "mapping that holds each tensor, read from /proc/self/maps", width)
    run, narrow = meta_load_run(), width < W
    fields = {"leftovers": ", ".join(run["leftovers"])}

    def step(x, y, w, title, desc, memory, color):
        rows = [(tr(memory), {"bold": True, "color": BUFFER if "nothing" in memory else ERROR})]
        return stage(c, x, y, w, tr_prose(title), tr(desc, **fields), color, rows)

    x, w = PAD, width - 2 * PAD
    y = step(x, c.top + 0.2, w, *META_START, MODULE)
    lane_w = w if narrow else (w - 0.3) / 2
    bottoms = []
    for i, (name, steps, end) in enumerate(META_LANES):
        if narrow:  # the ways stacked; only the first follows the build directly
            lx, y0 = x, (bottoms[-1] + 0.35 if bottoms else y + 0.3)
            if not bottoms:
                c.arrow([(x + 0.3, y), (x + 0.3, y0)])
        else:       # the ways side by side, both from the build
            lx, y0 = x + i * (lane_w + 0.3), y + 0.35
            c.arrow([(lx + lane_w / 2, y), (lx + lane_w / 2, y0)])
        ly = c.lines(lx, y0 + 0.02, [(s, {"bold": True, "color": PARAM})
                                     for s in wrap(tr(name), lane_w, bold=True)]) + 0.06
        for j, (title, desc, memory) in enumerate(steps):
            if j:
                c.arrow([(lx + lane_w / 2, ly), (lx + lane_w / 2, ly + 0.2)])
                ly += 0.2
            ly = step(lx, ly, lane_w, title, desc, memory, PARAM)
        ly = c.lines(lx, ly + 0.08, [(s, {"bold": True}) for s in wrap(tr(end), lane_w, bold=True)])
        bottoms.append(ly)
    y = max(bottoms) + 0.12
    y = _muted_note(c, y, tr("Measured below: the naive load (build, torch.load, copy) peaks near two "
                             "checkpoints of memory, meta + mmap + assign near one."))
    c.save(path, y + 0.2)


def draw_meta_loading_narrow(path: Path) -> None:
    draw_meta_loading(path, WN)


# --- the narrow twins: the same content, stacked for a phone ----------------------------------

# The same model as TREE_MODEL_CODE, one child per line (a test checks that both build it).
TREE_MODEL_CODE_NARROW = ("nn.Sequential(OrderedDict(\n"
                          "    encoder=nn.Linear(4, 3),\n"
                          "    norm=nn.BatchNorm1d(3),\n"
                          "    act=nn.ReLU(),\n"
                          "    head=nn.Linear(3, 2, bias=False)))")
NARROW_INDENT = 0.3


def _muted_note(c: Canvas, y: float, text: str) -> float:
    return c.lines(PAD, y, [(s, {"color": MUTED}) for s in wrap(text, c.W - 2 * PAD)])


def draw_setattr_narrow(path: Path) -> None:
    c = setattr_canvas(WN)
    lh = line_height()
    xs = PAD + 0.1                          # the "no" spine, left of every condition
    xa = PAD + 0.3                          # conditions
    xi = xa + NARROW_INDENT                 # actions and errors, under their condition
    wi = c.W - PAD - xi
    y = c.top + 0.15
    c.box(xa, y, 1.9, 0.36, face=WHITE, edge=INK, r=0.18)
    c.text(xa + 0.95, y + 0.18, "module.name = value", mono=True, ha="center")
    spine_from = y + 0.18
    c.line([(xa, spine_from), (xs, spine_from)])
    y += 0.36 + 0.25
    for br in _setattr_branches(wi - 0.2):
        last = br["guard"] is None
        hc = len(br["cond"]) * lh + 0.16
        c.line([(xs, spine_from), (xs, y + hc / 2)])
        c.arrow([(xs, y + hc / 2), (xa, y + hc / 2)])
        if spine_from > c.top + 0.5:
            c.text(xs + 0.06, y - 0.12, tr("no"), color=MUTED)
        c.box(xa, y, c.W - PAD - xa, hc, face=PLAIN_FILL if last else DECIDE_FILL,
              edge=PLAIN if last else DECIDE)
        c.lines(xa + 0.1, y + 0.08, [(s, {"mono": not last}) for s in br["cond"]])
        spine_from = y + hc / 2
        y += hc + 0.08
        xy = xa + NARROW_INDENT / 2         # the "yes" line, down from the condition
        yes_top = y - 0.08
        if not last:
            guard = " ".join(guard_lines(br["guard"], wi))
            y = c.lines(xi, y, [(tr("yes, and {guard}", guard=guard), {"color": DECIDE, "bold": True})]) + 0.04
        actions = [(s.strip() if st.get("mono") else s, st) for s, st in br["action"]]
        rows = []
        for s, st in actions:
            rows += [(line, st) for line in wrap(s, wi - 0.2, mono=st.get("mono", False),
                                                 bold=st.get("bold", False))]
        ha_ = len(rows) * lh + 0.16
        c.box(xi, y, wi, ha_, face=br["fill"], edge=br["color"])
        c.lines(xi + 0.1, y + 0.08, rows)
        c.line([(xy, yes_top), (xy, y + ha_ / 2)])
        c.arrow([(xy, y + ha_ / 2), (xi, y + ha_ / 2)])
        y += ha_ + 0.1
        if last:
            break
        kind, message = br["error"]
        text = wrap(" ".join(message), wi - 0.2, mono=True)
        he = (1 + len(text)) * lh + 0.16
        c.line([(xy, y - 0.1 - ha_ / 2), (xy, y + he / 2)], color=ERROR)
        c.arrow([(xy, y + he / 2), (xi, y + he / 2)], color=ERROR)
        c.text(xi - 0.04, y - 0.02, tr("no"), color=ERROR, ha="right")
        c.box(xi, y, wi, he, face=ERROR_FILL, edge=ERROR)
        c.lines(xi + 0.1, y + 0.08, [(kind, {"bold": True, "color": ERROR})]
                + [(s, {"mono": True}) for s in text])
        y += he + 0.25
    c.save(path, y + 0.1)


def draw_module_tree_narrow(path: Path) -> None:
    model = tree_model()
    assert repr(eval(TREE_MODEL_CODE_NARROW, {"nn": nn, "OrderedDict": OrderedDict})) == repr(model)
    c = tree_canvas(WN)
    code = TREE_MODEL_CODE_NARROW.split("\n")
    for s in code:
        fits(s, c.W - 2 * PAD, mono=True)
    y = c.lines(PAD, c.top + 0.06, [(s, {"mono": True}) for s in code]) + 0.2
    lh = line_height()
    colour = {"_parameters": PARAM, "_buffers": BUFFER, "_modules": MODULE}
    rows = [("model", model, 0)] + [(name, m, 1) for name, m in model.named_children()]
    placed = []  # (top, height, y of the label) of every box
    for label, module, depth in rows:
        x0 = PAD + depth * NARROW_INDENT
        lines = [(label, {"mono": True, "bold": True})]
        for name, shown in dict_entries(module).items():
            if not shown:
                lines.append((f"{name}: {{}}", {"mono": True, "color": MUTED}))
                continue
            lines.append((name, {"mono": True, "bold": True, "color": colour[name]}))
            for s in shown:
                fits(s, c.W - PAD - x0 - 0.45, mono=True)
            lines += [(f"  {s}", {"mono": True}) for s in shown]
        h = len(lines) * lh + 0.14
        c.box(x0, y, c.W - PAD - x0, h, face=WHITE, edge=CARD_EDGE if depth else INK,
              lw=1.0 if depth else 1.3)
        c.lines(x0 + 0.12, y + 0.07, lines)
        type_x = x0 + 0.12 + width(label, mono=True, bold=True) + 0.12
        c.text(type_x, y + 0.07 + lh / 2, type(module).__name__, color=MUTED)
        placed.append((y, h, y + 0.07 + lh / 2))
        y += h + 0.12
    draw_trunk(c, placed, NARROW_INDENT)
    y = _muted_note(c, y + 0.02, tr(TREE_NOTE))
    c.save(path, y + 0.2)


def draw_state_dict_key_narrow(path: Path) -> None:
    model = key_model()
    keys = list(model.state_dict())
    key = next(k for k in keys if k.count(".") == 3)
    rows = resolve_key(model, key)
    c = key_canvas(WN)
    size = 16
    segs = key.split(".")
    total = width(key, size=size, mono=True, bold=True)
    fits(key, c.W - 2 * PAD, size=size, mono=True, bold=True)
    x, ky = (c.W - total) / 2, c.top + 0.35
    starts, ends = [], []
    for i, seg in enumerate(segs):
        starts.append(x)
        c.text(x, ky, seg, size=size, mono=True, bold=True,
               color=PARAM if i == len(segs) - 1 else MODULE)
        x += width(seg, size=size, mono=True, bold=True)
        ends.append(x)
        if i < len(segs) - 1:
            c.text(x, ky, ".", size=size, mono=True, bold=True, color=MUTED)
            x += width(".", size=size, mono=True, bold=True)
    by = ky + 0.24
    for x0, x1, col in [(starts[0], ends[-2], MODULE), (starts[-1], ends[-1], PARAM)]:
        c.line([(x0, by - 0.06), (x0, by), (x1, by), (x1, by - 0.06)], color=col, lw=1.3)
    y = c.lines(PAD, by + 0.08, [(s, {"color": MODULE}) for s in
                                 wrap(tr("prefix: path of _modules names from the root"), c.W - 2 * PAD)])
    c.text(ends[-1], y + line_height() / 2, tr("local name"), color=PARAM, ha="right")
    y += line_height() + 0.2

    c.text(PAD, y, tr("the walk, one segment at a time:"), bold=True, color=MUTED)
    y += 0.18
    lh = line_height()
    for i, (seg, role, lookup, result) in enumerate(rows):
        last = i == len(rows) - 1
        col, fill = (PARAM, PARAM_FILL) if last else (MODULE, MODULE_FILL)
        fits(lookup, c.W - 2 * PAD - 0.2, mono=True)
        h = 3 * lh + 0.14
        c.box(PAD, y, c.W - 2 * PAD, h, face=fill, edge=col, lw=1.0)
        c.text(PAD + 0.1, y + 0.07 + lh / 2, seg, mono=True, bold=True, color=col)
        c.text(PAD + 0.1 + width(seg, mono=True, bold=True) + 0.15, y + 0.07 + lh / 2, tr(role))
        c.text(PAD + 0.1, y + 0.07 + 1.5 * lh, lookup, mono=True)
        c.text(PAD + 0.1, y + 0.07 + 2.5 * lh, f"→ {result}", mono=True, bold=last)
        y += h + 0.08

    y += 0.3
    heading = tr("all {n} keys of this model's state_dict():", n=len(keys))
    c.text(PAD, y, heading, bold=True)
    y += 0.24
    key_legend(c, PAD, y)
    y += 0.14
    owners = dict(model.named_modules())
    for j, k in enumerate(keys):
        owner_name, _, local = k.rpartition(".")
        fits(k, c.W - 2 * PAD, mono=True)
        c.text(PAD, y + (j + 0.5) * lh, k, mono=True, bold=k == key,
               color=PARAM if local in owners[owner_name]._parameters else BUFFER)
    y += len(keys) * lh
    y = _muted_note(c, y + 0.1, key_note(model))
    c.save(path, y + 0.2)


def draw_checkpoint_timeline_narrow(path: Path) -> None:
    run = exact_resume_run()
    c = resume_canvas(WN)
    lh = line_height()
    gap = 0.12
    colw = (c.W - 2 * PAD - 0.3) / 2
    xa, xb = PAD, PAD + colw + 0.3
    y0 = c.top + 0.4
    c.text(xa, y0 - 0.18, tr("run A"), bold=True, color=MUTED)
    c.text(xb, y0 - 0.18, tr("run B"), bold=True, color=MUTED)
    save_lines = ["save(model,", "     optimizer,", "     scheduler,", "     epoch,",
                  "     RNG states)"]
    parts = [("steps", [tr("N/2 steps")]), ("box", save_lines), ("break", [tr("process ends")]),
             ("box", para(["rebuild", "from scratch"], colw - 0.2)), ("box", ["load"]),
             ("steps", [tr("N/2 steps")])]
    y = y0
    for i, (kind, label) in enumerate(parts):
        mono = label is save_lines or label == ["load"]
        for s in label:
            fits(s, colw - 0.2, mono=mono, bold=kind == "steps")
        if kind == "break":
            h = 0.62
            xm, ym = xb + colw / 2, y + 0.2
            c.line([(xm, y - gap), (xm, ym - 0.08)], color=MUTED, lw=1.2, ls=(0, (2, 2)))
            c.line([(xm, ym + 0.08), (xm, y + h + gap)], color=MUTED, lw=1.2, ls=(0, (2, 2)))
            c.line([(xm - 0.3, ym - 0.06), (xm - 0.1, ym + 0.06), (xm + 0.1, ym - 0.06),
                    (xm + 0.3, ym + 0.06)], color=ERROR, lw=2.0)
            c.box(xm - width(label[0], bold=True) / 2 - 0.05, ym + 0.12, width(label[0], bold=True)
                  + 0.1, 0.22, face=CARD, edge=CARD, r=0.02, zorder=4)
            c.text(xm, ym + 0.23, label[0], color=ERROR, bold=True, ha="center")
        else:
            h = len(label) * lh + 0.16
            face, edge = (PARAM_FILL, PARAM) if kind == "steps" else (WHITE, INK)
            c.box(xb, y, colw, h, face=face, edge=edge)
            style = {"mono": mono, "bold": kind == "steps", "color": PARAM if kind == "steps" else INK}
            if label is save_lines:
                c.lines(xb + 0.1, y + 0.08, [(s, style) for s in label])
            else:
                c.lines(xb + colw / 2, y + 0.08, [(s, style) for s in label], ha="center")
            nxt = parts[i + 1][0] if i + 1 < len(parts) else None
            if nxt not in (None, "break"):
                c.line([(xb + colw / 2, y + h), (xb + colw / 2, y + h + gap)])
        y += h + gap
    y_end = y - gap
    c.box(xa, y0, colw, y_end - y0, face=PARAM_FILL, edge=PARAM)
    whole = para(["N steps,", "uninterrupted"], colw - 0.2, bold=True)
    c.lines(xa + colw / 2, (y0 + y_end) / 2 - len(whole) * lh / 2,
            [(s, {"bold": True, "color": PARAM}) for s in whole], ha="center")

    ye = y_end + 0.35                        # the two end states, joined by the check
    for x, name in [(xa + colw / 2, "A"), (xb + colw / 2, "B")]:
        c.line([(x, y_end), (x, ye)], color=INK, lw=1.2)
        c.ax.add_patch(plt.Circle((x, ye), 0.09, facecolor=INK, edgecolor=INK, zorder=4))
        c.text(x + (-0.2 if name == "A" else 0.2), ye, name, bold=True, ha="center")
    c.arrow([(xa + colw / 2 + 0.14, ye), (xb + colw / 2 - 0.14, ye)], color=BUFFER, lw=1.6, both=True)
    c.text(c.W / 2, ye - 0.16, "torch.equal", mono=True, bold=True, color=BUFFER, ha="center")
    y = c.lines(PAD, ye + 0.2, [(s, {"color": BUFFER}) for s in wrap(tr(RESUME_CHECK), c.W - 2 * PAD)])
    y = _muted_note(c, y + 0.2, tr(" ".join(RESUME_NOTE), steps=run["steps"], tensors=run["tensors"]))
    c.save(path, y + 0.2)


# --- the Chinese labels ------------------------------------------------------------------------
#
# English label -> its zh_CN translation, in the terms of locale/zh_CN/glossary.md. Code,
# identifiers and torch's messages stay English; {fields} are filled in after the lookup, and
# \n forces a line break where a label is wrapped.

ZH: dict[str, str] = {
    # setattr_decision
    "module.name = value: the path through nn.Module.__setattr__":
        "module.name = value：nn.Module.__setattr__ 的执行路径",
    "torch {version}: the checks run top to bottom, the first one that matches wins":
        "torch {version}：自上而下逐项检查，第一个匹配的分支生效",
    "remove name from __dict__, _buffers, _modules, _non_persistent_buffers_set":
        "把 name 从 __dict__、_buffers、_modules、_non_persistent_buffers_set 中删除",
    "remove name from __dict__, _parameters, _buffers, _non_persistent_buffers_set":
        "把 name 从 __dict__、_parameters、_buffers、_non_persistent_buffers_set 中删除",
    "persistent: from the Buffer, else kept from before":
        "persistent：取自 Buffer，否则沿用之前的设置",
    "that is object.__setattr__: a plain entry of __dict__":
        "即 object.__setattr__：__dict__ 中的一个普通条目",
    "otherwise": "其他情况",
    "_parameters exists?": "_parameters\n已存在？",
    "_modules exists?": "_modules\n已存在？",
    "value is None?": "value 为\nNone？",
    "Tensor or None?": "Tensor 或\nNone？",
    "yes": "是",
    "no": "否",
    "yes, and {guard}": "是，且 {guard}",
    # module_tree
    "Every nn.Module keeps three dicts": "每个 nn.Module 都有三个字典",
    "each module's own dicts, read back from the model that this code builds (torch {version}):":
        "每个模块自己的字典，从下面这段代码构建的模型中读出（torch {version}）：",
    "module": "模块",
    "head.bias is registered as None: it stays in _parameters, but parameters() and state_dict() "
    "skip it. ReLU has no state, so all three of its dicts are empty.":
        "head.bias 注册为 None：它仍在 _parameters 中，但 parameters() 和 state_dict() 会跳过它。"
        "ReLU 没有状态，所以它的三个字典都是空的。",
    # state_dict_key
    "Anatomy of a state_dict key": "剖析一个 state_dict 键",
    "a real key of model.state_dict(), resolved by walking the dicts from the root":
        "model.state_dict() 中的一个真实的键，从根模块起逐层查字典解析",
    "prefix: path of _modules names from the root": "前缀：从根模块起由 _modules 中的名字组成的路径",
    "local name": "本地名",
    "segment": "片段",
    "role": "作用",
    "looked up in": "查找位置",
    "gives": "得到",
    "child name": "子模块名",
    "container index": "容器下标",
    "the walk, one segment at a time:": "逐段遍历：",
    "all {n} keys of this model's state_dict():": "这个模型的 state_dict() 的全部 {n} 个键：",
    "in _parameters": "在 _parameters 中",
    "in _buffers": "在 _buffers 中",
    "No encoder.layers.{i}.* key: layer {i} is a {cls}, which holds no tensors.":
        "没有 encoder.layers.{i}.* 键：第 {i} 层是 {cls}，不持有任何张量。",
    # load_pipeline
    "How load_state_dict rewrites a checkpoint's keys": "load_state_dict 如何改写检查点的键",
    "a real load, traced while this figure was built (torch {version}); the .weight keys are shown, "
    "each .bias goes the same way":
        "生成本图时实际执行并跟踪的一次加载（torch {version}）；图中只列出 .weight 键，"
        "每个 .bias 键的经历与之相同",
    "the checkpoint": "检查点",
    "torch.load(path) of a file saved through nn.DataParallel(old_net): the model was the "
    "wrapper's child module. Since then, fc was renamed head, aux dropped, norm added, and Block "
    "(now _version {new_version}) renamed its fc to proj.":
        "torch.load(path) 读入一个经 nn.DataParallel(old_net) 保存的文件：模型是包装器的子模块 "
        "module。此后 fc 改名为 head，aux 被删除，新增了 norm，Block（现为 _version "
        "{new_version}）也把它的 fc 改名为 proj。",
    "your code: strip the wrapper's prefix": "你的代码：去掉包装器的前缀",
    "consume_prefix_in_state_dict_if_present(sd, 'module.') before the call":
        "在调用之前执行 consume_prefix_in_state_dict_if_present(sd, 'module.')",
    "works on OrderedDict(sd), a copy that keeps _metadata (every module's saved _version), and "
    "walks the tree from the root with prefix ''":
        "在副本 OrderedDict(sd) 上工作，副本保留 _metadata（每个模块保存时的 _version），"
        "并以前缀 '' 从根模块开始遍历整棵树",
    "the root: load pre-hooks": "根模块：加载前置钩子",
    "Module._load_from_state_dict runs the hooks of register_load_state_dict_pre_hook before it "
    "looks for any key: rename_fc renames fc.* to head.*":
        "Module._load_from_state_dict 在查找任何键之前，先运行 register_load_state_dict_pre_hook "
        "注册的钩子：rename_fc 把 fc.* 改名为 head.*",
    "block: the _version migration": "block：按 _version 迁移",
    "the child gets only the keys under 'block.'. Block._load_from_state_dict reads "
    "local_metadata['version'] = {version} < {new_version}, renames fc.* to proj.*, then calls "
    "the base class, whose pre-hooks see the new keys":
        "子模块只拿到 'block.' 之下的键。Block._load_from_state_dict 读到 "
        "local_metadata['version'] = {version} < {new_version}，把 fc.* 改名为 proj.*，"
        "再调用基类，基类里的前置钩子看到的已是新键",
    "each module matches its own tensors": "每个模块匹配自己的张量",
    "every parameter and persistent buffer looks up prefix + name. Same shape: copy_ "
    "(assign=True: setattr). Another shape: size mismatch, an error even with strict=False. "
    "Absent: missing_keys. A key under the prefix that names no child and no tensor: "
    "unexpected_keys.":
        "每个参数和持久缓冲区按 prefix + name 查找。形状相同：copy_（assign=True 时为 "
        "setattr）。形状不同：size mismatch，即使 strict=False 也是错误。找不到：记入 "
        "missing_keys。前缀之下既不对应子模块、也不对应张量的键：记入 unexpected_keys。",
    "copied into the model:": "复制进模型的键：",
    "the keys now:": "此时的键：",
    "the keys block gets:": "block 拿到的键：",
    "the result": "结果",
    "the load post-hooks run after each module's subtree; then strict=True raises a RuntimeError "
    "listing both lists, strict=False returns them":
        "每个模块的子树加载完后运行加载后置钩子；随后 strict=True 抛出列出这两个列表的 "
        "RuntimeError，strict=False 则把它们返回",
    # meta_loading
    "From meta to real: where a big model's memory comes from": "从 meta 到真实：大模型的内存从哪里来",
    "checked on a real file while this figure was built (torch {version}): the mapping that holds "
    "each tensor, read from /proc/self/maps":
        "生成本图时用真实文件验证（torch {version}）：每个张量所在的内存映射，读自 /proc/self/maps",
    "build on meta": "在 meta 设备上构建",
    "with torch.device('meta'): model = build(). Every Parameter is registered as usual, with a "
    "shape and a dtype but no storage.":
        "with torch.device('meta'): model = build()。每个 Parameter 照常注册，"
        "有形状和数据类型，但没有存储。",
    "allocated: nothing": "分配：无",
    "allocated: the whole model": "分配：整个模型",
    "resident: the model and the file's pages": "常驻：模型，外加文件的页",
    "way 1: to_empty, then copy": "做法一：先 to_empty，再复制",
    "way 2: assign": "做法二：assign",
    "gives every parameter and buffer new, uninitialised storage": "给每个参数和缓冲区分配新的、未初始化的存储",
    "maps the file: every tensor is a view of its pages, which the kernel reads when they are "
    "first touched":
        "映射文件：每个张量都是文件页的视图，内核在页第一次被访问时才读入",
    "copy_ reads every page of the file into the model's storage": "copy_ 把文件的每一页读进模型的存储",
    "sets each loaded tensor as the module's attribute, in a Parameter where there was one; no "
    "copy. Keys missing from sd stay on meta ({leftovers} here, with strict=False).":
        "把每个加载的张量设为模块的属性，原来是 Parameter 的仍包成 Parameter；不复制。"
        "sd 中缺失的键仍留在 meta 上（这里是 {leftovers}，strict=False）。",
    "the model's tensors: the memory to_empty allocated": "模型的张量位于：to_empty 分配的内存",
    "the model's tensors: the file's pages": "模型的张量位于：文件的页",
    "Measured below: the naive load (build, torch.load, copy) peaks near two checkpoints of "
    "memory, meta + mmap + assign near one.":
        "下文实测：朴素加载（构建、torch.load、复制）的峰值内存接近两个检查点，"
        "meta + mmap + assign 接近一个。",
    # checkpoint_timeline
    "The exact-resume contract": "精确续训的约定",
    "stopping, saving and loading halfway must not change a single bit of the result":
        "中途停止、保存、再加载，结果的每一个比特都不能改变",
    "run A": "运行 A",
    "run B": "运行 B",
    "N steps, uninterrupted": "N 步，不中断",
    "N/2 steps": "N/2 步",
    "process ends": "进程结束",
    "rebuild from scratch": "从头重建",
    "on every tensor: weights, buffers, optimizer state, RNG state":
        "对每一个张量：权重、缓冲区、优化器状态、RNG 状态",
    "Checked when this figure was built: a toy model with dropout, SGD with momentum and StepLR, "
    "N = {steps} steps; all {tensors} tensors of A and B are torch.equal, and the learning rates match.":
        "生成本图时已实际验证：一个带 dropout 的小模型，带动量的 SGD 和 StepLR，N = {steps} 步；"
        "A 与 B 的全部 {tensors} 个张量 torch.equal，学习率也一致。",
}


# --- driver ----------------------------------------------------------------------------------

FIGURES = {
    "setattr_decision.svg": draw_setattr,
    "module_tree.svg": draw_module_tree,
    "state_dict_key.svg": draw_state_dict_key,
    "checkpoint_timeline.svg": draw_checkpoint_timeline,
    "load_pipeline.svg": draw_load_pipeline,
    "meta_loading.svg": draw_meta_loading,
    # the narrow twins (see _ext/narrow_figures.py: the book shows them on phones)
    "setattr_decision.narrow.svg": draw_setattr_narrow,
    "module_tree.narrow.svg": draw_module_tree_narrow,
    "state_dict_key.narrow.svg": draw_state_dict_key_narrow,
    "checkpoint_timeline.narrow.svg": draw_checkpoint_timeline_narrow,
    "load_pipeline.narrow.svg": draw_load_pipeline_narrow,
    "meta_loading.narrow.svg": draw_meta_loading_narrow,
}


def outputs() -> list[str]:
    """The file names write_all() writes: every figure in every language."""
    return [localized(name, language) for language in LANGUAGES for name in FIGURES]


def write_all(out_dir: Path = OUT) -> list[Path]:
    """Write every figure in every language into out_dir and return the paths."""
    global _language
    _check_fonts()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    _used_labels.clear()
    try:
        for language in LANGUAGES:
            _language = language
            for name, draw in FIGURES.items():
                paths.append(out_dir / localized(name, language))
                draw(paths[-1])
    finally:
        _language = "en"
    unused = sorted(set(ZH) - _used_labels)
    if unused:
        raise ValueError(f"translations that no figure uses (remove them from ZH): {unused}")
    return paths


def stale(committed_dir: Path = OUT) -> list[str]:
    """Names of figures whose committed SVG differs from what write_all() produces (or is missing)."""
    committed_dir = Path(committed_dir)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = write_all(Path(tmp))
        return [p.name for p in fresh
                if not (committed_dir / p.name).exists()
                or not filecmp.cmp(p, committed_dir / p.name, shallow=False)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a committed SVG differs from the script's output")
    parser.add_argument("--dir", type=Path, default=OUT, help="figure folder (default chapters/figures)")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale(args.dir)
        for name in bad:
            print(f"stale figure: {name} (run: python -m figures.make_figures)", file=sys.stderr)
        return 1 if bad else 0
    for p in write_all(args.dir):
        print(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
