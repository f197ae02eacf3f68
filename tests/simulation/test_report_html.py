"""`report.html` beside `report.md`: the same headings and table rows, every plot embedded by its
heading, nothing fetched from elsewhere, and a scenario's text shown as text, never as markup.

One run of a tiny scenario whose name and roller label are hostile (HTML, markdown, a link, a
table pipe) and whose file name holds a backtick (the command's code span); the report.md side is
read line by line here, not with the library the report is rendered with."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from provernet.cli import cli
from simulation.plots import PLOTS
from simulation.report import render_html

NAME = "<script>alert('x')</script> *em* `code` &amp; [link](https://example.com/) a|b"
LABEL = "<b>bold</b>|pipe_*star*"
#: JSON strings are TOML basic strings.
SCENARIO = f"""
name = {json.dumps(NAME)}
seed = 4
blocks = 40

[[rollers]]
behaviour = "honest"
count = 4
profile = "gpu-h100"
label = {json.dumps(LABEL)}

[[rollers]]
behaviour = "lazy"
count = 1
"""
HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
#: Elements a report never has: markup or a request smuggled in through a scenario's text.
FOREIGN_TAGS = {"script", "b", "em", "a", "link", "iframe", "object", "embed"}


class Page(HTMLParser):
    """The parts of the page the tests compare: the title, headings and images in document order,
    table rows as cell texts, code spans, and every start tag with its attributes."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.flow: list[tuple[str, str]] = []  # ("heading", text) and ("img", alt), in order
        self.rows: list[list[str]] = []
        self.codes: list[str] = []
        self.title = ""
        self._open: str | None = None  # the element whose text is being collected
        self._text = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        elif tag == "img":
            self.flow.append(("img", dict(attrs)["alt"]))
        elif tag in HEADING_TAGS | {"th", "td", "code", "title"}:
            self._open, self._text = tag, ""

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag != self._open:
            return
        text = self._text.strip()
        if tag in HEADING_TAGS:
            self.flow.append(("heading", text))
        elif tag in {"th", "td"}:
            self.rows[-1].append(text)
        elif tag == "code":
            self.codes.append(text)
        else:
            self.title = text
        self._open = None


def markdown_headings(report: str) -> list[str]:
    return [_unescape(m[1]) for m in re.finditer(r"(?m)^#+ (.*)$", report)]


def markdown_rows(report: str) -> list[list[str]]:
    rows = []
    for line in report.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|( :?-+:? \|)+", line):
            cells = re.split(r"(?<!\\)\|", line)[1:-1]
            rows.append([_unescape(cell.strip()) for cell in cells])
    return rows


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("report_html")
    scenario = folder / "odd`name.toml"
    scenario.write_text(SCENARIO)
    out = folder / "out"
    result = CliRunner().invoke(cli, ["simulate", str(scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return scenario, out


@pytest.fixture(scope="module")
def page(run) -> Page:
    return Page((run[1] / "report.html").read_text(encoding="utf-8"))


def test_same_headings_and_table_rows_as_the_markdown(run, page):
    report = (run[1] / "report.md").read_text(encoding="utf-8")
    headings = [text for kind, text in page.flow if kind == "heading"]
    assert headings == markdown_headings(report)
    assert headings[:3] == [f"Simulation: {NAME}", "Strategies", "Finality and liveness"]
    assert page.rows == markdown_rows(report)
    assert [row[0] for row in page.rows[:3]] == ["strategy", LABEL, "lazy"]
    assert len(page.rows) == 3 + 2 + 2  # strategies, finality, liveness: header and rows


def test_every_plot_is_embedded_under_its_heading(run, page):
    _, out = run
    images = [attrs["src"] for tag, attrs in page.tags if tag == "img"]
    assert len(images) == len(PLOTS)
    prefix = "data:image/png;base64,"
    for src, name in zip(images, PLOTS):
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix):]) == (out / name).read_bytes(), name
    for title in PLOTS.values():
        at = page.flow.index(("heading", title))
        assert page.flow[at + 1] == ("img", title)


def test_the_page_requests_nothing_from_elsewhere(run, page):
    text = (run[1] / "report.html").read_text(encoding="utf-8")
    for tag, attrs in page.tags:
        for key in ("src", "href", "srcset", "action", "data"):
            assert attrs.get(key) is None or attrs[key].startswith("data:image/png;base64,"), tag
    assert "url(" not in text and "@import" not in text


def test_a_scenarios_text_is_shown_as_text(run, page):
    scenario, out = run
    assert {tag for tag, _ in page.tags}.isdisjoint(FOREIGN_TAGS)
    assert "<script" not in (out / "report.html").read_text(encoding="utf-8")
    assert page.title == f"Simulation: {NAME}"
    assert page.codes == [f"provernet simulate '{scenario}' --out {out}"]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert f"provernet simulate '{scenario}' --out {out}" in report.splitlines()[2]


def test_raw_html_in_the_markdown_stays_text():
    """The second guard: whatever reached the markdown unescaped is still not markup."""
    page = Page(render_html("# <script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n",
                            "<t>", {}))
    assert {tag for tag, _ in page.tags} == {"html", "head", "meta", "title", "style", "body",
                                             "h1", "p"}
    assert page.flow == [("heading", "<script>alert(1)</script>")]
    assert page.title == "<t>"
