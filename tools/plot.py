#!/usr/bin/python3
"""Pictures of a tern run directory, drawn with matplotlib.

    tools/plot.py RUN_DIR [RUN_DIR ...] [--out DIR]

For each RUN_DIR it draws what the directory holds, into RUN_DIR/plots/ (or --out):

  metrics.csv      (tern train)      training.png: train and val loss against step and against tokens,
                                     the learning rate, tokens/s
                   (tern quantize)   qat.png: the same for the QAT steps, with the val losses before
                                     and after
  layer_stats.json (tern quantize)   histograms.png: each BitLinear layer's latent weight histogram
                                     before ternarization, with the cut below which |w| becomes 0;
                                     layers.png: sparsity and scale per layer;
                                     layers/<name>.png: one histogram per layer

Tokens per step come from the run's checkpoint/tern_state.json (batch x block x grad-accum) or, for QAT,
from phase4_config.json and quantize_report.json. It needs matplotlib (Debian: python3-matplotlib, which
./run installs); it runs under /usr/bin/python3, where Debian puts that package.
"""

import argparse
import csv
import json
import math
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot.py: needs matplotlib (Debian: sudo apt-get install python3-matplotlib; it runs under "
             "/usr/bin/python3)")

TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#d62728"
CUT_COLOR = "#d62728"


def fail(msg):
    sys.exit(f"plot.py: {msg}")


def read_csv(path):
    """The rows of a metrics CSV as dicts of floats (None for an empty field)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "step" not in reader.fieldnames:
            fail(f"{path}: no 'step' column in the header")
        rows = []
        for line, r in enumerate(reader, start=2):
            try:
                rows.append({k: (float(v) if v not in (None, "") else None) for k, v in r.items()})
            except ValueError as e:
                fail(f"{path}:{line}: {e}")
    return rows


def column(rows, key):
    """(steps, values) for the rows where `key` has a value."""
    pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def ema(values, alpha):
    out, m = [], None
    for v in values:
        m = v if m is None else alpha * m + (1 - alpha) * v
        out.append(m)
    return out


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def train_tokens_per_step(run):
    for p in (os.path.join(run, "checkpoint", "tern_state.json"), os.path.join(run, "tern_state.json")):
        st = read_json(p)
        if st and "options" in st:
            o = st["options"]
            try:
                return int(o["batch"]) * int(o["block"]) * int(o.get("grad-accum", 1))
            except (KeyError, TypeError, ValueError):
                pass
    return None


def qat_tokens_per_step(run):
    cfg = read_json(os.path.join(run, "phase4_config.json"))
    rep = read_json(os.path.join(run, "quantize_report.json"))
    if cfg and rep and "qat_batch_size" in cfg and "eval_block" in rep:
        return int(cfg["qat_batch_size"]) * int(rep["eval_block"])
    return None


def human(n):
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:g}{suffix}"
    return f"{n:g}"


def save(fig, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=90, pil_kwargs={"optimize": True})
    plt.close(fig)
    print(f"wrote {path}")


def loss_axes(ax, rows, xscale, xlabel):
    steps, train = column(rows, "train_loss")
    if train:
        x = [s * xscale for s in steps]
        ax.plot(x, train, color=TRAIN_COLOR, alpha=0.25, linewidth=0.8)
        ax.plot(x, ema(train, 0.9), color=TRAIN_COLOR, linewidth=1.5, label="train (EMA 0.9)")
    vsteps, val = column(rows, "val_loss")
    if val:
        ax.plot([s * xscale for s in vsteps], val, "o-", color=VAL_COLOR, markersize=3.5, linewidth=1.5,
                label="val")
        ax.annotate(f"{val[-1]:.4f}", (vsteps[-1] * xscale, val[-1]), textcoords="offset points",
                    xytext=(-4, 8), ha="right", color=VAL_COLOR, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def report_lines(ax, run):
    """The val losses of quantize_report.json (a tern quantize directory) as horizontal lines."""
    rep = read_json(os.path.join(run, "quantize_report.json")) or {}
    for key, label, style in (("val_loss_fp32", "fp32 (Phase 3)", ":"),
                              ("val_loss_converted", "converted, no fine-tune", "--"),
                              ("val_loss_qat", "after QAT", "-")):
        v = rep.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            ax.axhline(v, color="gray", linestyle=style, linewidth=1, label=f"val, {label}: {v:.4f}")
    ax.legend(fontsize=8)


def plot_training(run, out, png="training.png", title="tern train"):
    rows = read_csv(os.path.join(run, "metrics.csv"))
    if not rows:
        print(f"{run}/metrics.csv has no rows yet; nothing to draw")
        return
    tps = train_tokens_per_step(run) or qat_tokens_per_step(run)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    loss_axes(axes[0][0], rows, 1, "step")
    axes[0][0].set_title("loss against step")
    if os.path.isfile(os.path.join(run, "quantize_report.json")):
        report_lines(axes[0][0], run)
    if tps:
        loss_axes(axes[0][1], rows, tps, f"tokens ({tps:,} per step)")
        axes[0][1].xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: human(v)))
        axes[0][1].set_title("loss against tokens")
    else:
        axes[0][1].text(0.5, 0.5, "tokens per step unknown\n(no checkpoint/tern_state.json or phase4_config.json)",
                        ha="center", va="center", transform=axes[0][1].transAxes)
        axes[0][1].set_axis_off()
    steps, lr = column(rows, "lr")
    axes[1][0].plot(steps, lr, color="#2ca02c")
    axes[1][0].set_title("learning rate")
    axes[1][0].set_xlabel("step")
    axes[1][0].ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    axes[1][0].grid(alpha=0.3)
    steps, rate = column(rows, "tokens_per_s")
    ax = axes[1][1]
    if rate:
        ax.plot(steps, rate, color="#9467bd", alpha=0.3, linewidth=0.8)
        ax.plot(steps, ema(rate, 0.9), color="#9467bd", linewidth=1.5, label="EMA 0.9")
        med = sorted(rate)[len(rate) // 2]
        ax.axhline(med, color="gray", linestyle="--", linewidth=1, label=f"median {med:,.0f}")
        ax.legend(fontsize=8)
    ax.set_title("throughput (tokens/s)")
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    fig.suptitle(f"{title}: {os.path.basename(os.path.abspath(run))}")
    fig.tight_layout()
    save(fig, os.path.join(out, png))


def draw_histogram(ax, layer, title_size=9, legend=True):
    h = layer["histogram"]
    counts = h["counts"]
    lo, hi = h["lo"], h["hi"]
    width = (hi - lo) / len(counts)
    cut = layer["cut"]
    centers = [lo + (i + 0.5) * width for i in range(len(counts))]
    colors = ["#bbbbbb" if abs(c) < cut else TRAIN_COLOR for c in centers]
    ax.bar(centers, counts, width=width, color=colors, linewidth=0)
    if cut > 0:
        for x in (-cut, cut):
            ax.axvline(x, color=CUT_COLOR, linewidth=1.2)
    for x in (-layer["scale"], layer["scale"]):
        ax.axvline(x, color="black", linestyle=":", linewidth=1)
    tau = layer.get("weight_sparsity_threshold")
    mode = f"τ = {tau:g}" if tau is not None else "absmean"
    ax.set_title(f"{layer['name']} {tuple(layer['shape'])}", fontsize=title_size)
    ax.tick_params(labelsize=7)
    if legend:
        ax.plot([], [], color=CUT_COLOR, label=f"cut ±{cut:.3g} ({mode}): {layer['sparsity']:.1%} → 0")
        ax.plot([], [], color="black", linestyle=":", label=f"scale ±{layer['scale']:.3g}")
        ax.legend(fontsize=7, loc="upper right")
    outside = h.get("below", 0) + h.get("above", 0)
    if outside:
        ax.text(0.01, 0.97, f"{outside} beyond ±{hi:.3g}", transform=ax.transAxes, fontsize=6, va="top",
                color="gray")


def plot_layers(run, out):
    doc = read_json(os.path.join(run, "layer_stats.json"))
    if doc is None or doc.get("format") != "tern-layer-stats":
        fail(f"{run}/layer_stats.json is missing or not a tern layer-stats file")
    layers = doc["layers"]
    if not layers:
        print(f"{run}/layer_stats.json lists no BitLinear layer; nothing to draw")
        return
    name = os.path.basename(os.path.abspath(run))

    # One histogram per layer.
    for layer in layers:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        draw_histogram(ax, layer, title_size=10)
        ax.set_xlabel("latent weight w (before ternarization)")
        ax.set_ylabel("count")
        fig.tight_layout()
        save(fig, os.path.join(out, "layers", layer["name"] + ".png"))

    # All of them on one page.
    cols = min(4, len(layers))
    rows = math.ceil(len(layers) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for i, ax in enumerate(ax for row in axes for ax in row):
        if i < len(layers):
            draw_histogram(ax, layers[i], title_size=8, legend=False)
            ax.set_yticks([])
        else:
            ax.set_axis_off()
    fig.suptitle(f"{name}: latent weights before ternarization; red: the cut (|w| below it → 0), "
                 "dotted: ± scale", fontsize=10)
    fig.tight_layout()
    save(fig, os.path.join(out, "histograms.png"))

    # Sparsity and scale per layer.
    names = [l["name"] for l in layers]
    x = range(len(layers))
    fig, (a, b) = plt.subplots(2, 1, figsize=(max(6.4, 0.45 * len(layers) + 2), 6), sharex=True)
    a.bar(x, [100 * l["sparsity"] for l in layers], color="#7f7f7f")
    a.set_ylabel("zeros (%)")
    a.set_title("sparsity per BitLinear layer")
    a.grid(axis="y", alpha=0.3)
    b.bar(x, [l["scale"] for l in layers], color=TRAIN_COLOR, label="scale (ternary ±1 → ±scale)")
    b.plot(list(x), [l["mean_abs"] for l in layers], "o", color="black", markersize=4, label="mean |w|")
    b.set_ylabel("value")
    b.set_title("scale per BitLinear layer")
    b.legend(fontsize=8)
    b.grid(axis="y", alpha=0.3)
    b.set_xticks(list(x))
    b.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    fig.suptitle(f"tern quantize: {name}")
    fig.tight_layout()
    save(fig, os.path.join(out, "layers.png"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="a `tern train --out` directory or a `tern quantize --out` directory")
    p.add_argument("--out", help="where the PNGs go (default RUN_DIR/plots; with several runs, one folder each)")
    args = p.parse_args()
    for run in args.runs:
        if not os.path.isdir(run):
            fail(f"{run}: no such directory")
        out = args.out if args.out and len(args.runs) == 1 else os.path.join(
            args.out, os.path.basename(os.path.abspath(run))) if args.out else os.path.join(run, "plots")
        found = False
        quantized = os.path.isfile(os.path.join(run, "quantize_report.json"))
        if os.path.isfile(os.path.join(run, "metrics.csv")):
            # A tern quantize directory whose QAT wrote the training columns is drawn as a run, named qat.png.
            plot_training(run, out, *(("qat.png", "tern quantize (QAT)") if quantized else ()))
            found = True
        if os.path.isfile(os.path.join(run, "layer_stats.json")):
            plot_layers(run, out)
            found = True
        if not found:
            fail(f"{run}: no metrics.csv or layer_stats.json (is it a tern train or tern "
                 "quantize output directory?)")


if __name__ == "__main__":
    main()
