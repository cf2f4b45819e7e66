#!/usr/bin/env python3
"""Line charts as standalone SVG, with no plotting library (only python3 is installed).

  plot.py OUT.svg --title T --x-label X --y-label Y [--log-x] [--log-y] SERIES.json

SERIES.json: [{"name": "...", "points": [[x, y], ...]}, ...]
"""
import argparse
import json
import math

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def ticks(lo, hi, log):
    if log:
        a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        return [10 ** e for e in range(a, b + 1)]
    span = hi - lo or 1
    step = 10 ** math.floor(math.log10(span / 5))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= 6:
            step *= m
            break
    first = math.floor(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 2)]


def fmt(v):
    if v == 0:
        return "0"
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return ("%g" % (v / div)) + unit
    return "%g" % v


def render(series, title, xlabel, ylabel, log_x=False, log_y=False, width=640, height=400):
    left, right, top, bottom = 70, 170, 40, 50
    xs = [p[0] for s in series for p in s["points"]]
    ys = [p[1] for s in series for p in s["points"]]
    xlo, xhi = min(xs), max(xs)
    ylo, yhi = (min(ys), max(ys)) if log_y else (0, max(ys) * 1.1 or 1)
    xt, yt = ticks(xlo, xhi, log_x), ticks(ylo, yhi, log_y)
    xlo, xhi = min(xlo, xt[0]), max(xhi, xt[-1])
    ylo, yhi = min(ylo, yt[0]), max(yhi, yt[-1])

    def sx(x):
        t = (math.log10(x) - math.log10(xlo)) / (math.log10(xhi) - math.log10(xlo)) if log_x \
            else (x - xlo) / ((xhi - xlo) or 1)
        return left + t * (width - left - right)

    def sy(y):
        t = (math.log10(y) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)) if log_y \
            else (y - ylo) / ((yhi - ylo) or 1)
        return height - bottom - t * (height - top - bottom)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>' % (left, title)]
    for x in xt:
        if xlo <= x <= xhi:
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>'
                       % (sx(x), top, sx(x), height - bottom))
            out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                       % (sx(x), height - bottom + 16, fmt(x)))
    for y in yt:
        if ylo <= y <= yhi:
            out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>'
                       % (left, sy(y), width - right, sy(y)))
            out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                       % (left - 6, sy(y) + 4, fmt(y)))
    out.append('<text x="%d" y="%d" text-anchor="middle">%s</text>'
               % ((left + width - right) / 2, height - 12, xlabel))
    out.append('<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">%s</text>'
               % ((top + height - bottom) / 2, ylabel))
    for i, s in enumerate(series):
        color = COLORS[i % len(COLORS)]
        pts = sorted(s["points"])
        path = " ".join("%.1f,%.1f" % (sx(x), sy(y)) for x, y in pts)
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                   % (color, path))
        for x, y in pts:
            out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (sx(x), sy(y), color))
        ly = top + 10 + 18 * i
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                   % (width - right + 12, ly, width - right + 32, ly, color))
        out.append('<text x="%d" y="%d">%s</text>' % (width - right + 38, ly + 4, s["name"]))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("series")
    ap.add_argument("--title", default="")
    ap.add_argument("--x-label", default="")
    ap.add_argument("--y-label", default="")
    ap.add_argument("--log-x", action="store_true")
    ap.add_argument("--log-y", action="store_true")
    a = ap.parse_args()
    with open(a.series) as f:
        series = json.load(f)
    with open(a.out, "w") as f:
        f.write(render(series, a.title, a.x_label, a.y_label, a.log_x, a.log_y))


if __name__ == "__main__":
    main()
