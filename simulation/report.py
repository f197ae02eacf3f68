"""`report.md`: the run in words, one table per concern, and the plots; and `report.html`, the
same markdown rendered into one self-contained page with the plots embedded.

The markdown is the one source of both: `render_html` renders it with markdown-it-py rather than
writing the content a second time (docs/simulation.md, "Running it").
"""

from __future__ import annotations

import base64
import html
import re

from markdown_it import MarkdownIt

from simulation.plots import PLOTS

#: CommonMark with raw HTML off, so that whatever a scenario names (its name, roller labels) is
#: shown as text, never run as markup; tables are the GFM extension the report's tables use.
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
#: Characters that would start markup inside a line of the report's markdown (emphasis, code,
#: links and images, entities, table cells, raw HTML): a scenario's text gets them backslashed.
MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>|&!~])")
#: Inline, so that the page is one file that makes no request: it can be mailed or archived.
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; }
th { background: #f3f3f3; }
code { background: #f3f3f3; padding: 0.1rem 0.3rem; border-radius: 3px; }
img { max-width: 100%; height: auto; }
"""

STRATEGY_COLUMNS = (
    ("rollers", "rollers"), ("stake", "stake"), ("rewards", "rewards"), ("slashed", "slashed"),
    ("roi", "ROI"), ("on_time", "on time"), ("late", "late"), ("missed", "missed"),
    ("invalid", "invalid"), ("declined", "declined"), ("reward_per_proof", "reward/proof"),
    ("reward_share", "reward share"), ("stake_share", "stake share"),
    ("compute_share", "compute share"), ("reputation", "final rep"),
)


def render_report(metrics: dict, command: str) -> str:
    scenario, liveness, finality = metrics["scenario"], metrics["liveness"], metrics["finality"]
    lines = [
        f"# {_text(report_title(metrics))}",
        "",
        _code(command),
        "",
        f"{scenario['rollers']:,} roller addresses, {scenario['blocks']:,} commit slots every "
        f"{scenario['block_interval_s']:g} s, seed {scenario['seed']}; "
        f"{liveness['virtual_hours']:g} virtual hours. Market parameters:",
        "",
        ", ".join(f"{k} = {v}" for k, v in metrics["params"].items()) + ".",
        "",
        "## Strategies",
        "",
        "ROI is (rewards - slashed) / stake over the run, in tokens; outcomes are counts of "
        "assignments.",
        "",
        _table([label for _, label in STRATEGY_COLUMNS],
               [[_cell(s[key]) for key, _ in STRATEGY_COLUMNS]
                for s in metrics["strategies"].values()],
               first=[_text(name) for name in metrics["strategies"]]),
        "",
        "## Finality and liveness",
        "",
        _table(["blocks finalized", "mean s", "p50 s", "p90 s", "p99 s", "max s"],
               [[_cell(finality[k]) for k in ("blocks", "mean_s", "p50_s", "p90_s", "p99_s",
                                               "max_s")]]),
        "",
        _table(list(liveness), [[_cell(v) for v in liveness.values()]]),
        "",
        "## Plots",
        "",
    ]
    for name, heading in PLOTS.items():
        lines += [f"### {heading}", "", f"![{heading}]({name})", ""]
    return "\n".join(lines)


def report_title(metrics: dict) -> str:
    return f"Simulation: {metrics['scenario']['name']}"


def render_html(report: str, page_title: str, images: dict[str, bytes]) -> str:
    """`report` (the markdown of `render_report`) as one HTML page; each image it links to is
    replaced by `images[name]`, that file's PNG bytes, as a data URI."""
    tokens = MARKDOWN.parse(report)
    for token in tokens:
        for child in token.children or ():
            if child.type == "image":
                png = base64.b64encode(images[child.attrGet("src")]).decode("ascii")
                child.attrSet("src", f"data:image/png;base64,{png}")
    body = MARKDOWN.renderer.render(tokens, MARKDOWN.options, {})
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(page_title)}</title>\n<style>{STYLE}</style>\n</head>\n"
            f"<body>\n{body}</body>\n</html>\n")


def _text(text: str) -> str:
    """A scenario's text as markdown that shows it literally, on one line (a line break would
    end a heading or a table row)."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(text.split()))


def _code(text: str) -> str:
    """A code span around `text` that no backtick in it can close early."""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if "`" in text else f"{fence}{text}{fence}"


def _table(header: list[str], rows: list[list[str]], first: list[str] | None = None) -> str:
    if first is not None:
        header = ["strategy", *header]
        rows = [[name, *row] for name, row in zip(first, rows)]
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" if i == 0 and first else "---:" for i in range(len(header)))
             + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
