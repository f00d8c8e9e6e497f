"""The annotator list a release reads: who may be named, and how.

Label Studio records an annotator by account (the e-mail its pull stores in the manifest's ``annotators``
column). A release publishes names only with consent: the list gives each account a display name and
``named_in_citations`` (false unless the file says true). Without a list nobody is named; annotators of the
release who are not named appear as "annotator-N" pseudonyms, numbered in the order of their accounts.

The file is YAML (a list of mappings, or a mapping with an ``annotators`` list) or CSV with a header::

    - {id: ana@lab.org, name: Ana Ruiz, named_in_citations: true}
    - {id: bo@lab.org, name: Bo Chen}
"""
from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

import yaml

ANNOTATORS_FILE = "annotators.yaml"  # the default list, beside data.dvc in the dataset repository
PSEUDONYM = "annotator-{}"
_TRUE, _FALSE = ("true", "yes", "1", "y"), ("false", "no", "0", "n", "")


@dataclass(frozen=True)
class Annotator:
    """One annotator account: ``id`` as Label Studio records it (an e-mail), the name to publish, and consent."""

    id: str
    name: str = ""
    named_in_citations: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", self.id.strip().lower())
        object.__setattr__(self, "name", self.name.strip())


FIELDS = tuple(f.name for f in fields(Annotator))


def _consent(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{where}: named_in_citations must be true or false, got {value!r}")


def _entries(path: Path) -> list[dict]:
    if path.suffix.lower() == ".csv":
        with open(path, newline="") as f:
            return [dict(r) for r in csv.DictReader(f)]
    data = yaml.safe_load(path.read_text()) or []
    data = data.get("annotators", []) if isinstance(data, dict) else data
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ValueError(f"{path}: expected a list of annotators (mappings with {', '.join(FIELDS)})")
    return data


def parse_annotators(entries: Iterable[dict], where: str = "annotators") -> tuple[Annotator, ...]:
    """Typed annotators; every problem (unknown or missing fields, bad consent values, duplicates) in one error."""
    out, problems = [], []
    for n, entry in enumerate(entries, start=1):
        at = f"{where}, entry {n}"
        if unknown := sorted(set(entry) - set(FIELDS)):
            problems.append(f"{at}: unknown field(s) {', '.join(unknown)} (valid: {', '.join(FIELDS)})")
            continue
        if not str(entry.get("id") or "").strip():
            problems.append(f"{at}: no id (the annotator's Label Studio e-mail)")
            continue
        try:
            person = Annotator(str(entry["id"]), str(entry.get("name") or ""),
                               _consent(entry.get("named_in_citations"), at))
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if person.named_in_citations and not person.name:
            problems.append(f"{at}: {person.id} agrees to be named but has no name")
        out.append(person)
    ids = [a.id for a in out]
    if doubles := sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"{where}: listed twice: {', '.join(doubles)}")
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(out)


def load_annotators(path: Path | None) -> tuple[Annotator, ...]:
    """The annotator list of a YAML or CSV file; no file: an empty list (nobody named)."""
    if path is None:
        return ()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"annotator list {path} not found")
    return parse_annotators(_entries(path), str(path))


def with_accounts(existing: Sequence[Annotator], recorded: Iterable[str]) -> tuple[tuple[Annotator, ...], int]:
    """The list with every recorded account: existing entries unchanged, new accounts added, not named; and how
    many were added."""
    known = {a.id for a in existing}
    new = sorted({r.strip().lower() for r in recorded if r.strip()} - known)
    return (*existing, *(Annotator(n) for n in new)), len(new)


def format_annotators(annotators: Sequence[Annotator]) -> str:
    """The list as YAML that ``load_annotators`` reads, with a note on consent."""
    return ("# Annotators of this dataset (grainloop dataset annotators). A release names someone in its citation\n"
            "# only with a name and named_in_citations: true, recorded with their agreement.\n"
            + yaml.safe_dump([asdict(a) for a in annotators], sort_keys=False))


@dataclass(frozen=True)
class Credits:
    """How a release names its annotators: consenting ones by name, everyone else by a pseudonym."""

    named: tuple[str, ...]  # display names, in account order, of annotators who agreed to be named
    label: dict  # account -> what the release shows for it (a name or a pseudonym)

    @property
    def unnamed(self) -> int:
        return len(self.label) - len(self.named)


def credits(recorded: Sequence[str], annotators: Sequence[Annotator]) -> Credits:
    """Credits for the accounts recorded in a release's rows; only consenting listed annotators are named."""
    by_id = {a.id: a for a in annotators}
    label, named, n = {}, [], 0
    for account in sorted({r.strip().lower() for r in recorded if r.strip()}):
        person = by_id.get(account)
        if person is not None and person.named_in_citations:
            label[account] = person.name
            named.append(person.name)
        else:
            n += 1
            label[account] = PSEUDONYM.format(n)
    return Credits(tuple(named), label)
