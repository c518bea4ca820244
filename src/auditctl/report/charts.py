"""Small inline SVG charts for the HTML report: no scripts, no network, printable."""

from __future__ import annotations

from html import escape

CATEGORY_COLORS = {
    "authentication": "#2563eb", "user_management": "#7c3aed", "permission_change": "#db2777",
    "policy_change": "#dc2626", "privileged_action": "#ea580c", "data_access": "#0891b2",
    "system": "#64748b", "other": "#a8a29e",
}
W, H, LEFT, BOTTOM, TOP = 720, 240, 48, 40, 16


def _axis(max_value: int, title: str) -> list[str]:
    parts = [f'<text x="{LEFT}" y="12" class="ct">{escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - 8}" y2="{H - BOTTOM}" class="ax"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" class="ax"/>',
             f'<text x="{LEFT - 6}" y="{TOP + 8}" class="yl">{max_value:,}</text>',
             f'<text x="{LEFT - 6}" y="{H - BOTTOM}" class="yl">0</text>']
    return parts


def _x_labels(labels: list[str], step: float) -> list[str]:
    every = max(1, len(labels) // 8)
    out = []
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            x = LEFT + step * i + step / 2
            out.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 14}" class="xl">{escape(label)}</text>')
    return out


def stacked_bars(series: dict[str, dict[str, int]], title: str, colors: dict[str, str] | None = None) -> str:
    """Bars per x label (e.g. day), stacked by key (e.g. category)."""
    palette = colors or CATEGORY_COLORS
    labels = sorted(series)
    if not labels:
        return f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}: no data"></svg>'
    totals = [sum(series[x].values()) for x in labels]
    top = max(totals) or 1
    step = (W - LEFT - 8) / len(labels)
    bar = min(48.0, max(1.0, step * 0.7))
    plot_h = H - BOTTOM - TOP
    parts = _axis(top, title)
    keys = [k for k in palette if any(k in series[x] for x in labels)]
    keys += sorted({k for x in labels for k in series[x]} - set(keys))
    for i, x in enumerate(labels):
        y = float(H - BOTTOM)
        for k in keys:
            v = series[x].get(k, 0)
            if not v:
                continue
            h = plot_h * v / top
            y -= h
            parts.append(f'<rect x="{LEFT + step * i + (step - bar) / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{palette.get(k, "#94a3b8")}">'
                         f'<title>{escape(x)} {escape(k)}: {v:,}</title></rect>')
    parts += _x_labels(labels, step)
    legend_x = LEFT
    for k in keys:
        parts.append(f'<rect x="{legend_x}" y="{H - 14}" width="10" height="10" fill="{palette.get(k, "#94a3b8")}"/>'
                     f'<text x="{legend_x + 14}" y="{H - 5}" class="lg">{escape(k)}</text>')
        legend_x += 14 + 7 * len(k) + 12
    # inline SVG in HTML5 needs no namespace (and the report must hold no URL at all)
    return (f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">'
            + "".join(parts) + "</svg>")


def paired_bars(points: list[tuple[str, int, int]], names: tuple[str, str], title: str) -> str:
    """Two stacked series per x label, e.g. failures and successes per hour."""
    colors = {names[0]: "#dc2626", names[1]: "#16a34a"}
    return stacked_bars({label: {names[0]: a, names[1]: b} for label, a, b in points}, title, colors)
