"""Comparison figures from a folder of run JSONs, drawn with matplotlib's Agg canvas (no pyplot,
so importing this module changes no global matplotlib state), as PNG, PDF or SVG.

    python -m benchmark plot results/runs/glue-small --out results/figures   # PNGs
    python -m benchmark plot results/runs/glue-small --format pdf --strategies finetune,ewc,replay

The default output folder is ./figures (never inside the folder read, unless --out says so).
One set of figures per setting (stream, scenario, task set, model and training protocol, as the
leaderboard groups runs), one colour per strategy config across all of them:

    heatmap_<setting>     R of each strategy: mean over the seeds of the setting's reference task
                          order, every cell annotated (score x100)
    stream_<setting>      each task's score after each step of the stream: one panel per
                          strategy, shared axes, a line per task and the average over tasks seen
                          with its interval band (`--layout tasks`: a panel per task instead)
    forgetting_<setting>  forgetting per strategy, mean over seeds and orders, interval bars, the
                          values in a column beside the bars
    pareto_<setting>      final (or normalised) average score against what a strategy keeps per
                          task: parameters added per task + (state floats + replay memory as
                          token ids) / tasks, log x; joint and independent as reference lines
    paired_<setting>      with --baseline STRATEGY: each strategy's final average and forgetting
                          minus the baseline's, paired by seed and order, mean and interval over
                          the pairs (a filled dot: the 95% CI excludes 0)

`--per-run` adds heatmap_run_<run id> for every run. Intervals are Student-t 95% intervals of the
mean over runs (seeds x orders), or ±1 standard error (`--interval se`); a group of one run has
none, and the captions say so.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from benchmark.config import model_name
from benchmark.formatting import count, half_width, interval_half_width, mean_std, missing
from benchmark.metrics import as_array, average_curve
from benchmark.runs import SETTING_DEFAULTS, SETTING_KEYS, complete_runs, setting_keys

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
INTERVALS = {"ci95": "95% CI over {over}, Student t", "se": "±1 standard error over {over}"}
OVER_RUNS = "runs (seeds x orders)"
FORMATS = ("png", "pdf", "svg")
# Not continual learners but reference points: joint trains on every task at once (it keeps all
# the data), independent trains a model per task. They are drawn as lines, off the Pareto front.
REFERENCES = ("joint", "independent")
METRIC_LABELS = {"final_average": "final average score x100",
                 "normalised_average": "normalised average x100\n(0: majority class, 100: single-task)"}


def _mean_interval(stack: np.ndarray, interval: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and interval half-width along axis 0, ignoring NaN."""
    n = np.sum(np.isfinite(stack), axis=0)
    mean = np.where(n > 0, np.nansum(stack, axis=0) / np.maximum(n, 1), np.nan)
    dev = np.where(np.isfinite(stack), stack - mean, 0.0)
    sd = np.sqrt(np.sum(dev**2, axis=0) / np.maximum(n - 1, 1))
    return mean, half_width(sd, n, interval)


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    """Write in the format the suffix names, without a creation date, so the same runs give the
    same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".")
    metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt, {})
    fig.savefig(path, dpi=130, format=fmt, metadata=metadata)
    return path


def _interval_caption(ns: Sequence[int], interval: str, what: str = "error bars") -> str:
    """What the marks mean: a mean over n runs with an interval, or one run without one."""
    if max(ns, default=1) <= 1:
        return "one run per strategy: no interval"
    over = f"{ns[0]} runs each" if len(set(ns)) == 1 else "n runs"
    caption = f"mean over {over}; {what}: {INTERVALS[interval].format(over=OVER_RUNS)}"
    return caption + ("; n = 1: one run, no interval" if min(ns) <= 1 else "")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def _styles(labels: Sequence[str]) -> dict[str, tuple[tuple[float, float, float], str]]:
    """A fixed colour and marker per strategy label, the same in every figure."""
    from matplotlib import colormaps

    names = sorted(set(labels))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: (to_rgb(cmap(i % cmap.N)), MARKERS[i % len(MARKERS)]) for i, name in enumerate(names)}


def _setting_title(row: pd.Series, extra: Sequence[str] = ()) -> str:
    caps = f"{_fmt_cap(row['max_train'])}/{_fmt_cap(row['max_eval'])} train/test per task"
    shown = [f"{k}={row[k]}" for k in extra if not pd.isna(row[k]) and row[k] != SETTING_DEFAULTS.get(k)]
    return (f"{row['stream']} ({row['scenario']}), {model_name(row['model'])}; {caps}, "
            f"{_fmt_cap(row['epochs'])} epoch(s)" + "".join(f", {s}" for s in shown))


def _fmt_cap(v: object) -> str:
    return "all" if missing(v) else f"{int(v):,}"


def _reference_order(df: pd.DataFrame) -> str:
    """The task order with the most runs (the stream's default order first on a tie)."""
    counts = df.groupby("task_order").agg(n=("run_id", "size"),
                                          default=("order", lambda s: (s == "default").any()))
    counts = counts.reset_index().sort_values(["n", "default", "task_order"],
                                              ascending=[False, False, True])
    return counts["task_order"].iloc[0]


def _reference_runs(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The runs of the reference task order, and that order."""
    ref = _reference_order(df)
    return df[df["task_order"] == ref], ref.split(",")


def _step_labels(tasks: Sequence[str]) -> list[str]:
    return [f"{i}: {t}" for i, t in enumerate(tasks, 1)]


def _row_labels(record: dict) -> list[str]:
    def label(tasks: list[str]) -> str:
        if len(tasks) == len(record["tasks"]) > 1:
            return f"all {len(tasks)} tasks"
        return "+".join(tasks) if len(tasks) <= 2 else f"{tasks[0]}+{len(tasks) - 1} more"

    return [label(p["tasks"]) for p in record["phases"]]


# -- figures ----------------------------------------------------------------------------------------
def _heatmap_panel(ax, R: np.ndarray, rows: list[str], cols: list[str], title: str,
                   vmin: float, vmax: float):
    from matplotlib import colormaps

    cmap = colormaps["viridis"].with_extremes(bad="0.92")
    im = ax.imshow(np.ma.masked_invalid(R * 100), cmap=cmap, vmin=vmin * 100, vmax=vmax * 100, aspect="auto")
    digits = 1 if len(cols) <= 6 else 0
    size = 9 if len(cols) <= 4 else (8 if len(cols) <= 6 else 6.5)
    for i in range(R.shape[0]):
        for j in range(R.shape[1]):
            if np.isfinite(R[i, j]):
                r, g, b, _ = cmap((R[i, j] - vmin) / max(vmax - vmin, 1e-9))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                ax.text(j, i, f"{R[i, j] * 100:.{digits}f}", ha="center", va="center", fontsize=size,
                        color="white" if dark else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [f"after {r}" for r in rows], fontsize=8)
    ax.set_xlabel("task evaluated", fontsize=8)
    ax.set_title(title, fontsize=9)
    return im


def _limits(mats: list[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate([m[np.isfinite(m)] for m in mats]) if mats else np.array([])
    if not len(values):
        return 0.0, 1.0
    return min(0.0, float(values.min())), max(1.0, float(values.max()))


def plot_heatmaps(df: pd.DataFrame, path: Path, title: str) -> Path:
    """One panel per strategy config: R averaged over its runs on the reference order."""
    ref = _reference_order(df)
    panels = []
    for config, sub in df.groupby("config", sort=False):
        order = ref if (sub["task_order"] == ref).any() else _reference_order(sub)
        runs = sub[sub["task_order"] == order]
        first = runs["record"].iloc[0]
        Rs = [R for R in runs["R"] if R.shape == runs["R"].iloc[0].shape]  # a partial plan cannot average
        mean = _mean_interval(np.stack(Rs), "se")[0]
        label = f"{config}\n(mean of {len(Rs)} run{'s' * (len(Rs) > 1)})"
        panels.append((mean, _row_labels(first), first["tasks"], label))
    vmin, vmax = _limits([p[0] for p in panels])
    # about 3:2 landscape in panels (23 strategies: 6 x 4), at least 3 columns: a page, not a scroll
    ncols = min(len(panels), max(3, math.ceil(math.sqrt(1.5 * len(panels)))))
    nrows = -(-len(panels) // ncols)
    tasks = max(len(p[2]) for p in panels)
    phases = max(len(p[1]) for p in panels)
    cell = 0.55 if tasks <= 6 else 0.42
    fig = _new_figure(max(6.5, ncols * (tasks * cell + 1.9) + 0.8), nrows * (phases * cell + 1.9) + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    im = None
    for ax, (R, rows, cols, label) in zip(axes.flat, panels):
        im = _heatmap_panel(ax, R, rows, cols, label, vmin, vmax)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.colorbar(im, ax=axes, shrink=0.8 if nrows <= 2 else 0.5, aspect=25, label="score x100 (grey: not evaluated)")
    fig.suptitle(f"Score on each task (columns) after each training phase (rows)\n{title}\n"
                 "each panel: mean over the seeds of the most common task order", fontsize=9)
    return _save(fig, path)


def plot_run_heatmap(record: dict, path: Path) -> Path:
    R = as_array(record["R"])
    vmin, vmax = _limits([R])
    fig = _new_figure(len(record["tasks"]) * 0.6 + 3.2, len(R) * 0.55 + 2.0)
    ax = fig.subplots()
    run = record["run"]
    im = _heatmap_panel(ax, R, _row_labels(record), record["tasks"],
                        f"{run['strategy']}, seed {run['seed']}, order {run.get('order')}", vmin, vmax)
    fig.colorbar(im, ax=ax, label="score x100")
    fig.suptitle(f"{run['stream']}, {model_name(run['model'])}: {record['run_id']}", fontsize=8)
    return _save(fig, path)


def _stream_curves(runs: pd.DataFrame, T: int) -> np.ndarray:
    """Scores x100 per run, panel (each task, then the average over tasks seen) and x, where x of
    a phase is how many tasks have been trained after it (joint training: all of them)."""
    curves = np.full((len(runs), T + 1, T), np.nan)
    for k, (R, rec) in enumerate(zip(runs["R"], runs["record"])):
        learned = rec["learned_in_phase"]
        avg = average_curve(rec["R"], learned)
        for p in range(len(R)):
            x = sum(1 for lj in learned if lj <= p) - 1
            curves[k, :T, x] = R[p]
            curves[k, T, x] = np.nan if avg[p] is None else avg[p]
    return curves * 100


def plot_stream_by_strategy(df: pd.DataFrame, path: Path, title: str, interval: str = "ci95") -> Path | None:
    """Small multiples: a panel per strategy, shared axes; in each, every task's score after each
    step of the reference order (thin lines, a colour per task, means over seeds) and the average
    over the tasks seen so far (thick, with its interval band)."""
    from matplotlib import colormaps

    sub, tasks = _reference_runs(df)
    T = len(tasks)
    groups = [(c, g) for c, g in sub.groupby("config", sort=False)]
    if not groups:
        return None
    task_colours = [colormaps["tab10"](j % 10) for j in range(T)]
    ncols = min(5, len(groups))
    nrows = -(-len(groups) // ncols)
    fig = _new_figure(2.75 * ncols + 0.4, 2.15 * nrows + 1.3)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    x_all = np.arange(1, T + 1)
    drawn, ns = [], []
    for ax, (config, runs) in zip(axes.flat, groups):
        curves = _stream_curves(runs, T)
        mean, half = _mean_interval(curves, interval)
        ns.append(len(runs))
        for j in range(T):
            ok = np.isfinite(mean[j])
            ax.plot(x_all[ok], mean[j][ok], color=task_colours[j], marker="o", ms=2.5, lw=1.1)
            drawn += list(mean[j][ok])
        ok = np.isfinite(mean[T])
        band = ok & np.isfinite(half[T])
        if band.sum() > 1:
            ax.fill_between(x_all[band], (mean[T] - half[T])[band], (mean[T] + half[T])[band],
                            color="0.2", alpha=0.15, lw=0)
        elif band.any():  # joint training: one point, an error bar
            ax.errorbar(x_all[band], mean[T][band], yerr=half[T][band], color="0.1", capsize=3, lw=1)
        ax.plot(x_all[ok], mean[T][ok], color="0.1", marker="s", ms=3.5, lw=2.2)
        drawn += list(mean[T][ok])
        ax.set_title(f"{config} (n={len(runs)})", fontsize=7.5)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xticks(x_all, _step_labels(tasks), rotation=35, ha="right")
        ax.xaxis.set_tick_params(labelbottom=True)
    for k, ax in enumerate(axes.flat):  # the last row may be short: label the panels above it
        if ax.get_visible() and k + ncols >= len(groups):
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xticks(x_all, _step_labels(tasks), rotation=35, ha="right")
    if drawn:
        lo, hi = min(drawn), max(drawn)
        pad = max(3.0, 0.06 * (hi - lo))
        axes[0, 0].set_ylim(lo - pad, hi + pad)
    axes[0, 0].set_xlim(0.7, T + 0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("score x100", fontsize=8)
    handles = [Line2D([], [], color=task_colours[j], marker="o", ms=3, lw=1.1, label=t)
               for j, t in enumerate(tasks)]
    what = "band" if max(ns) > 1 else ""
    handles.append(Line2D([], [], color="0.1", marker="s", ms=3.5, lw=2.2,
                          label="average over tasks seen" + (f" ({what}: interval, see title)" if what else "")))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(T + 1, 6), fontsize=8,
               title="task (mean over the runs of the reference order)", title_fontsize=8)
    fig.suptitle("Score of each task along the stream, one panel per strategy (x: tasks trained so far)\n"
                 f"{title}\n{_interval_caption(ns, interval, 'band on the average')}", fontsize=9)
    return _save(fig, path)


def plot_stream_by_task(df: pd.DataFrame, path: Path, title: str, styles: dict,
                        interval: str = "ci95") -> Path | None:
    """A panel per task (and one for the average over seen tasks): its score after each step of
    the reference order, one line per strategy with an interval band over seeds. Readable for a
    few strategies (`--strategies`)."""
    sub, tasks = _reference_runs(df)
    T = len(tasks)
    names = [*tasks, "average over tasks seen"]
    ncols = min(3, len(names))
    nrows = -(-len(names) // ncols)
    fig = _new_figure(4.2 * ncols, 3.0 * nrows + 0.9)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    x_all = np.arange(1, T + 1)
    handles = []
    means = [[] for _ in range(T + 1)]  # every mean drawn in each panel, for its y-limits
    for config, runs in sub.groupby("config", sort=False):
        colour, marker = styles[config]
        curves = _stream_curves(runs, T)  # run, panel, x
        mean, half = _mean_interval(curves, interval)
        for j, ax in enumerate(axes.flat[: T + 1]):
            ok = np.isfinite(mean[j])
            if not ok.any():
                continue
            means[j] += list(mean[j][ok])
            ax.plot(x_all[ok], mean[j][ok], color=colour, marker=marker, markersize=4, lw=1.6)
            band = ok & np.isfinite(half[j])
            if band.sum() == 1:  # a lone point (joint training) gets an error bar instead of a band
                ax.errorbar(x_all[band], mean[j][band], yerr=half[j][band], color=colour, capsize=3, lw=1)
            elif band.any():
                lo, hi = (mean[j] - half[j])[band], (mean[j] + half[j])[band]
                ax.fill_between(x_all[band], lo, hi, color=colour, alpha=0.12, lw=0)
                for edge in (lo, hi):  # edges keep overlapping bands apart
                    ax.plot(x_all[band], edge, color=colour, lw=0.7, alpha=0.6, ls="--")
        handles.append(Line2D([], [], color=colour, marker=marker, lw=1.6, label=f"{config} (n={len(runs)})"))
    if not handles:
        return None
    for j, ax in enumerate(axes.flat):
        if j > T:
            ax.set_visible(False)
            continue
        ax.set_title(names[j] if j == T else f"{names[j]} (trained at step {j + 1})", fontsize=9)
        if j < T:
            ax.axvline(j + 1, color="0.6", ls=":", lw=1)
        ax.set_xticks(x_all, _step_labels(tasks), rotation=30, ha="right",
                      fontsize=7)
        ax.set_xlim(0.7, T + 0.3)
        ax.set_ylabel("score x100", fontsize=8)
        ax.grid(alpha=0.3)
        if means[j]:  # limits from the means: a wide band from two or three seeds runs off the panel
            lo, hi = min(means[j]), max(means[j])
            pad = max(5.0, 0.3 * (hi - lo))
            ax.set_ylim(lo - pad, hi + pad)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)), fontsize=8,
               title=f"strategy (n = runs; band: {INTERVALS[interval].format(over='seeds')})",
               title_fontsize=8)
    fig.suptitle(f"Score of each task along the stream (x: tasks trained so far, reference order)\n{title}",
                 fontsize=10)
    return _save(fig, path)


def plot_forgetting(df: pd.DataFrame, path: Path, title: str, styles: dict,
                    interval: str = "ci95") -> Path:
    return _save(forgetting_figure(df, title, styles, interval), path)


def forgetting_figure(df: pd.DataFrame, title: str, styles: dict, interval: str = "ci95") -> Figure:
    """Forgetting per strategy config, horizontal bars (best at the top) with interval error bars;
    each value is written in a column right of the axes, where it cannot read as a bar's bound."""
    stats = []
    for config, g in df.groupby("config", sort=False):
        values = g["forgetting"] * 100
        stats.append((config, values.mean(), interval_half_width(list(values), interval), len(g)))
    stats.sort(key=lambda s: (np.isnan(s[1]), s[1]))
    fig = _new_figure(7.2, 0.26 * len(stats) + 1.9)
    ax = fig.subplots()
    ys = np.arange(len(stats))
    for y, (config, mean, half, _n) in zip(ys, stats):
        if np.isnan(mean):
            text = "n/a (one phase)"
        else:
            ax.barh(y, mean, color=styles[config][0], height=0.65,
                    xerr=None if np.isnan(half) else half, capsize=3,
                    error_kw={"lw": 1, "ecolor": "0.25"})
            text = mean_std(mean, half, scale=1)
        ax.annotate(text, (1.02, y), xycoords=("axes fraction", "data"), fontsize=7.5,
                    va="center", ha="left", color="0.4" if np.isnan(mean) else "0.1")
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_ylim(len(stats) - 0.5, -0.5)  # best (lowest forgetting) at the top
    ax.margins(x=0.05)
    same_n = len({st[3] for st in stats}) == 1  # then the caption says n once
    ax.set_yticks(ys, [c if same_n else f"{c} (n={n})" for c, _, _, n in stats], fontsize=7.5)
    ax.set_xlabel("forgetting, score points x100 (lower is better)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7.5)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"Forgetting per strategy\n{title}", fontsize=9)
    column = "mean" + (" ± half-width of the interval" if any(not np.isnan(s[2]) for s in stats) else "")
    fig.supxlabel(f"bars: {_interval_caption([s[3] for s in stats], interval)}\n"
                  f"numbers right of the axes: {column}", fontsize=7, color="0.35", x=0.01, ha="left")
    fig.get_layout_engine().set(w_pad=0.1)
    return fig


PAIRED_PANELS = (("final_average", "final average minus {b}'s\n(higher is better)"),
                 ("forgetting", "forgetting minus {b}'s\n(lower is better)"))


def plot_paired(df: pd.DataFrame, path: Path, title: str, styles: dict, baseline: str,
                interval: str = "ci95") -> Path | None:
    fig = paired_figure(df, title, styles, baseline, interval)
    return None if fig is None else _save(fig, path)


def paired_figure(df: pd.DataFrame, title: str, styles: dict, baseline: str,
                  interval: str = "ci95") -> Figure | None:
    """Each strategy's final average and forgetting minus `baseline`'s, paired by seed and order
    (benchmark.leaderboard.paired_differences): a dot at the mean difference and a whisker for
    its interval over the pairs, best final average at the top. A filled dot's 95% CI excludes 0
    (whatever interval the whisker shows), a hollow one's does not (or there is one pair); the
    values sit in a column right of each panel. None when no strategy has a pair with the baseline."""
    from benchmark.leaderboard import baseline_runs, paired_differences

    base = baseline_runs(df, baseline)
    name = base["config"].iloc[0]
    stats = []
    for config, g in df.groupby("config", sort=False):
        if config == name:
            continue
        cells = []
        for col, _ in PAIRED_PANELS:
            d = 100 * np.asarray(paired_differences(g, base, col), dtype=float)
            cells.append((float(d.mean()) if len(d) else math.nan, interval_half_width(d, interval), len(d),
                          interval_half_width(d, "ci95")))
        if any(c[2] for c in cells):
            stats.append((config, cells))
    if not stats:
        return None
    stats.sort(key=lambda s: (np.isnan(s[1][0][0]), -np.nan_to_num(s[1][0][0])))
    counts = [c[2] for _, cells in stats for c in cells if c[2]]
    n0 = max(set(counts), key=counts.count)  # the usual number of pairs; others are written out
    fig = _new_figure(9.0, 0.26 * len(stats) + 2.1)
    axes = fig.subplots(1, 2, sharey=True)
    ys = np.arange(len(stats))
    for k, (ax, (_, label)) in enumerate(zip(axes, PAIRED_PANELS)):
        for y, (config, cells) in zip(ys, stats):
            mean, half, n, ci = cells[k]
            if n == 0 or np.isnan(mean):
                ax.annotate("n/a", (1.02, y), xycoords=("axes fraction", "data"), fontsize=7,
                            va="center", ha="left", color="0.5")
                continue
            colour = styles[config][0]
            sure = not np.isnan(ci) and abs(mean) > ci  # whatever the whisker shows
            if not np.isnan(half):
                ax.plot([mean - half, mean + half], [y, y], color=colour, lw=1.4, solid_capstyle="butt")
            ax.plot([mean], [y], marker="o", ms=5, color=colour, mfc=colour if sure else "white", mew=1.2)
            ax.annotate(mean_std(mean, half, scale=1) + (f" ({n})" if n != n0 else ""),
                        (1.02, y), xycoords=("axes fraction", "data"), fontsize=7, va="center", ha="left",
                        color="0.1")
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_xlabel(label.format(b=name), fontsize=8)
        ax.tick_params(axis="x", labelsize=7.5)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_ylim(len(stats) - 0.5, -0.5)
    axes[0].set_yticks(ys, [c for c, _ in stats], fontsize=7.5)
    fig.suptitle(f"Paired with {name} (score points x100)\n{title}", fontsize=9)
    fig.supxlabel(f"dot: mean over the {n0} (seed, order) pairs shared with {name} (another count in brackets); "
                  f"whisker: {INTERVALS[interval].format(over='the pairs')}; filled: the 95% CI "
                  "excludes 0", fontsize=7, color="0.35", x=0.01, ha="left")
    fig.get_layout_engine().set(w_pad=0.3)
    return fig


def pareto_front(x: Sequence[float], y: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats on both axes (fewer or equal parameters and a
    higher or equal score, one of them strictly), ordered by x."""
    order = sorted(range(len(x)), key=lambda i: (x[i], -y[i]))
    front, best = [], -np.inf
    for i in order:
        if y[i] > best:
            front.append(i)
            best = y[i]
    return front


def _place_labels(fig: Figure, ax, points: list[tuple[float, float, str, tuple]], fontsize: float,
                  segments: Sequence[tuple[float, float, float, float]] = (), obstacles: Sequence = ()) -> None:
    """Label every point, coincident ones too: each label takes the first nearby spot (tried in
    rings of growing distance) that overlaps no marker, no label placed before it and none of the
    `obstacles` (artists already drawn, e.g. the reference lines' labels), and gets a thin leader
    line when it sits away from its point. A small adjustText, without the dependency."""
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()  # settle the layout, so data -> pixel is final ...
    fig.set_layout_engine("none")  # ... and keep it so while the labels go in
    to_px = ax.transData.transform
    scale = fig.dpi / 72
    frame = ax.get_window_extent(renderer)
    marker = 5 * scale
    taken = [Bbox.from_extents(x - marker, y - marker, x + marker, y + marker)
             for x, y in (to_px((px, py)) for px, py, _, _ in points)]
    for xa, ya, xb, yb in segments:  # error bars and the front's steps: lines a label must not cross
        (pa, qa), (pb, qb) = to_px((xa, ya)), to_px((xb, yb))
        taken.append(Bbox.from_extents(min(pa, pb) - 2, min(qa, qb) - 2, max(pa, pb) + 2, max(qa, qb) + 2))
    taken += [artist.get_window_extent(renderer) for artist in obstacles]
    order = sorted(range(len(points)), key=lambda i: -points[i][1])  # top first
    for i in order:
        px, py, label, colour = points[i]
        x0, y0 = to_px((px, py))
        probe = ax.text(0, 0, label, fontsize=fontsize)
        box = probe.get_window_extent(renderer)
        probe.remove()
        w, h = box.width, box.height
        best = None
        for ring in range(0, 12):
            d = (7 + 11 * ring) * scale
            for dx, dy in ((d, 0), (d, d * 0.7), (d, -d * 0.7), (-d, 0), (-d, d * 0.7), (-d, -d * 0.7),
                           (0, d), (0, -d)):
                left = x0 + dx if dx > 0 else (x0 + dx - w if dx < 0 else x0 - w / 2)
                bottom = y0 + dy - h / 2
                cand = Bbox.from_extents(left - 1, bottom - 1, left + w + 1, bottom + h + 1)
                inside = (cand.x0 >= frame.x0 and cand.x1 <= frame.x1 and cand.y0 >= frame.y0
                          and cand.y1 <= frame.y1)
                if inside and not any(cand.overlaps(t) for t in taken):
                    best = (dx, dy, cand)
                    break
            if best:
                break
        dx, dy, cand = best or (7 * scale, 0.0, None)
        ha = "left" if dx > 0 else ("right" if dx < 0 else "center")
        far = abs(dx) > 8 * scale or abs(dy) > 8 * scale
        ax.annotate(label, (px, py), xytext=(dx / scale, dy / scale), textcoords="offset points",
                    fontsize=fontsize, ha=ha, va="center", color=colour,
                    arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.6, "alpha": 0.7,
                                "shrinkA": 0, "shrinkB": 4} if far else None)
        if cand is not None:
            taken.append(cand)


def pareto_points(df: pd.DataFrame, metric: str = "final_average", interval: str = "ci95"
                  ) -> tuple[list[tuple], list[tuple]]:
    """(config, kept per task, score x100, interval half-width, runs) of the continual learners
    and of the references (joint, independent), means over each config's runs."""
    pts, refs = [], []
    for config, g in df.groupby("config", sort=False):
        y = g[metric] * 100
        if not y.notna().any():
            continue
        entry = (config, g["kept_per_task"].mean(), y.mean(), interval_half_width(list(y), interval), len(g))
        (refs if g["strategy"].iloc[0] in REFERENCES else pts).append(entry)
    return [p for p in pts if np.isfinite(p[1]) and np.isfinite(p[2])], refs


def plot_pareto(df: pd.DataFrame, path: Path, title: str, styles: dict, interval: str = "ci95",
                metric: str = "final_average") -> Path | None:
    fig = pareto_figure(df, title, styles, interval, metric)
    return None if fig is None else _save(fig, path)


def pareto_figure(df: pd.DataFrame, title: str, styles: dict, interval: str = "ci95",
                  metric: str = "final_average") -> Figure | None:
    """The score against what each strategy keeps per task (log x), every point labelled, the
    Pareto front of the continual learners marked, joint and independent as reference lines."""
    pts, refs = pareto_points(df, metric, interval)
    if not pts and not refs:
        return None
    fig = _new_figure(7.6, 5.0)
    ax = fig.subplots()
    for config, x, y, half, _n in pts:
        colour, marker = styles[config]
        ax.errorbar(x, y, yerr=None if np.isnan(half) else half, color=colour, marker=marker, ms=6,
                    capsize=2.5, lw=0.9, ls="none", alpha=0.9, zorder=4)
    front = pareto_front([p[1] for p in pts], [p[2] for p in pts])
    if len(front) > 0:
        fx, fy = [pts[i][1] for i in front], [pts[i][2] for i in front]
        ax.plot(fx, fy, color="0.25", ls="--", lw=1, drawstyle="steps-post", zorder=1)
        ax.scatter(fx, fy, s=170, facecolors="none", edgecolors="0.25", lw=1.1, zorder=3)
    xs = [p[1] for p in pts] or [1.0]
    ax.set_xscale("log" if min(xs) > 0 else "symlog")
    if min(xs) > 0:
        ax.set_xlim(min(xs) / 4, max(xs) * 12)  # room for the labels right of the last points
    for config, _, y, half, _n in refs:
        colour = styles[config][0]
        ax.axhline(y, color=colour, ls=":", lw=1.3, zorder=0)
        if not np.isnan(half):
            ax.axhspan(y - half, y + half, color=colour, alpha=0.06, lw=0, zorder=0)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: count(v, "g", "g")))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ys = [p[2] for p in pts] + [r[2] for r in refs]
    lo, hi = min(ys), max(ys)
    pad = max(2.0, 0.12 * (hi - lo))
    ax.set_ylim(lo - pad, hi + pad)
    estimated = bool(df["memory_tokens_estimated"].any()) if "memory_tokens_estimated" in df else False
    memory = "replay memory as token ids" + (" (estimated: examples x mean length)" if estimated else " stored")
    ax.set_xlabel(f"kept per task, log scale: parameters added per task\n+ (state floats + {memory}) / tasks",
                  fontsize=8)
    backbone = df["backbone_params"].dropna()
    if len(backbone) and backbone.nunique() == 1 and backbone.iloc[0] > 0:
        b = float(backbone.iloc[0])
        top = ax.secondary_xaxis("top", functions=(lambda v: v / b * 100, lambda v: v * b / 100))
        top.set_xlabel(f"the same, as % of the backbone's {b / 1e6:.1f}M parameters", fontsize=8)
        top.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
        top.xaxis.set_minor_formatter(NullFormatter())
        top.tick_params(labelsize=7.5)
    ax.set_ylabel(METRIC_LABELS[metric], fontsize=8)
    ax.tick_params(labelsize=7.5)
    ax.grid(alpha=0.3, which="major")
    ax.set_title(f"{METRIC_LABELS[metric].split(chr(10))[0].removesuffix(' x100').capitalize()} "
                 f"vs what a strategy keeps per task\n{title}", fontsize=9)
    ns = [p[4] for p in pts] + [r[4] for r in refs]
    notes = [f"points: {_interval_caption(ns, interval)}",
             "ringed, dashed: the Pareto front (nothing keeps less with a higher score)"]
    what = {"joint": "joint trains on all tasks at once", "independent": "independent, a model per task"}
    present = [what[k] for k in REFERENCES if (df["strategy"] == k).any()]
    if refs:
        notes.append(f"dotted lines: references, not continual ({'; '.join(present)})")
    fig.supxlabel("\n".join(notes), fontsize=7, color="0.35", x=0.01, ha="left")
    same_n = len(set(ns)) == 1
    darker = {c: tuple(0.7 * v for v in styles[c][0]) for c in df["config"]}  # light colours read badly as text
    labels = [(x, y, c if same_n else f"{c} (n={n})", darker[c]) for c, x, y, _, n in pts]
    segments = [(x, y - h, x, y + h) for _, x, y, h, _ in pts if np.isfinite(h)]
    if len(front) > 1:
        segments += [(fx[k], fy[k], fx[k + 1], fy[k]) for k in range(len(front) - 1)]
        segments += [(fx[k + 1], fy[k], fx[k + 1], fy[k + 1]) for k in range(len(front) - 1)]
    ref_labels = [  # at the left edge, above their line; the points' labels keep clear of them
        ax.annotate(config if same_n else f"{config} (n={n})", (0.01, y),
                    xycoords=("axes fraction", "data"), xytext=(0, 2), textcoords="offset points",
                    fontsize=7, color=styles[config][0], va="bottom")
        for config, _, y, _, n in refs]
    _place_labels(fig, ax, labels, 7, segments, ref_labels)
    return fig


def _value(v: object) -> str:
    if missing(v):
        return "none"
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _setting_slugs(names: list[str], keys: list[tuple]) -> list[str]:
    """`<stream>_<model>`; where settings share both, the first few settings that tell them apart
    as name-value pairs (a short hash when those would be long)."""
    def digest(key: tuple) -> str:
        return hashlib.sha1(repr(key).encode()).hexdigest()[:6]

    base = [_slug(f"{k[names.index('stream')]}_{model_name(k[names.index('model')])}") for k in keys]
    out = list(base)
    for b in set(base):
        idx = [i for i, x in enumerate(base) if x == b]
        if len(idx) == 1:
            continue
        differ = [c for c in range(len(names)) if len({repr(keys[i][c]) for i in idx}) > 1]
        for m in range(1, len(differ) + 1):
            cand = {i: b + "".join(f"_{names[c]}-{_slug(_value(keys[i][c]))}" for c in differ[:m])
                    for i in idx}
            if len(set(cand.values())) == len(idx):
                break
        readable = len(set(cand.values())) == len(idx) and max(map(len, cand.values())) <= 80
        for i in idx:
            out[i] = cand[i] if readable else f"{b}_{digest(keys[i])}"
    return out


# -- all of it ----------------------------------------------------------------------------------
def select_strategies(df: pd.DataFrame, wanted: Sequence[str] | None) -> pd.DataFrame:
    """The runs of the strategies named (by strategy name or by config label); an unknown name is
    a usage error that lists the known ones."""
    from benchmark.errors import UsageError

    if not wanted:
        return df
    known = sorted(set(df["strategy"]) | set(df["config"]))
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise UsageError(f"no runs of {', '.join(unknown)} here; known: {', '.join(known)}")
    return df[df["strategy"].isin(wanted) | df["config"].isin(wanted)]


def parse_strategies(text: str | None) -> list[str] | None:
    """`a,b (x=1, y=2),c`: split at the commas outside parentheses (config labels hold commas)."""
    if not text:
        return None
    return [t.strip() for t in re.split(r",(?![^()]*\))", text) if t.strip()]


def plot_results(folder: str | Path, out_dir: str | Path, per_run: bool = False,
                 warn: Callable[[str], None] | None = None, interval: str = "ci95",
                 fmt: str = "png", strategies: Sequence[str] | None = None,
                 metric: str = "final_average", layout: str = "strategies",
                 baseline: str | None = None) -> list[Path]:
    """Every figure for the complete runs under `folder`, written into `out_dir`; returns the files
    written."""
    from benchmark.errors import UsageError

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt}")
    out = Path(out_dir)
    df = complete_runs(folder, warn).frame
    styles = _styles(list(df["config"]))  # before selecting: a strategy keeps its colour
    if strategies and baseline is not None and baseline not in strategies:
        strategies = [*strategies, baseline]  # what the others are compared with is drawn too
    df = select_strategies(df, strategies)
    if metric not in METRIC_LABELS:
        raise UsageError(f"--metric must be one of {', '.join(METRIC_LABELS)}, not {metric}")
    if not df[metric].notna().any():
        raise UsageError(f"no run here records {metric} (it needs single-task references: "
                         "`independent` runs of the same setting); use --metric final_average")
    if baseline is not None:
        from benchmark.leaderboard import baseline_runs, is_baseline

        baseline_runs(df, baseline)  # a usage error when no setting has it
    keys = setting_keys(df)
    settings = list(df.groupby(keys, dropna=False, sort=True))
    written: list[Path] = []
    for (_, sub), slug in zip(settings, _setting_slugs(keys, [k for k, _ in settings])):
        title = _setting_title(sub.iloc[0], keys[len(SETTING_KEYS):])
        # strategies in leaderboard order: best final average first
        rank = sub.groupby("config")["final_average"].mean().sort_values(ascending=False)
        sub = sub.assign(_rank=sub["config"].map({c: i for i, c in enumerate(rank.index)}))
        sub = sub.sort_values(["_rank", "seed", "task_order"], kind="stable")
        written.append(plot_heatmaps(sub, out / f"heatmap_{slug}.{fmt}", title))
        if layout == "tasks":
            along = plot_stream_by_task(sub, out / f"stream_{slug}.{fmt}", title, styles, interval)
        else:
            along = plot_stream_by_strategy(sub, out / f"stream_{slug}.{fmt}", title, interval)
        written += [along] if along else []
        written.append(plot_forgetting(sub, out / f"forgetting_{slug}.{fmt}", title, styles, interval))
        pareto = plot_pareto(sub, out / f"pareto_{slug}.{fmt}", title, styles, interval, metric)
        if pareto is None and warn is not None:
            warn(f"{slug}: no run records {metric}; no Pareto plot")
        written += [pareto] if pareto else []
        if baseline is not None:
            paired = plot_paired(sub.drop(columns="_rank"), out / f"paired_{slug}.{fmt}", title, styles,
                                 baseline, interval) if is_baseline(sub, baseline).any() else None
            if paired is None and warn is not None:
                warn(f"{slug}: no strategy paired with {baseline} by seed and order; no paired figure")
            written += [paired] if paired else []
    if per_run:
        for record in df["record"]:
            written.append(plot_run_heatmap(record, out / f"heatmap_run_{_slug(record['run_id'])}.{fmt}"))
    return written

