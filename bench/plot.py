#!/usr/bin/env python3
"""Turns bench/results/*.json into the PNG charts shown in docs/performance.md."""
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench/results")
OUT = os.path.join(ROOT, "docs/performance")


def load(name):
    path = os.path.join(RESULTS, f"{name}.json")
    return json.load(open(path)) if os.path.exists(path) else None


def save(fig, name):
    os.makedirs(OUT, exist_ok=True)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, name), dpi=110)
    plt.close(fig)
    print("wrote", os.path.join("docs/performance", name))


def large_charts(r):
    fig, ax = plt.subplots(figsize=(7, 4))
    flows = sorted({row["flow"] for row in r["rows"]})
    for flow in flows:
        rows = [x for x in r["rows"] if x["flow"] == flow]
        ax.plot([x["size_mib"] for x in rows], [x["mb_per_s"] for x in rows], marker="o", label=flow)
    for key, style, label in [("disk_floor_mb_per_s", "k--", "disk floor (dd conv=fdatasync)"),
                              ("chunk_floor_mb_per_s", "k:", "chunk floor (5 MiB PATCH via nginx to libfcgi, fdatasync each)")]:
        floor = {}
        for x in r["rows"]:
            if key in x:
                floor.setdefault(x["size_mib"], []).append(x[key])
        sizes = sorted(floor)
        if sizes:
            ax.plot(sizes, [sorted(floor[s])[len(floor[s]) // 2] for s in sizes], style, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("file size (MiB)")
    ax.set_ylabel("MB/s, end to end through nginx")
    ax.set_title("Large uploads: throughput against file size")
    ax.legend(fontsize=8)
    ax.set_ylim(bottom=0)
    save(fig, "throughput.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    for mode in sorted({m["mode"] for m in r["memory"]}):
        rows = [m for m in r["memory"] if m["mode"] == mode]
        ax.plot([m["size_mib"] for m in rows], [m["peak_rss_kib"] / 1024 for m in rows], marker="o", label=mode)
    ax.axhline(16, color="red", linestyle=":", label="target 16 MiB")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("file size (MiB)")
    ax.set_ylabel("peak RSS (MiB)")
    ax.set_title("Memory against file size")
    ax.set_ylim(0, 20)
    ax.legend(fontsize=8)
    save(fig, "memory.png")


def small_charts(r):
    targets = []
    for row in r["rows"]:
        key = (row["target"], row["widget"])
        if key not in targets:
            targets.append(key)
    for metric, title, name in [("rps", "requests/s", "small-rate.png"), ("p99_ms", "p99 latency (ms)", "small-p99.png")]:
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        for target, widget in targets:
            rows = [x for x in r["rows"] if x["target"] == target and x["widget"] == widget]
            style = "--" if "floor" in target else "-"
            ax.plot([x["concurrency"] for x in rows], [x[metric] for x in rows], style, marker="o",
                    label=f"{target} ({widget})" if "floor" not in target else target)
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 4, 16], ["1", "4", "16"])
        ax.set_xlabel("concurrency")
        ax.set_ylabel(title)
        ax.set_title(f"1 KiB uploads behind nginx: {title} against concurrency")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
        save(fig, name)


def main():
    large = load("large")
    if large:
        large_charts(large)
    small = load("small")
    if small:
        small_charts(small)


if __name__ == "__main__":
    main()
