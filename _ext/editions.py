"""The book's two editions, English and Chinese: captions of the table of contents, language switch.

The Chinese edition is the same source built with `language = "zh_CN"` into the `zh_CN/` folder of
the English HTML (`python -m tools.i18n build`). This extension, listed in _config.yml and so
loaded by both builds, does what gettext alone does not:

- sphinx_external_toc inserts the table of contents after Sphinx has translated the page, so its
  captions ("Chapters", "Exercises", "Appendix") would stay English. They are translated here,
  from the catalog of the page that holds the toc (the root page's, `intro.po`).
- Every page gets `language_switch` in its template context: a relative link to the same page in
  the other edition (`_templates/language-switch.html` shows it in the article's header). A page
  that exists in one edition only (the Chinese glossary, under `locale/`) links to the other
  edition's first page.
"""
from __future__ import annotations

from os import path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.locale import init as init_locale
from sphinx.transforms import SphinxTransform
from sphinx.util.i18n import docname_to_domain

# language -> (folder of that edition relative to the English edition's root, and, for a switch
# that leads to it: its label, hreflang and tooltip, in that edition's language)
EDITIONS = {
    "en": ("", "English", "en", "Read this page in English"),
    "zh_CN": ("zh_CN/", "中文", "zh-CN", "阅读本页的中文版"),
}
# Pages under this folder exist in the Chinese edition only (its glossary).
ONE_EDITION = "locale/"


def edition(language: str | None) -> str:
    return "zh_CN" if (language or "en").startswith("zh") else "en"


def other_edition(language: str | None) -> str:
    return "en" if edition(language) == "zh_CN" else "zh_CN"


def switch_href(pagename: str, language: str | None, root_doc: str) -> str:
    """The relative URL of `pagename` in the other edition, from `pagename` in this one."""
    here, there = EDITIONS[edition(language)][0], EDITIONS[other_edition(language)][0]
    up_to_root = "../" * pagename.count("/")
    # from this edition's root to the English root, then down to the other edition
    to_other = "../" * here.count("/") + there
    target = root_doc if pagename.startswith(ONE_EDITION) else pagename
    return f"{up_to_root}{to_other}{target}.html"


class TranslateTocCaptions(SphinxTransform):
    """Translate the captions of the toctrees that sphinx_external_toc inserted (priority 100)."""

    default_priority = 110  # after sphinx_external_toc's InsertToctrees, before the toc collector

    def apply(self, **kwargs) -> None:
        if edition(self.config.language) == "en":
            return
        toctrees = [n for n in self.document.findall(addnodes.toctree) if n.get("caption")]
        if not toctrees:
            return
        domain = docname_to_domain(self.env.docname, self.config.gettext_compact)
        dirs = [path.join(self.env.srcdir, d) for d in self.config.locale_dirs]
        catalog, found = init_locale(dirs, self.config.language, domain)
        if not found:
            return
        for toctree in toctrees:
            caption = catalog.gettext(toctree["caption"])
            if caption:
                toctree["caption"] = caption
                toctree["rawcaption"] = caption


def _page_context(app: Sphinx, pagename: str, templatename: str, context: dict,
                  doctree: nodes.document | None) -> None:
    _, label, hreflang, title = EDITIONS[other_edition(app.config.language)]
    context["language_switch"] = {
        "href": switch_href(pagename, app.config.language, app.config.root_doc),
        "label": label, "hreflang": hreflang, "title": title}


def setup(app: Sphinx) -> dict:
    app.add_transform(TranslateTocCaptions)
    app.connect("html-page-context", _page_context)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
