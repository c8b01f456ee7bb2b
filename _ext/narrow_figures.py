"""Show a phone-sized variant of a figure on narrow screens.

For an image `figures/NAME.svg` next to which `figures/NAME.narrow.svg` exists, a second image
node for the narrow file is inserted right after it. Sphinx copies both into `_images/`; the
wide one gets the class `figure-wide`, the narrow one `figure-narrow`, and `_static/custom.css`
shows one of them depending on the width of the screen. Without the narrow file nothing changes.

In a translated edition (`language` set, e.g. zh_CN), Sphinx replaces each image by its language
twin where one exists (`figure_language_filename`, by default `NAME.zh_CN.svg`), the narrow one
included (`NAME.narrow.zh_CN.svg`); a figure without a twin in that language shows the English one.
A narrow figure drawn only in the edition's language still counts as a narrow twin.
"""
from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.util.i18n import get_image_filename_for_language

SUFFIX = ".svg"
NARROW = ".narrow.svg"


def narrow_uri(uri: str) -> str | None:
    """The narrow twin's uri of an SVG image uri, or None for anything else."""
    if not uri.endswith(SUFFIX) or uri.endswith(NARROW) or "://" in uri:
        return None
    return uri[: -len(SUFFIX)] + NARROW


class NarrowFigures(SphinxTransform):
    default_priority = 400  # before Sphinx collects the images to copy

    def apply(self, **kwargs) -> None:
        doc_dir = Path(self.env.doc2path(self.env.docname)).parent
        for image in list(self.document.findall(nodes.image)):
            twin = narrow_uri(image["uri"])
            if twin is None or not any((doc_dir / uri).is_file() for uri in (
                    twin, get_image_filename_for_language(twin, self.env))):
                continue
            narrow = image.deepcopy()
            narrow["uri"] = twin
            narrow["classes"] = [c for c in image["classes"] if c != "figure-wide"] + ["figure-narrow"]
            image["classes"].append("figure-wide")
            image.parent.insert(image.parent.index(image) + 1, narrow)


def setup(app: Sphinx) -> dict:
    app.add_transform(NarrowFigures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
