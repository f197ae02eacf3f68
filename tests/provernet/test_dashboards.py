"""The Grafana dashboards in dashboards/: every query is PromQL that parses (promql-parser, a
port of Prometheus's own parser), and every metric a dashboard queries is one its node really
exports (the exposition of a fresh SequencerMetrics, CoordinatorMetrics or RollerMetrics)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import promql_parser
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from coordinator.metrics import CoordinatorMetrics
from roller.metrics import RollerMetrics
from sequencer.metrics import SequencerMetrics

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
NODES = {"sequencer": SequencerMetrics, "coordinator": CoordinatorMetrics, "roller": RollerMetrics}
#: the series prometheus_client exposes for a family of each type, by suffix: a family with no
#: labelled child yet shows only its HELP and TYPE lines, and is queried by these names
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "info": ("_info",),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("", "_sum", "_count", "_created"), "unknown": ("",)}
#: Grafana's own interval variables, as it substitutes them before Prometheus sees a query
INTERVALS = re.compile(r"\$\{?__(?:rate_interval|interval|range)\b\}?")
#: the dashboards' variables ($instance), all inside label matchers' strings
VARIABLE = re.compile(r"\$\{?\w+\}?")
#: label_values(SELECTOR, LABEL): a templating query of Grafana's, not PromQL
LABEL_VALUES = re.compile(r"^label_values\((.*),\s*(\w+)\)$")


def exported(registry: CollectorRegistry) -> set[str]:
    """Every series name the registry's exposition has or will have once labelled."""
    names = set()
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
        names |= {sample.name for sample in family.samples}
    return names


def as_promql(query: str) -> str:
    """A dashboard's query as Prometheus gets it: Grafana's variables substituted."""
    return VARIABLE.sub(".+", INTERVALS.sub("5m", query))


def metric_names(query: str) -> set[str]:
    """The metrics a query selects, from its syntax tree (ValueError if it is not PromQL)."""
    names: set[str] = set()

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"a selector without a metric name in {query!r}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(as_promql(query)), visit)
    return names


def queries(dashboard: dict) -> list[str]:
    """Every PromQL query of a dashboard: its panels' targets (rows' nested panels too) and its
    templating queries' selectors."""
    found = []
    panels = list(dashboard["panels"])
    while panels:
        panel = panels.pop()
        panels += panel.get("panels", [])
        found += [target["expr"] for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            text = variable["query"]["query"]
            match = LABEL_VALUES.match(text)
            found.append(match[1] if match else text)
    return found


def load(node: str) -> dict:
    return json.loads((DASHBOARDS / f"{node}.json").read_text())


def test_there_is_a_dashboard_for_each_node_and_nothing_else():
    assert sorted(p.stem for p in DASHBOARDS.glob("*.json")) == sorted(NODES)


@pytest.mark.parametrize("node", NODES)
def test_every_metric_a_dashboard_queries_is_exported(node):
    available = exported(NODES[node]().registry)
    wanted = {name for query in queries(load(node)) for name in metric_names(query)}
    assert wanted, "a dashboard with no query"
    assert sorted(wanted - available) == []


@pytest.mark.parametrize("node", NODES)
def test_a_dashboard_takes_its_prometheus_from_a_variable(node):
    """So that it imports into any Grafana: every panel and query names the data source
    `${DS_PROMETHEUS}`, a variable of type datasource."""
    dashboard = load(node)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert (variables["DS_PROMETHEUS"]["type"], variables["DS_PROMETHEUS"]["query"]) == (
        "datasource", "prometheus")
    source = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels and all(p["datasource"] == source for p in panels)
    assert all(t["datasource"] == source for p in panels for t in p["targets"])
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    assert dashboard["uid"] == f"provernet-{node}"


def test_metric_names_come_from_the_syntax_tree():
    query = ('histogram_quantile(0.95, sum by (le, method) (rate(a_seconds_bucket{method!="x", '
             'instance=~"$instance"}[$__rate_interval]))) / on (job) group_left '
             'sum(b_total offset 5m) > bool 0 or vector(1) and max_over_time(c[1h:5m])')
    assert metric_names(query) == {"a_seconds_bucket", "b_total", "c"}
    assert metric_names("time() - max(last_seconds)") == {"last_seconds"}
    with pytest.raises(ValueError):
        metric_names("sum(rate(a_total[5m])")  # unbalanced
