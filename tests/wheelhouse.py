"""Wheels repacked from this venv, so that a test can set up a fresh venv without downloading.

    wheelhouse(requirements_txt, folder) -> folder of .whl files

For every distribution that the requirements need (their pins, then what those require, extras
and environment markers included), the files that pip installed here are zipped back into a wheel:
the package files relative to site-packages, the scripts that are not entry points and the data
files (jupyterlab's `share/`, `etc/`) under `<name>.data/`, and the dist-info with a new RECORD.
Entry-point scripts and byte code are left out: pip writes them again when it installs. A pin
that the installed version does not satisfy, or a requirement that is not installed, is an error,
so `pip install --no-index --find-links folder -r requirements_txt` installs exactly the versions
this suite runs on.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

SKIPPED_METADATA = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def _installed() -> dict[str, metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        found.setdefault(canonicalize_name(dist.metadata["Name"]), dist)
    return found


def needed(requirements: list[Requirement]) -> list[metadata.Distribution]:
    """Every installed distribution the requirements need, in the order they were found."""
    installed = _installed()
    seen: dict[str, tuple[metadata.Distribution, set[str]]] = {}
    todo = [(req, "") for req in requirements]
    order: list[metadata.Distribution] = []
    while todo:
        req, extra = todo.pop(0)
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        dist = installed.get(name)
        if dist is None:
            raise LookupError(f"{req} is needed but not installed in {sys.prefix}")
        if not req.specifier.contains(dist.version, prereleases=True):
            raise LookupError(f"{req} is needed but {name} {dist.version} is installed")
        if name not in seen:
            seen[name] = (dist, set())
            order.append(dist)
            todo += [(Requirement(r), "") for r in dist.requires or ()]
        extras = seen[name][1]
        for new in sorted(set(req.extras) - extras):
            extras.add(new)
            todo += [(Requirement(r), new) for r in dist.requires or ()]
    return order


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _entry_point_scripts(dist: metadata.Distribution) -> set[str]:
    return {ep.name for ep in dist.entry_points if ep.group in ("console_scripts", "gui_scripts")}


def repack(dist: metadata.Distribution, folder: Path) -> Path:
    """Zip the installed files of `dist` into a wheel in `folder`; return its path."""
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    version = dist.version
    site = Path(dist.locate_file("")).resolve()
    info = next((site / f).parent for f in dist.files or () if f.name == "METADATA"
                and f.parent.name.endswith(".dist-info"))
    wheel_meta = (info / "WHEEL").read_text(encoding="utf-8")
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines()
            if line.startswith("Tag:")]
    if not tags:
        raise ValueError(f"{info}/WHEEL names no tag")
    prefix = Path(sys.prefix).resolve()
    scripts = Path(sysconfig.get_path("scripts")).resolve()
    skip_scripts = _entry_point_scripts(dist)
    data_dir, dist_info = f"{name}-{version}.data", f"{name}-{version}.dist-info"
    members: dict[str, bytes] = {}
    for file in dist.files or ():
        path = (site / file).resolve()
        if "__pycache__" in path.parts or path.parent == info:
            continue
        if path.is_relative_to(site):
            arcname = path.relative_to(site).as_posix()
        elif path.parent == scripts:
            if path.name in skip_scripts:
                continue
            data = path.read_bytes()
            if data.startswith(b"#!") and b"python" in data.split(b"\n", 1)[0]:
                data = b"#!python\n" + data.split(b"\n", 1)[1]  # pip writes the shebang again
            members[f"{data_dir}/scripts/{path.name}"] = data
            continue
        elif path.is_relative_to(prefix):
            arcname = f"{data_dir}/data/{path.relative_to(prefix).as_posix()}"
        else:
            raise ValueError(f"{dist.metadata['Name']}: {file} lies outside {prefix}")
        members[arcname] = path.read_bytes()
    for path in sorted(info.iterdir()):
        if path.is_file() and path.name not in SKIPPED_METADATA:
            members[f"{dist_info}/{path.name}"] = path.read_bytes()
        elif path.is_dir():  # licenses/ and the like
            for sub in sorted(p for p in path.rglob("*") if p.is_file()):
                members[f"{dist_info}/{sub.relative_to(info).as_posix()}"] = sub.read_bytes()
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for arcname, data in members.items():
        writer.writerow([arcname, _digest(data), len(data)])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    members[f"{dist_info}/RECORD"] = record.getvalue().encode()
    parts = zip(*(tag.split("-") for tag in tags))  # py2-none-any, py3-none-any: py2.py3-none-any
    tag = "-".join(".".join(dict.fromkeys(values)) for values in parts)
    out = folder / f"{name}-{version}-{tag}.whl"
    # stored, not deflated: a local copy that lives for one test
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for arcname, data in members.items():
            archive.writestr(arcname, data)
    return out


def wheelhouse(requirements_txt: Path, folder: Path) -> Path:
    """`folder` filled with a wheel of every installed distribution `requirements_txt` needs."""
    lines = [line.split("#", 1)[0].strip()
             for line in requirements_txt.read_text(encoding="utf-8").splitlines()]
    for dist in needed([Requirement(line) for line in lines if line]):
        repack(dist, folder)
    return folder
