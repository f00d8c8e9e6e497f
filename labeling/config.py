"""The label schema as a Label Studio labeling config, and back.

One config serves both tools: a BrushLabels and a PolygonLabels control on the same image, with the schema's
class names and colours in the schema's order (mask values 1..K). The schema's tool comes first, so it is the
annotator's default; the other stays available, so tasks may mix brush strokes and polygons, and pre-annotations
may use either. The schema's name, tool and hash ride along in the project description.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from foundation.schema import LabelClass, LabelSchema

IMAGE = "image"
BRUSH = "brush"
POLYGON = "polygon"
TAGS = {BRUSH: "BrushLabels", POLYGON: "PolygonLabels"}
RESULT_TYPES = {BRUSH: "brushlabels", POLYGON: "polygonlabels"}


class ConfigMismatch(ValueError):
    """A project's labeling config does not match the schema."""


def label_config(schema: LabelSchema) -> str:
    """Label Studio XML for the schema (deterministic: the same schema gives the same text)."""
    tools = (schema.tool, POLYGON if schema.tool == BRUSH else BRUSH)
    controls = "\n".join(_control(tool, schema.classes) for tool in tools)
    image = f'  <Image name="{IMAGE}" value="${IMAGE}" zoom="true" zoomControl="true" rotateControl="false"/>'
    return f"<View>\n{image}\n{controls}\n</View>"


def _control(tool: str, classes: tuple[LabelClass, ...]) -> str:
    extra = ' strokeWidth="2" pointSize="small" opacity="0.4"' if tool == POLYGON else ""
    labels = "\n".join(f"    <Label value={quoteattr(c.name)} background={quoteattr(c.color)}/>" for c in classes)
    return f'  <{TAGS[tool]} name="{tool}" toName="{IMAGE}"{extra}>\n{labels}\n  </{TAGS[tool]}>'


def description(schema: LabelSchema) -> str:
    return f"grainloop schema {schema.name} tool={schema.tool} hash={schema.hash}"


@dataclass(frozen=True)
class Control:
    name: str
    tool: str
    classes: tuple[LabelClass, ...]


def controls_in_config(xml: str) -> list[Control]:
    """The brush/polygon controls of a labeling config, in document order, with their classes."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise ConfigMismatch(f"the labeling config is not valid XML: {e}") from None
    tools = {tag: tool for tool, tag in TAGS.items()}
    return [Control(el.get("name", ""), tools[el.tag],
                    tuple(LabelClass(lab.get("value", ""), lab.get("background", "")) for lab in el.iter("Label")))
            for el in root.iter() if el.tag in tools]


def schema_from_config(xml: str, name: str = "from-config") -> LabelSchema:
    """The label schema of a project's config: class names and colours in their order (mask values)."""
    controls = controls_in_config(xml)
    if not controls:
        raise ConfigMismatch("the labeling config has no BrushLabels or PolygonLabels control")
    return LabelSchema(name=name, classes=controls[0].classes, tool=controls[0].tool)


def check_config(xml: str, schema: LabelSchema) -> None:
    """Raise ConfigMismatch, naming both class lists, unless the config holds exactly the schema's classes."""
    controls = controls_in_config(xml)
    want = [(c.name, c.color) for c in schema.classes]
    for control in controls:
        have = [(c.name, c.color) for c in control.classes]
        if have != want:
            raise ConfigMismatch(f"control {control.name!r} has classes {have}, the schema {schema.name!r} has {want}")
    first = controls[0].tool if controls else None
    if first != schema.tool:
        raise ConfigMismatch(f"the project's default tool is {first!r}, the schema's is {schema.tool!r}")
