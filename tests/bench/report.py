#!/usr/bin/env python3
"""Turn compare.json (from compare.sh) into a Markdown table and an SVG chart."""
import json
import sys
from html import escape

src, md_path, svg_path = sys.argv[1:4]
cli_path = sys.argv[4] if len(sys.argv) > 4 else None
ours, ref = json.load(open(src))
cli = json.load(open(cli_path)) if cli_path else None


def get(d, *path):
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d if isinstance(d, (int, float)) else None


# (label, unit, path, lower_is_better)
metrics = [
    ("Exec to ready", "ms", ("readyMs",), True),
    ("Idle RSS (all processes)", "MB", ("idleRssKb",), True),
    (f"RSS with {ours['many']:,} clients", "MB", ("rssManyKb",), True),
    (f"RSS with {ours['most']:,} clients", "MB", ("rssMostKb",), True),
    (f"Connect {ours['many']:,} clients", "s", ("connectManySeconds",), True),
    (f"Connect {ours['most']:,} clients", "s", ("connectMostSeconds",), True),
    ("health round trips/s (100 clients)", "/s", ("rps", "perSecond"), False),
    ("health p99 latency (100 clients)", "ms", ("rps", "p99Ms"), True),
    (f"Fan-out p50 to {ours['many']:,} clients", "ms", ("fanout", "p50Ms"), True),
    (f"Fan-out p99 to {ours['many']:,} clients", "ms", ("fanout", "p99Ms"), True),
    (f"Fan-out p50 to {ours['most']:,} clients", "ms", ("fanoutMost", "p50Ms"), True),
    (f"Fan-out p99 to {ours['most']:,} clients", "ms", ("fanoutMost", "p99Ms"), True),
    ("Flood with a stalled reader: system-events answered/s", "/s", ("flood", "perSecond"), False),
    ("Flood: RSS growth at peak", "MB", ("flood", "growthKb"), True),
    ("Flood: RSS after, above before", "MB", ("flood", "leftKb"), True),
    ("CPU seconds used (whole run)", "s", ("cpuSeconds",), True),
]

for side in (ours, ref):
    f = side.get("flood") or {}
    if all(isinstance(f.get(k), (int, float)) for k in ("rssBeforeKb", "rssPeakKb", "rssAfterKb")):
        f["growthKb"] = max(f["rssPeakKb"] - f["rssBeforeKb"], 0)
        f["leftKb"] = max(f["rssAfterKb"] - f["rssBeforeKb"], 0)


def scaled(value, unit, path):
    if value is None:
        return None
    return value / 1024 if unit == "MB" and path[-1].endswith("Kb") else value


def fmt(value, unit):
    if value is None:
        return "failed"
    if unit == "/s":
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}"


rows = []
for label, unit, path, lower in metrics:
    a = scaled(get(ours, *path), unit, path)
    b = scaled(get(ref, *path), unit, path)
    ratio = None
    if a and b:
        ratio = b / a if lower else a / b
    rows.append((label, unit, a, b, ratio, lower))

lines = [
    "| metric | ours | reference | ours is better by |",
    "|---|---:|---:|---:|",
]
if cli:
    a, b = cli.get("oursMedianMs"), cli.get("referenceMedianMs")
    rows.append(("`openclaw gateway call health`, end to end (median)", "ms", a, b, (b / a) if a and b else None, True))
for label, unit, a, b, ratio, _ in rows:
    r = f"{ratio:,.1f}×" if ratio else "n/a"
    lines.append(f"| {label} | {fmt(a, unit)} | {fmt(b, unit)} | {r} |")
missing = [get(ours, "fanout", "missing"), get(ref, "fanout", "missing")]
missing_most = [get(ours, "fanoutMost", "missing"), get(ref, "fanoutMost", "missing")]
lines.append("")
lines.append(
    f"Fan-out deliveries missing (not received within 30 s): to {ours['many']:,} clients ours {missing[0]}, "
    f"reference {missing[1]}; to {ours['most']:,} clients ours {missing_most[0]}, reference {missing_most[1]}."
)
lines.append("")
lines.append(
    f"Clients: loadgen's `{ours.get('mix', 'cli')}` mix (40 % SDK backends `gateway-client`/`backend`, 30 % "
    "`cli`, 20 % webchat pages `webchat`/`webchat` (with `Origin`), 10 % `node-host`/`node`; instance ids on all "
    "but the CLIs). Fan-out counts the clients the gateway sends presence to "
    f"(ours {get(ours, 'fanout', 'receivers')}, reference {get(ref, 'fanout', 'receivers')} of {ours['many']:,}). "
    f"Flood: {get(ours, 'flood', 'events')} system-events, 4 KB texts, 150 instance ids, one client not reading."
)
open(md_path, "w").write("\n".join(lines) + "\n")

# SVG: one group per metric, "ours is better by N×" on a log scale.
import math

width, row_h, left = 900, 34, 400
height = 60 + row_h * len(rows)
max_log = max([math.log10(r) for *_, r, _ in rows if r and r > 1] + [1])
svg = [
    f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">',
    f'<rect width="{width}" height="{height}" fill="white"/>',
    '<text x="10" y="24" font-size="16" font-weight="bold">Ours vs the reference gateway, same machine, one run: times better</text>',
]
for i, (label, unit, a, b, ratio, lower) in enumerate(rows):
    y = 50 + i * row_h
    svg.append(f'<text x="10" y="{y + 17}">{escape(label)}</text>')
    if ratio and ratio > 0:
        bar = max(2, (width - left - 90) * max(math.log10(ratio), 0.02) / max_log) if ratio > 1 else 2
        color = "#2b8a3e" if ratio >= 1 else "#c92a2a"
        svg.append(f'<rect x="{left}" y="{y + 4}" width="{bar:.1f}" height="{row_h - 12}" fill="{color}"/>')
        svg.append(f'<text x="{left + bar + 6:.1f}" y="{y + 17}">{ratio:,.1f}×</text>')
    else:
        svg.append(f'<text x="{left}" y="{y + 17}" fill="#888">n/a</text>')
svg.append("</svg>")
open(svg_path, "w").write("\n".join(svg) + "\n")
