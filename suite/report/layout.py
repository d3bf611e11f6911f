"""The report page as a list of sections: a table of contents, anchors, collapsible parts.

`index.md` and `index.html` are rendered from one list of `Section`s (id, title, blocks),
so a new part of the report is one more entry in that list (`suite.report.build_report`
assembles it). The HTML wraps a collapsible section (one per model, per training group) in
`<details open>`, so a reader can fold what they do not need; the page stays one file with
every picture embedded. Markdown gets the same contents list with `<a id>` anchors.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from suite.report.page import Block, Heading, html_body, html_document, render_markdown

CONTENTS_TITLE = "Contents"


@dataclass
class Section:
    """One part of the page: its anchor id, its title in the contents, its blocks."""

    id: str
    title: str
    blocks: list[Block]
    collapsible: bool = False


def anchor(text: str, taken: set[str]) -> str:
    """A unique, URL-safe id for a title: "ResNet-18 (pytorch)" -> "resnet-18-pytorch"."""
    base = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    base = "-".join(part for part in base.split("-") if part) or "section"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    taken.add(name)
    return name


def sections_from(parts: list[tuple[str, list[Block]]], taken: set[str],
                  collapsible: bool = True) -> list[Section]:
    """Sections with fresh ids from (title, blocks) pairs."""
    return [Section(anchor(title, taken), title, blocks, collapsible)
            for title, blocks in parts if blocks]


def _with_heading(section: Section) -> list[Block]:
    """The section's blocks, headed by its title unless they start with a heading."""
    if section.blocks and isinstance(section.blocks[0], Heading):
        return section.blocks
    return [Heading(1, section.title)] + section.blocks


def contents_markdown(sections: list[Section]) -> str:
    lines = "\n".join(f"- [{s.title}](#{s.id})" for s in sections)
    return f"## {CONTENTS_TITLE}\n\n{lines}\n"


def render_page_markdown(title: str, sections: list[Section]) -> str:
    """index.md: the title, the contents, then each section after its anchor."""
    out = [f"# {title}\n", contents_markdown(sections)]
    for s in sections:
        out.append(f'<a id="{s.id}"></a>\n')
        out.append(render_markdown(_with_heading(s)))
    return "\n".join(out)


def _contents_html(sections: list[Section]) -> str:
    items = "".join(f'<li><a href="#{s.id}">{html.escape(s.title)}</a></li>' for s in sections)
    return f"<nav><h2>{CONTENTS_TITLE}</h2><ul>{items}</ul></nav>"


def _section_html(section: Section, run_dir: Path) -> str:
    if not section.collapsible:
        return f'<section id="{section.id}">\n' \
               f"{html_body(_with_heading(section), run_dir)}\n</section>"
    blocks = section.blocks
    if blocks and isinstance(blocks[0], Heading):
        blocks = blocks[1:]       # the <summary> shows the title
    # inside a folded section, headings rank one below the section's own title
    blocks = [Heading(min(b.level + 1, 6), b.text) if isinstance(b, Heading) else b
              for b in blocks]
    return (f'<details open id="{section.id}"><summary>{html.escape(section.title)}'
            f"</summary>\n{html_body(blocks, run_dir)}\n</details>")


def render_page_html(title: str, sections: list[Section], run_dir: Path) -> str:
    """index.html: one self-contained file; collapsible sections as <details open>."""
    body = [f"<h1>{html.escape(title)}</h1>", _contents_html(sections)]
    body += [_section_html(s, run_dir) for s in sections]
    return html_document(title, "\n".join(body))


def write_sections(run_dir: Path, title: str, sections: list[Section]) -> Path:
    """Write index.md and index.html; return the index.md path."""
    md = run_dir / "index.md"
    md.write_text(render_page_markdown(title, sections))
    (run_dir / "index.html").write_text(render_page_html(title, sections, run_dir))
    return md
