"""Per-image license and attribution: the manifest's ``license`` and ``attribution`` columns, a release's default
for rows without one, a CSV of per-image overrides, and the COCO ``licenses`` list built from them.

Licenses are SPDX identifiers (https://spdx.org/licenses/); the common open ones carry their name and URL here,
another identifier needs its URL in the overrides CSV (columns ``id,license,attribution,url``; ``id`` is the
manifest id). ``unknown`` says nobody recorded one.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

from dataset.manifest import ManifestRow

UNKNOWN = "unknown"
KNOWN = {  # SPDX id -> (name, URL)
    "CC-BY-4.0": ("Creative Commons Attribution 4.0 International", "https://creativecommons.org/licenses/by/4.0/"),
    "CC-BY-SA-4.0": ("Creative Commons Attribution Share Alike 4.0 International",
                     "https://creativecommons.org/licenses/by-sa/4.0/"),
    "CC-BY-NC-4.0": ("Creative Commons Attribution Non Commercial 4.0 International",
                     "https://creativecommons.org/licenses/by-nc/4.0/"),
    "CC-BY-NC-SA-4.0": ("Creative Commons Attribution Non Commercial Share Alike 4.0 International",
                        "https://creativecommons.org/licenses/by-nc-sa/4.0/"),
    "CC0-1.0": ("Creative Commons Zero v1.0 Universal", "https://creativecommons.org/publicdomain/zero/1.0/"),
    "CDLA-Permissive-2.0": ("Community Data License Agreement Permissive 2.0", "https://cdla.dev/permissive-2-0/"),
    "ODbL-1.0": ("Open Data Commons Open Database License v1.0", "https://opendatacommons.org/licenses/odbl/1-0/"),
    UNKNOWN: ("License not recorded", ""),
}
OVERRIDE_COLUMNS = ("id", "license", "attribution", "url")


@dataclass(frozen=True)
class LicenseChoice:
    """What a release applies: a default for rows without a license, per-image overrides, extra license URLs."""

    default: str = UNKNOWN
    default_attribution: str = ""
    overrides: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # manifest id -> (license, attribution)
    urls: Mapping[str, str] = field(default_factory=dict)  # license id -> URL, for ids not in KNOWN


def canonical(license_id: str) -> str:
    """The SPDX spelling of a known id whatever its case (cc-by-4.0 -> CC-BY-4.0); others as given."""
    text = license_id.strip()
    return next((k for k in KNOWN if k.lower() == text.lower()), text) or UNKNOWN


def load_overrides(path: Path | None) -> tuple[dict, dict]:
    """(manifest id -> (license, attribution), license -> URL) of an overrides CSV; every bad line in one error."""
    if path is None:
        return {}, {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"id", "license"} - set(reader.fieldnames or ())
        if missing or set(reader.fieldnames or ()) - set(OVERRIDE_COLUMNS):
            raise ValueError(f"{path}: columns must be {', '.join(OVERRIDE_COLUMNS)} (id and license required), "
                             f"got {', '.join(reader.fieldnames or ()) or 'none'}")
        entries = list(reader)
    overrides, urls, problems = {}, {}, []
    for n, e in enumerate(entries, start=2):
        key, lic, url = (e.get("id") or "").strip(), canonical(e.get("license") or ""), (e.get("url") or "").strip()
        if not key:
            problems.append(f"line {n}: no id")
        elif key in overrides:
            problems.append(f"line {n}: {key} given twice")
        overrides[key] = (lic, (e.get("attribution") or "").strip())
        if url:
            urls[lic] = url
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return overrides, urls


def apply(rows: Sequence[ManifestRow], choice: LicenseChoice) -> list[ManifestRow]:
    """Rows with their license and attribution as released: an override, else the row's own, else the default.
    An override for an id the release does not hold, or a license without a known URL, is an error."""
    overrides, urls = dict(choice.overrides), dict(choice.urls)
    if stray := sorted(set(overrides) - {r.id for r in rows}):
        raise ValueError(f"license overrides for images not in the release: {', '.join(stray)}")
    out = []
    for row in rows:
        lic, attribution = overrides.get(row.id, (row.license, row.attribution))
        out.append(replace(row, license=canonical(lic or choice.default),
                           attribution=attribution or row.attribution or choice.default_attribution))
    if unknown := sorted({r.license for r in out} - set(KNOWN) - set(urls)):
        raise ValueError(f"license(s) without a URL: {', '.join(unknown)}; known: {', '.join(KNOWN)} "
                         "(give a url column in the overrides CSV for others)")
    return out


def license_url(license_id: str, urls: Mapping[str, str] | None = None) -> str:
    return (urls or {}).get(license_id) or KNOWN.get(license_id, ("", ""))[1]


def coco_licenses(rows: Sequence[ManifestRow], urls: Mapping[str, str] | None = None) -> tuple[list[dict], dict]:
    """COCO's ``licenses`` list (id, name, url) of the rows' licenses, and license id -> its COCO id."""
    ids = {lic: n for n, lic in enumerate(sorted({r.license or UNKNOWN for r in rows}), start=1)}
    return ([{"id": n, "name": KNOWN.get(lic, (lic, ""))[0], "url": license_url(lic, urls), "spdx": lic}
             for lic, n in ids.items()], ids)
