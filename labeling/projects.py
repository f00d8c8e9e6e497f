"""Create or reuse a Label Studio project for a label schema, idempotently."""
from __future__ import annotations

from dataclasses import dataclass

from foundation.schema import LabelSchema
from labeling.config import ConfigMismatch, check_config, description, label_config
from labeling.priority import SAMPLING


class ProjectError(RuntimeError):
    """A project cannot be created or reused."""


@dataclass(frozen=True)
class ProjectSpec:
    title: str
    schema: LabelSchema

    def __post_init__(self) -> None:
        if len(self.title.strip()) < 3:
            raise ValueError(f"a project title needs at least 3 characters, got {self.title!r}")


@dataclass(frozen=True)
class ProjectRef:
    id: int
    title: str
    schema: LabelSchema


def find_project(client, title: str):
    """The project with exactly this title, or None; an error if several share it."""
    matches = [p for p in client.projects.list(title=title, page_size=100) if p.title == title]
    if len(matches) > 1:
        raise ProjectError(f"{len(matches)} projects are titled {title!r} (ids {[p.id for p in matches]}); "
                           "rename all but one")
    return matches[0] if matches else None


def ensure_project(client, spec: ProjectSpec) -> ProjectRef:
    """Reuse the project with this title if its labeling config matches the schema, else create it (its label
    stream ordered by the champion's prediction score: labeling/priority.py).

    A project with the same title but another schema is an error that names both class lists.
    """
    existing = find_project(client, spec.title)
    if existing is None:
        created = client.projects.create(title=spec.title, label_config=label_config(spec.schema),
                                         description=description(spec.schema), sampling=SAMPLING,
                                         show_collab_predictions=True)
        return ProjectRef(created.id, spec.title, spec.schema)
    project = client.projects.get(existing.id)
    try:
        check_config(project.label_config or "", spec.schema)
    except ConfigMismatch as e:
        raise ProjectError(f"project {spec.title!r} (id {project.id}) exists with another label schema: {e}") from None
    return ProjectRef(project.id, spec.title, spec.schema)


def project_ref(client, project_id: int, schema: LabelSchema) -> ProjectRef:
    """A reference to an existing project, checked against the schema."""
    project = client.projects.get(project_id)
    try:
        check_config(project.label_config or "", schema)
    except ConfigMismatch as e:
        raise ProjectError(f"project {project_id} does not match schema {schema.name!r}: {e}") from None
    return ProjectRef(project.id, project.title or "", schema)


def task_count(client, project_id: int) -> int:
    """Number of tasks on the server (read from the server, not from a local cache)."""
    return int(client.projects.get(project_id).task_number or 0)
