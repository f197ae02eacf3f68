"""The run's plots, as PNG files (matplotlib's Agg backend: no display needed).

Each function takes the metrics (and, for finality, the raw times) and writes one file;
`write_plots` writes them all and returns their names in the order the report shows them.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

PLOTS = {
    "reward_share.png": "Reward share against compute share and stake share",
    "reputation.png": "Mean reputation over time, per strategy",
    "roi.png": "Return on stake over the run, per strategy",
    "finality.png": "Time to finality: commit to L1 finalization",
    "liveness.png": "Liveness: blocks waiting, redraws",
}
DPI = 110


def write_plots(metrics: dict, finality_s: list[float], out: Path) -> list[str]:
    reward_share(metrics, out / "reward_share.png")
    reputation(metrics, out / "reputation.png")
    roi(metrics, out / "roi.png")
    finality(finality_s, out / "finality.png")
    liveness(metrics, out / "liveness.png")
    return list(PLOTS)


def reward_share(metrics: dict, path: Path) -> None:
    """A fair market pays along the diagonal of stake share (weight is linear in stake) and, with
    hardware that keeps up, of compute share too; points above it are paid more than their part."""
    strategies = metrics["strategies"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=True)
    for ax, x_key, x_label in ((axes[0], "compute_share", "share of proving time"),
                               (axes[1], "stake_share", "share of stake")):
        for name, s in strategies.items():
            ax.scatter(s[x_key], s["reward_share"], s=60)
            ax.annotate(name, (s[x_key], s["reward_share"]), textcoords="offset points",
                        xytext=(5, 4), fontsize=8)
        top = max([0.05] + [max(s[x_key], s["reward_share"]) for s in strategies.values()]) * 1.1
        ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel(x_label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share of rewards")
    fig.suptitle(PLOTS[path.name])
    _save(fig, path)


def reputation(metrics: dict, path: Path) -> None:
    series = metrics["series"]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    for name, values in series["reputation"].items():
        ax.plot(series["t_hours"], [np.nan if v is None else v for v in values], label=name)
    ax.set_xlabel("virtual time (hours)")
    ax.set_ylabel(f"reputation (REP_MAX {metrics['params']['rep_max']:,})")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    ax.set_title(PLOTS[path.name])
    _save(fig, path)


def roi(metrics: dict, path: Path) -> None:
    names = list(metrics["strategies"])
    values = [metrics["strategies"][n]["roi"] for n in names]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names) + 2), 4.8))
    bars = ax.bar(names, values, color=["tab:green" if v > 0 else "tab:red" for v in values])
    ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], fontsize=8)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("(rewards - slashed) / stake")
    ax.tick_params(axis="x", labelrotation=30)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(PLOTS[path.name])
    _save(fig, path)


def finality(finality_s: list[float], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4.8))
    if finality_s:
        values = np.sort(np.asarray(finality_s))
        ax.hist(values, bins=50, color="tab:blue", alpha=0.6)
        cdf = ax.twinx()
        cdf.plot(values, np.arange(1, len(values) + 1) / len(values), color="tab:orange")
        cdf.set_ylabel("cumulative share of blocks")
        cdf.set_ylim(0, 1.02)
    else:
        ax.text(0.5, 0.5, "no block was finalized", ha="center", transform=ax.transAxes)
    ax.set_xlabel("seconds from commit to finalization")
    ax.set_ylabel("blocks")
    ax.set_title(PLOTS[path.name])
    _save(fig, path)


def liveness(metrics: dict, path: Path) -> None:
    series = metrics["series"]
    fig, (waiting, redraws) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    waiting.plot(series["t_hours"], series["blocks_waiting"], color="tab:purple")
    waiting.set_ylabel("blocks committed,\nnot finalized")
    redraws.plot(series["t_hours"], series["redraws"], color="tab:red")
    redraws.set_ylabel("redraws (cumulative)")
    redraws.set_xlabel("virtual time (hours)")
    for ax in (waiting, redraws):
        ax.grid(alpha=0.3)
    waiting.set_title(PLOTS[path.name])
    _save(fig, path)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
