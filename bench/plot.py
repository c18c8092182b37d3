#!/usr/bin/python3
"""Charts from `dualrpc-bench --json FILE` (docs/BENCHMARKS.md).

Usage: /usr/bin/python3 bench/plot.py RESULTS.json OUT_DIR

Writes into OUT_DIR:
  echo_closed_qps.png     calls/s vs closed-loop callers, one line per
                          contender, one panel per payload size
  echo_latency_cdf.png    latency CDFs (from each point's merged histogram),
                          one line per contender, for the key 64 B points
  echo_pipelined_qps.png  calls/s per pipeline shape and pinning mode
  echo_pinning.png        64 B calls/s and p50 in every pinning mode
  list_time.png           ListDirectory time per listing vs local readdir+lstat
Uses Debian's matplotlib with the Agg backend (no display needed).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["floor", "raw", "grpc", "capnp", "local"]
COLORS = {"floor": "#7f7f7f", "raw": "#d62728", "grpc": "#1f77b4", "capnp": "#2ca02c",
          "local": "#9467bd"}


def transports(records):
    present = {r["transport"] for r in records}
    return [t for t in ORDER if t in present]


def payload_label(size):
    if size >= 1 << 20:
        return "%d MiB" % (size >> 20)
    if size >= 1 << 10:
        return "%d KiB" % (size >> 10)
    return "%d B" % size


def subtitle(doc):
    machine = doc["machine"]
    return "%s: %d CPUs, %s; medians of %d" % (
        doc["scenario"], machine["nproc"], machine["kernel"], doc["repetitions"])


def echo_closed_qps(doc, records, out_dir):
    closed = [r for r in records if r["group"] == "echo-closed"]
    if not closed:
        return
    payloads = sorted({r["payload_bytes"] for r in closed})
    pinning = closed[0]["pinning"]
    fig, axes = plt.subplots(1, len(payloads), figsize=(4 * len(payloads), 4), squeeze=False)
    for ax, payload in zip(axes[0], payloads):
        for transport in transports(closed):
            # A point where no call completed in the window has no rate to plot.
            points = sorted((r["concurrency"], r["qps"]) for r in closed
                            if r["payload_bytes"] == payload and r["transport"] == transport
                            and r["qps"] > 0)
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                        label=transport, color=COLORS[transport])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title("Echo %s" % payload_label(payload))
        ax.set_xlabel("closed-loop callers")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("calls/s")
    axes[0][0].legend()
    fig.suptitle("calls/s vs concurrency (%s pinning) — %s" % (pinning, subtitle(doc)))
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(os.path.join(out_dir, "echo_closed_qps.png"), dpi=110)
    plt.close(fig)


def cdf_panels(records):
    """The 64 B points worth a CDF: closed 1 and 32 callers per pinning, open loops."""
    panels = []
    seen = set()
    for r in records:
        if r["workload"] != "echo" or r["payload_bytes"] != 64:
            continue
        if r["mode"] == "closed" and r["concurrency"] in (1, 32):
            key = ("closed", r["concurrency"], r["pinning"])
            title = "64 B, %d closed caller(s), %s" % (r["concurrency"], r["pinning"])
        elif r["mode"] == "open":
            key = ("open", r["rate"], r["pinning"])
            title = "64 B, open loop %.0f/s, %s" % (r["rate"], r["pinning"])
        else:
            continue
        if key not in seen:
            seen.add(key)
            panels.append((key, title))
    return panels


def matches(record, key):
    if record["workload"] != "echo" or record["payload_bytes"] != 64:
        return False
    if key[0] == "closed":
        return record["mode"] == "closed" and record["concurrency"] == key[1] and \
            record["pinning"] == key[2]
    return record["mode"] == "open" and record["rate"] == key[1] and record["pinning"] == key[2]


def echo_latency_cdf(doc, records, out_dir):
    panels = cdf_panels(records)
    if not panels:
        return
    columns = 2
    rows = (len(panels) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 3.6 * rows), squeeze=False)
    for index, (key, title) in enumerate(panels):
        ax = axes[index // columns][index % columns]
        for r in records:
            if not matches(r, key):
                continue
            curve = [(max(us, 0.1), pct / 100.0) for pct, us in r["latency_curve_us"]]
            ax.plot([c[0] for c in curve], [c[1] for c in curve], label=r["transport"],
                    color=COLORS[r["transport"]], drawstyle="steps-post")
        ax.set_xscale("log")
        ax.set_title(title)
        ax.set_xlabel("latency (µs)")
        ax.set_ylabel("fraction of calls ≤ latency")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    for index in range(len(panels), rows * columns):
        axes[index // columns][index % columns].axis("off")
    fig.suptitle("Echo latency CDFs (open loop: from intended send time) — " + subtitle(doc))
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(os.path.join(out_dir, "echo_latency_cdf.png"), dpi=110)
    plt.close(fig)


def grouped_bars(ax, labels, series, log=True):
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
        ax.bar(xs, values, width=width, label=name, color=COLORS.get(name))
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize="small")
    if log:
        ax.set_yscale("log")
    ax.grid(True, axis="y", which="both", alpha=0.3)


def echo_pipelined(doc, records, out_dir):
    piped = [r for r in records if r["group"] == "echo-pipelined"]
    if not piped:
        return
    shapes = []
    for r in piped:
        shape = (r["connections"], r["in_flight_per_connection"], r["pinning"])
        if shape not in shapes:
            shapes.append(shape)
    labels = ["%d conn × %d\n%s" % s for s in shapes]
    series = []
    for transport in transports(piped):
        values = []
        for shape in shapes:
            match = [r["qps"] for r in piped if r["transport"] == transport and
                     (r["connections"], r["in_flight_per_connection"], r["pinning"]) == shape]
            values.append(match[0] if match else 0)
        series.append((transport, values))
    fig, ax = plt.subplots(figsize=(2.2 * len(shapes) + 2, 4.2))
    grouped_bars(ax, labels, series)
    ax.axhline(1e6, color="black", linestyle="--", linewidth=0.8, label="1,000,000/s goal")
    ax.set_ylabel("calls/s (64 B echo)")
    ax.legend(fontsize="small")
    ax.set_title("Pipelined echo — " + subtitle(doc))
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(os.path.join(out_dir, "echo_pipelined_qps.png"), dpi=110)
    plt.close(fig)


def echo_pinning(doc, records, out_dir):
    points = [r for r in records if r["workload"] == "echo" and r["payload_bytes"] == 64 and
              r["mode"] == "closed" and r["concurrency"] in (1, 32)]
    if not points:
        return
    shapes = sorted({(r["concurrency"], r["pinning"]) for r in points})
    labels = ["%d caller(s)\n%s" % s for s in shapes]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.2))
    for ax, field, ylabel in ((left, "qps", "calls/s"), (right, "p50", "p50 latency (µs)")):
        series = []
        for transport in transports(points):
            values = []
            for shape in shapes:
                match = [r for r in points if r["transport"] == transport and
                         (r["concurrency"], r["pinning"]) == shape]
                value = 0
                if match:
                    value = match[0]["qps"] if field == "qps" else match[0]["latency_us"]["p50"]
                values.append(value)
            series.append((transport, values))
        grouped_bars(ax, labels, series)
        ax.set_ylabel(ylabel)
    left.legend(fontsize="small")
    fig.suptitle("64 B echo by pinning mode — " + subtitle(doc))
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(os.path.join(out_dir, "echo_pinning.png"), dpi=110)
    plt.close(fig)


def list_time(doc, records, out_dir):
    lists = [r for r in records if r["workload"] == "list"]
    if not lists:
        return
    sizes = sorted({r["entries"] for r in lists})
    series = []
    for transport in transports(lists):
        values = []
        for size in sizes:
            match = [r["latency_us"]["p50"] / 1000 for r in lists
                     if r["transport"] == transport and r["entries"] == size]
            values.append(match[0] if match else 0)
        series.append((transport, values))
    fig, ax = plt.subplots(figsize=(8, 4.2))
    grouped_bars(ax, ["%d entries" % s for s in sizes], series)
    ax.set_ylabel("p50 time per complete listing (ms)")
    ax.legend(fontsize="small")
    ax.set_title("ListDirectory, every page, vs local readdir+lstat — " + subtitle(doc))
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(os.path.join(out_dir, "list_time.png"), dpi=110)
    plt.close(fig)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    records = doc["records"]
    for chart in (echo_closed_qps, echo_latency_cdf, echo_pipelined, echo_pinning, list_time):
        chart(doc, records, out_dir)
    print("plot.py: charts in %s" % out_dir)


if __name__ == "__main__":
    main()
