"""Print the workflow-file reference (Markdown) from ``schema.py``.

    python -m ikuflow.definition.reference > docs/workflow-reference.md

The output depends on nothing but ``schema.py`` (no YAML, no database), so the committed
reference is checked against it by ``tests/test_docs.py``.
"""

from __future__ import annotations

import sys

from ikuflow.definition import schema
from ikuflow.definition.schema import Field, Section

REGENERATE = "python -m ikuflow.definition.reference > docs/workflow-reference.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(f: Field) -> str:
    if f.required:
        return "**required**"
    return f.default or "-"


def _table(section: Section) -> list[str]:
    out = ["| field | type | required / default | allowed values | what it is | example |",
           "|---|---|---|---|---|---|"]
    for f in section.fields:
        allowed = ", ".join(f"`{a}`" for a in f.allowed) or "-"
        out.append(f"| `{f.name}` | {_cell(f.type)} | {_cell(_default(f))} | {allowed} | "
                   f"{_cell(f.description)} | `{_cell(f.example)}` |")
    return out


def _section(section: Section) -> list[str]:
    return [f"### `{section.path}`" if section.key != "top" else f"### {section.title}", "",
            section.description, "", *_table(section), ""]


def render() -> str:
    """The whole reference, as Markdown."""
    lines = [
        "# Workflow file reference",
        "",
        "<!-- Generated from ikuflow/definition/schema.py; do not edit by hand. Regenerate with:",
        f"     {REGENERATE} -->",
        "",
        "A workflow file (`workflows/*.yaml`) declares a document's states, the events that move",
        "it, who may fire them, the deadlines counted back from the signing date, the reminders",
        "and escalations, and who is told by e-mail. `ikuflow workflow check [FILE...]` validates",
        "files and reports every problem with file, line, location and a fix; `ikuflow init`",
        "stores a changed file as a new version (documents keep the version they started with).",
        "The loader accepts exactly the keys listed here.",
        "",
        "## Value types",
        "",
        "| type | written as |",
        "|---|---|",
        *(f"| {name} | {_cell(text)} |" for name, text in schema.TYPES),
        "",
        "A field that takes \"a role, or a list of roles\" (or states, guards, durations) accepts",
        "one value (`roles: chair`) or a list (`roles: [secretariat, chair]`).",
        "",
        "## Fields",
        "",
    ]
    for section in schema.WORKFLOW_SECTIONS:
        lines += _section(section)
    lines += [
        "## Guards",
        "",
        "| guard | what must hold |",
        "|---|---|",
        *(f"| `{name}` | {_cell(text)} |" for name, text in schema.GUARDS),
        "",
        "## Other checks",
        "",
        *(f"- {rule}" for rule in schema.RULES),
        "",
        "## A complete example",
        "",
        "```yaml",
        schema.EXAMPLE_WORKFLOW.rstrip("\n"),
        "```",
        "",
        "## " + schema.CALENDAR.title,
        "",
        schema.CALENDAR.description,
        "",
        *_table(schema.CALENDAR),
        "",
        "```yaml",
        schema.EXAMPLE_CALENDAR.rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Print the workflow file reference (docs/workflow-reference.md is generated from it)."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
