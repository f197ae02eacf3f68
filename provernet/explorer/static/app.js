// The explorer's page: one view per hash route, each drawn from one JSON endpoint of the
// server (provernet/explorer/server.py), fetched again whenever the server's event stream says
// that what L1 shows has changed. A new kind of page (the rollup's deposits and withdrawals,
// say) is an entry in ROUTES, a view, a link in NAV and an endpoint on the server.

import { h, render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";

const html = htm.bind(h);

// ------------------------------------------------------------------ routes

// Each link, and the routes it is the section of.
const NAV = [["#/", "Overview", ["overview"]], ["#/blocks", "Blocks", ["blocks", "block"]],
             ["#/batches", "Batches", ["batches"]], ["#/rollers", "Rollers", ["rollers", "roller"]],
             ["#/slashes", "Slashes", ["slashes"]]];

// Each route: its name, the JSON it shows and the view that shows it, from the hash's parts.
const ROUTES = [
  [[], () => ({ name: "overview", api: "api/overview", view: Overview })],
  [["blocks"], () => ({ name: "blocks", api: "api/blocks", view: Blocks })],
  [["blocks", "*"], (n) => ({ name: "block", api: `api/blocks/${n}`, view: Block })],
  [["batches"], () => ({ name: "batches", api: "api/batches", view: Batches })],
  [["rollers"], () => ({ name: "rollers", api: "api/rollers", view: Rollers })],
  [["rollers", "*"], (a) => ({ name: "roller", api: `api/rollers/${a}`, view: Roller })],
  [["slashes"], () => ({ name: "slashes", api: "api/slashes", view: Slashes })],
];

function currentRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean)
    .map(decodeURIComponent);
  for (const [pattern, make] of ROUTES) {
    if (pattern.length === parts.length
        && pattern.every((p, i) => p === "*" || p === parts[i])) {
      return make(...parts.filter((_, i) => pattern[i] === "*"));
    }
  }
  return { name: "missing", api: null, view: () => html`<p>No such page.</p>` };
}

// ------------------------------------------------------------------ formatting

const utc = (t) => t == null ? "" : new Date(t * 1000).toISOString().slice(0, 19).replace("T", " ") + " UTC";
const clock = (t) => new Date(t * 1000).toISOString().slice(11, 19);
const short = (hex) => hex ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : "";
const percent = (x) => `${(100 * x).toFixed(1)}%`;
const tokens = (amount) => Number(BigInt(amount.units) / 10n ** 12n) / 1e6;

const Hex = ({ value }) => value ? html`<code title=${value}>${short(value)}</code>` : html`<span class="none">—</span>`;
const RollerLink = ({ address }) => address
  ? html`<a href=${`#/rollers/${address}`} class="address" title=${address}>${short(address)}</a>`
  : html`<span class="none">—</span>`;
const BlockLink = ({ number }) => html`<a href=${`#/blocks/${number}`}>#${number}</a>`;
const Amount = ({ value }) => html`<span class="amount" title=${`${value.units} base units`}>${value.text}</span>`;
const Status = ({ status }) => html`<span class="badge status-${status}" data-status=${status}>${status}</span>`;

function At({ where }) {
  if (!where) return html`<span class="none">—</span>`;
  return html`<span title=${`L1 block ${where.l1_block}, transaction ${where.transaction}`}>
    ${utc(where.time)}</span>`;
}

const CHECK_TEXT = {
  match: "✓ recomputed, matches",
  mismatch: "✗ does not match",
  drawn: "○ recomputed, nothing to compare yet",
  waiting: "… randomness not recorded yet",
};

function Check({ draw }) {
  if (!draw) return html`<span class="none">—</span>`;
  const compared = draw.compared.length ? ` (${draw.compared.join(" and ")})` : "";
  return html`<span class=${`check check-${draw.status}`} data-check=${draw.status}
    title=${draw.problems.join("\n") || `the draw recomputed from L1${compared}`}>${CHECK_TEXT[draw.status]}</span>`;
}

// ------------------------------------------------------------------ charts

// A line chart over time (x: L1 timestamps), drawn by Chart.js; the datasets change in place.
function TimeChart({ datasets, yTitle, yMax, label }) {
  const canvas = useRef(null);
  const chart = useRef(null);
  useEffect(() => {
    chart.current = new Chart(canvas.current, {
      type: "line",
      data: { datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        plugins: { legend: { display: datasets.length > 1 } },
        scales: {
          x: { type: "linear", ticks: { callback: clock, maxTicksLimit: 8 },
               title: { display: true, text: "L1 time (UTC)" } },
          y: { beginAtZero: true, max: yMax, title: { display: true, text: yTitle } },
        },
      },
    });
    return () => chart.current.destroy();
  }, []);
  useEffect(() => {
    chart.current.data.datasets = datasets;
    chart.current.update("none");
  }, [datasets]);
  return html`<div class="chart"><canvas ref=${canvas} aria-label=${label} role="img"></canvas></div>`;
}

// ------------------------------------------------------------------ views

function Overview({ data, status }) {
  const { counts, pools, params } = data;
  const cards = [
    ["L1 block", status?.l1 ? `#${status.l1.head}` : "—", "l1-head"],
    ["L2 blocks committed", counts.committed, "committed-count"],
    ["L2 blocks finalized", counts.finalized, "finalized-count"],
    ["batches settled", `${counts.batches_settled} / ${counts.batches_finalized}`, "settled-count"],
    ["rollers", counts.rollers, "roller-count"],
    ["slashes", counts.slashes, "slash-count"],
    ["draws recomputed and matching", counts.draws_matching, "draws-matching"],
    ["draws not matching", counts.draws_mismatching, "draws-mismatching"],
  ];
  return html`
    <section class="cards">
      ${cards.map(([label, value, id]) => html`
        <div class=${`card ${id === "draws-mismatching" && value > 0 ? "alert" : ""}`}>
          <div class="value" data-testid=${id}>${value}</div><div class="label">${label}</div>
        </div>`)}
    </section>
    <section>
      <h2>Reward pools</h2>
      <table class="facts"><tbody>
        <tr><th>this rollup's reward pool</th><td data-testid="reward-pool"><${Amount} value=${pools.reward_pool} /></td></tr>
        <tr><th>active stake, all rollers</th><td><${Amount} value=${pools.total_active} /></td></tr>
        <tr><th>unbonding</th><td><${Amount} value=${pools.total_unbonding} /></td></tr>
        <tr><th>rewards credited, not yet claimed</th><td><${Amount} value=${pools.total_claimable} /></td></tr>
        <tr><th>every rollup's reward pools</th><td><${Amount} value=${pools.total_reward_pool} /></td></tr>
      </tbody></table>
    </section>
    <section>
      <h2>Latest blocks</h2>
      <${BlockTable} rows=${data.latest_blocks} />
      <p><a href="#/blocks">all blocks</a></p>
    </section>
    <section class="muted">
      <h2>Market</h2>
      <p>Chain ${data.chain_id}; Rollup <code>${data.contracts.rollup}</code>, staking${" "}
        <code>${data.contracts.staking}</code>. K = ${params.k} blocks a batch, M = ${params.m}${" "}
        slots a round, deadline T = ${params.t} s (late window ${params.late_window} s), open
        round ${params.r_open}, rewards by ${params.reward_mode}${" "}
        (${params.r_block.text} a block, ${params.r_agg.text} a batch).</p>
      ${data.audit_log ? html`<p data-testid="audit-log">Coordinator's audit log:${" "}
        ${data.audit_log.records} records${data.audit_log.problems.length
          ? html`, <span class="bad">${data.audit_log.problems.length} lines that are not records
            (${data.audit_log.problems[0]})</span>` : ""}.</p>`
        : html`<p>No audit log given: draws are checked against L1's settlements only.</p>`}
    </section>`;
}

function BlockTable({ rows }) {
  if (!rows.length) return html`<p class="none">No L2 block committed yet.</p>`;
  return html`<table class="list" data-testid="blocks">
    <thead><tr><th>block</th><th>status</th><th>committed</th><th>finalized</th><th>batch</th>
      <th>prover</th><th>draw</th></tr></thead>
    <tbody>${rows.map((b) => html`
      <tr data-block=${b.number} data-status=${b.status} data-check=${b.check}>
        <td><${BlockLink} number=${b.number} /></td><td><${Status} status=${b.status} /></td>
        <td><${At} where=${b.committed} /></td><td><${At} where=${b.finalized} /></td>
        <td>${b.batch}</td><td><${RollerLink} address=${b.prover} /></td>
        <td><${Check} draw=${{ status: b.check, problems: [], compared: [] }} /></td>
      </tr>`)}</tbody></table>`;
}

const Blocks = ({ data }) => html`<h2>L2 blocks</h2><${BlockTable} rows=${data} />`;

function Block({ data }) {
  const d = data.draw;
  return html`
    <h2>Block #${data.number} <${Status} status=${data.status} /></h2>
    <table class="facts"><tbody>
      <tr><th>committed</th><td><${At} where=${data.committed} /> (L1 block ${data.committed.l1_block},
        transaction <${Hex} value=${data.committed.transaction} />)</td></tr>
      <tr><th>finalized</th><td>${data.finalized ? html`<${At} where=${data.finalized} /> in batch${" "}
        ${data.batch}, transaction <span data-testid="finalize-tx"><${Hex} value=${data.finalized.transaction} /></span>`
        : html`<span class="none">not yet (batch ${data.batch})</span>`}</td></tr>
      <tr><th>settled</th><td>${data.settled ? html`<${At} where=${data.settled} />, transaction${" "}
        <${Hex} value=${data.settled.transaction} />` : html`<span class="none">not yet</span>`}</td></tr>
      <tr><th>prover (as L1 records it)</th><td><${RollerLink} address=${data.prover} /></td></tr>
      <tr><th>randomness</th><td><${Hex} value=${data.randomness} /> (hash of L1 block${" "}
        ${data.randomness_block}); roster: the snapshot taken at or before L1 block ${data.roster_block}</td></tr>
      <tr><th>roots</th><td><${Hex} value=${data.old_root} /> → <${Hex} value=${data.new_root} />,
        data hash <${Hex} value=${data.data_hash} /></td></tr>
    </tbody></table>
    <${Draw} draw=${d} title="Proving draw" />`;
}

function Draw({ draw, title }) {
  return html`
    <section class="draw">
      <h3>${title} <span data-testid="draw-check"><${Check} draw=${draw} /></span></h3>
      ${draw.problems.length ? html`<ul class="problems">${draw.problems.map((p) => html`<li>${p}</li>`)}</ul>` : ""}
      ${draw.compared.length ? html`<p class="muted">Every round below was recomputed from the
        randomness L1 recorded and the task's roster snapshot, by the reference rules, and
        compared with the ${draw.compared.join(" and the ")}.</p>` : ""}
      ${draw.rounds.map((r) => html`
        <div class="round" data-round=${r.round}>
          <h4>Round ${r.round}${r.open ? " (open: any staked roller)" : ""}
            ${r.seed ? html` — seed <${Hex} value=${r.seed} />` : ""}</h4>
          ${r.open ? "" : html`<p>Drawn: ${r.slots.length ? r.slots.map((s, i) => html`${i ? ", " : ""}
            <${RollerLink} address=${s.roller} /> × ${s.slots}`) : html`<span class="none">nobody (empty roster)</span>`}</p>`}
          ${r.outcomes.length ? html`<table class="list"><thead><tr><th>roller</th><th>slots</th>
            <th>outcome</th><th>from</th></tr></thead><tbody>${r.outcomes.map((o) => html`
            <tr><td><${RollerLink} address=${o.roller} /></td><td>${o.slots}</td>
              <td class=${`outcome-${o.outcome}`}>${o.outcome ?? "undecided"}</td><td>${o.source}</td></tr>`)}
            </tbody></table>` : html`<p class="none">No outcome yet.</p>`}
        </div>`)}
      ${draw.lottery ? html`<p data-testid="lottery">Lottery: ${draw.lottery.drawn
        ? html`winner <${RollerLink} address=${draw.lottery.winner} />${" "}
          ${draw.lottery.matches ? html`<span class="check check-match">✓ recomputed, L1 paid it</span>`
            : html`<span class="check check-mismatch">✗ L1 paid someone else</span>`}`
        : "not drawn yet"}</p>` : ""}
      ${draw.rewards.length ? html`<p data-testid="rewards">Paid: ${draw.rewards.map((r, i) => html`${i ? ", " : ""}
        <${RollerLink} address=${r.roller} /> <${Amount} value=${r.amount} />`)}</p>` : ""}
      ${draw.roster.length ? html`<details><summary>Roster snapshot (${draw.roster.length} rollers)</summary>
        <table class="list"><tbody>${draw.roster.map((e) => html`<tr><td><${RollerLink} address=${e.roller} /></td>
          <td>${percent(e.share)}</td></tr>`)}</tbody></table></details>` : ""}
    </section>`;
}

const Batches = ({ data }) => html`
  <h2>Batches</h2>
  ${data.length ? html`<table class="list" data-testid="batches">
    <thead><tr><th>batch</th><th>blocks</th><th>finalized</th><th>finalization transaction</th>
      <th>settled</th><th>records</th><th>aggregation draw</th><th>aggregator paid</th></tr></thead>
    <tbody>${data.map((b) => html`<tr data-batch=${b.index}>
      <td>${b.index}</td><td><${BlockLink} number=${b.first_block} />–<${BlockLink} number=${b.last_block} /></td>
      <td><${At} where=${b.finalized} /></td><td><${Hex} value=${b.finalized.transaction} /></td>
      <td><${At} where=${b.settled} /></td><td>${b.settled ? b.records : ""}</td>
      <td><${Check} draw=${b.aggregation} /></td>
      <td>${b.rewards.map((r) => html`<${RollerLink} address=${r.roller} /> <${Amount} value=${r.amount} /> `)}</td>
    </tr>`)}</tbody></table>` : html`<p class="none">No batch finalized yet.</p>`}`;

const OUTCOMES = ["on_time", "late", "missed", "invalid"];

const Rollers = ({ data }) => html`
  <h2>Rollers</h2>
  <table class="list" data-testid="rollers">
    <thead><tr><th>roller</th><th>state</th><th>stake</th><th>unbonding</th><th>reputation</th>
      <th>weight</th><th>rewards</th><th>claimable</th><th>slashed</th>
      ${OUTCOMES.map((o) => html`<th>${o.replace("_", " ")}</th>`)}</tr></thead>
    <tbody>${data.map((r) => html`<tr data-roller=${r.address} data-slashed=${r.slashed.units !== "0"}>
      <td><${RollerLink} address=${r.address} /></td><td>${r.state}</td>
      <td><${Amount} value=${r.stake} /></td><td><${Amount} value=${r.unbonding} /></td>
      <td>${r.rep}</td><td>${percent(r.weight_share)}</td><td><${Amount} value=${r.rewards} /></td>
      <td><${Amount} value=${r.claimable} /></td>
      <td class=${r.slashed.units !== "0" ? "bad" : ""}><${Amount} value=${r.slashed} /></td>
      ${OUTCOMES.map((o) => html`<td>${r.outcomes[o]}</td>`)}
    </tr>`)}</tbody></table>`;

function Roller({ data, status }) {
  const now = status?.l1?.time;
  const rep = data.reputation.map((p) => ({ x: p.time, y: p.rep }));
  if (now && rep.length) rep.push({ x: now, y: rep[rep.length - 1].y });
  let total = 0;
  const rewards = [{ x: data.registered?.time ?? 0, y: 0 },
    ...data.reward_history.map((r) => ({ x: r.time, y: (total += tokens(r.amount)) }))];
  if (now) rewards.push({ x: now, y: total });
  return html`
    <h2>Roller <code>${data.address}</code></h2>
    <table class="facts"><tbody>
      <tr><th>state</th><td>${data.state}</td></tr>
      <tr><th>stake</th><td data-testid="roller-stake"><${Amount} value=${data.stake} />${" "}
        (unbonding <${Amount} value=${data.unbonding} />)</td></tr>
      <tr><th>reputation</th><td data-testid="roller-rep">${data.rep}</td></tr>
      <tr><th>weight share</th><td>${percent(data.weight_share)}</td></tr>
      <tr><th>rewards earned</th><td><${Amount} value=${data.rewards} /> (claimable${" "}
        <${Amount} value=${data.claimable} />)</td></tr>
      <tr><th>slashed</th><td class=${data.slashes.length ? "bad" : ""} data-testid="roller-slashed">
        <${Amount} value=${data.slashed} /></td></tr>
      <tr><th>outcomes on L1</th><td>${OUTCOMES.map((o) => `${o.replace("_", " ")} ${data.outcomes[o]}`).join(", ")}</td></tr>
    </tbody></table>
    <div class="charts">
      <section><h3>Reputation over time</h3>
        <${TimeChart} label="reputation over time" yTitle="reputation" yMax=${null}
          datasets=${[{ label: "reputation", data: rep, stepped: true, borderColor: "#2563eb", pointRadius: 2 }]} /></section>
      <section><h3>Rewards earned (this rollup)</h3>
        <${TimeChart} label="rewards over time" yTitle="tokens"
          datasets=${[{ label: "rewards", data: rewards, stepped: true, borderColor: "#16a34a", pointRadius: 2 }]} /></section>
    </div>
    ${data.slashes.length ? html`<section><h3>Slashes</h3><${SlashTable} rows=${data.slashes} /></section>` : ""}
    <section><h3>Reputation changes</h3>
      <table class="list"><thead><tr><th>time</th><th>L1 block</th><th>reputation</th><th>cause</th></tr></thead>
      <tbody>${[...data.reputation].reverse().map((p) => html`<tr><td>${utc(p.time)}</td><td>${p.l1_block}</td>
        <td>${p.rep}</td><td>${p.cause}</td></tr>`)}</tbody></table></section>
    <section><h3>Stake and claims</h3>
      <table class="list"><thead><tr><th>time</th><th>what</th><th>amount</th><th>transaction</th></tr></thead>
      <tbody>${data.stake_changes.map((c) => html`<tr><td>${utc(c.time)}</td><td>${c.what}</td>
        <td><${Amount} value=${c.amount} /></td><td><${Hex} value=${c.transaction} /></td></tr>`)}</tbody></table></section>`;
}

function evidenceLink(evidence) {
  return "data:application/json," + encodeURIComponent(JSON.stringify(evidence, null, 2));
}

const SlashTable = ({ rows }) => html`<table class="list" data-testid="slashes">
  <thead><tr><th>roller</th><th>task</th><th>slashed</th><th>to the reporter</th><th>burned</th>
    <th>reporter</th><th>when</th><th>transaction</th><th>evidence</th></tr></thead>
  <tbody>${rows.map((s) => html`<tr data-slashed-roller=${s.roller}>
    <td><${RollerLink} address=${s.roller} /></td>
    <td>${s.kind === "block" ? html`block <${BlockLink} number=${s.index} />` : `aggregation ${s.index}`} round ${s.round}</td>
    <td class="bad"><${Amount} value=${s.amount} /></td><td><${Amount} value=${s.reporter_share} /></td>
    <td><${Amount} value=${s.burned} /></td><td><${RollerLink} address=${s.reporter} /></td>
    <td>${utc(s.time)}</td><td><${Hex} value=${s.transaction} /></td>
    <td class="wrap">${s.evidence ? html`<span class=${s.signature_is_rollers ? "check check-match" : "check check-mismatch"}>
        ${s.signature_is_rollers ? "✓ signed by the roller" : "✗ signature"}</span>${" "}
      statement <${Hex} value=${s.evidence.statement} />;${" "}
      <a download=${`evidence-${s.kind}-${s.index}-${short(s.roller)}.json`} href=${evidenceLink(s.evidence)}>EVIDENCE.json</a>`
      : ""}</td>
  </tr>`)}</tbody></table>`;

const Slashes = ({ data }) => html`
  <h2>Slashing evidence</h2>
  <p class="muted">Each slash is a signed proof that the staking contract checked against L1 and
    found invalid. The evidence is the transaction's own input, in the form${" "}
    <code>provernet audit slash</code> takes.</p>
  ${data.length ? html`<${SlashTable} rows=${data} />` : html`<p class="none">Nobody has been slashed.</p>`}`;

// ------------------------------------------------------------------ the page

function StatusBar({ status, connected }) {
  if (!connected) {
    return html`<div class="statusbar down" data-testid="l1-status" data-reachable="unknown">
      The explorer's server does not answer; reconnecting…</div>`;
  }
  if (!status || status.reachable === null) return html`<div class="statusbar">Connecting…</div>`;
  if (!status.reachable) {
    return html`<div class="statusbar down" data-testid="l1-status" data-reachable="false">
      L1 unreachable: ${status.error}. Showing what was read before; retrying.</div>`;
  }
  return html`<div class="statusbar up" data-testid="l1-status" data-reachable="true">
    L1 live: block #${status.l1.head}, ${utc(status.l1.time)}</div>`;
}

function App() {
  const [route, setRoute] = useState(currentRoute());
  const [status, setStatus] = useState(null);
  const [connected, setConnected] = useState(true);
  const [shown, setShown] = useState({ api: null, version: null, data: null, error: null });

  useEffect(() => {
    const follow = () => setRoute(currentRoute());
    window.addEventListener("hashchange", follow);
    const events = new EventSource("api/events");
    events.onmessage = (e) => { setStatus(JSON.parse(e.data)); setConnected(true); };
    events.onerror = () => setConnected(false);
    return () => { window.removeEventListener("hashchange", follow); events.close(); };
  }, []);

  const version = status?.version;
  useEffect(() => {
    if (!route.api || version === undefined) return;
    let current = true;
    fetch(route.api).then(async (response) => {
      const body = await response.json();
      if (!current) return;
      setShown(response.ok ? { api: route.api, version, data: body, error: null }
                           : { api: route.api, version, data: null, error: body.error });
    }).catch((error) => current && setShown({ api: route.api, version, data: null, error: String(error) }));
    return () => { current = false; };
  }, [route.api, version]);

  // A performance mark whenever fetched data is on screen: the page's load and update latency
  // are measured by these (docs/explorer.md).
  useEffect(() => {
    if (shown.data !== null) performance.mark(`provernet:shown ${shown.api} v${shown.version}`);
  }, [shown]);

  const ready = shown.api === route.api;
  const View = route.view;
  return html`
    <header>
      <h1><a href="#/">provernet explorer</a></h1>
      <nav>${NAV.map(([href, label, names]) => html`<a href=${href}
        class=${names.includes(route.name) ? "active" : ""}>${label}</a>`)}</nav>
    </header>
    <${StatusBar} status=${status} connected=${connected} />
    <main data-view=${route.name} data-loaded=${ready && shown.data !== null}
          data-version=${ready ? shown.version : ""}>
      ${!ready ? html`<p class="loading">Loading…</p>`
        : shown.error ? html`<p class="bad" data-testid="error">${shown.error}</p>`
        : html`<${View} data=${shown.data} status=${status} />`}
    </main>`;
}

const root = document.getElementById("app");
root.replaceChildren();  // the "Loading" placeholder
render(html`<${App} />`, root);
