"""Comparison figures from a folder of run JSONs: PNGs drawn with matplotlib's Agg canvas (no
pyplot, so importing this module changes no global matplotlib state).

    python -m benchmark plot results/runs                  # figures in results/runs/figures/

One set of figures per setting (stream, scenario, task set, model and training protocol, as the
leaderboard groups runs), one colour per strategy config across all of them:

    heatmap_<setting>.png     R of each strategy: mean over the seeds of the setting's reference
                              task order, every cell annotated (score x100)
    stream_<setting>.png      each task's score after each step of the stream, one line per
                              strategy (mean over seeds of the reference order, 95% CI band)
    forgetting_<setting>.png  forgetting per strategy, mean over seeds and orders, 95% CI bars
    pareto_<setting>.png      final average score against parameters added per task (log x),
                              the Pareto front marked, 95% CI bars

`--per-run` adds heatmap_run_<run id>.png for every run. Confidence intervals are Student-t 95%
intervals of the mean over runs (seeds x orders); a group of one run has none.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from benchmark.leaderboard import (
    SETTING_DEFAULTS,
    SETTING_KEYS,
    load_runs,
    runs_frame,
    setting_keys,
)
from benchmark.metrics import average_curve

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
INTERVALS = {"ci95": "95% CI over {over}, Student t", "se": "±1 standard error over {over}"}
OVER_RUNS = "runs (seeds x orders)"


def _half_width(sd: np.ndarray, n: np.ndarray, interval: str) -> np.ndarray:
    from scipy import stats

    se = sd / np.sqrt(np.maximum(n, 1))
    factor = stats.t.ppf(0.975, np.maximum(n - 1, 1)) if interval == "ci95" else 1.0
    return np.where(n >= 2, factor * se, np.nan)


def interval_half_width(values: Sequence[float], interval: str = "ci95") -> float:
    """Half-width of the Student-t 95% confidence interval of the mean ("ci95") or the standard
    error ("se"), over the finite values; NaN below two values."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if len(v) < 2:
        return float("nan")
    return float(_half_width(np.array(v.std(ddof=1)), np.array(len(v)), interval))


def _mean_interval(stack: np.ndarray, interval: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and interval half-width along axis 0, ignoring NaN."""
    n = np.sum(np.isfinite(stack), axis=0)
    mean = np.where(n > 0, np.nansum(stack, axis=0) / np.maximum(n, 1), np.nan)
    dev = np.where(np.isfinite(stack), stack - mean, 0.0)
    sd = np.sqrt(np.sum(dev**2, axis=0) / np.maximum(n - 1, 1))
    return mean, _half_width(sd, n, interval)


def _count_format(v: float, _pos: object = None) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= limit:
            return f"{v / limit:g}{suffix}"
    return f"{v:g}"


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def _model_name(model: str) -> str:
    return Path(str(model).rstrip("/")).name or str(model)


def _styles(labels: Sequence[str]) -> dict[str, tuple[tuple[float, float, float], str]]:
    """A fixed colour and marker per strategy label, the same in every figure."""
    from matplotlib import colormaps

    names = sorted(set(labels))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: (to_rgb(cmap(i % cmap.N)), MARKERS[i % len(MARKERS)]) for i, name in enumerate(names)}


def _setting_title(row: pd.Series, extra: Sequence[str] = ()) -> str:
    caps = f"{_fmt_cap(row['max_train'])}/{_fmt_cap(row['max_eval'])} train/test per task"
    shown = [f"{k}={row[k]}" for k in extra if not pd.isna(row[k]) and row[k] != SETTING_DEFAULTS.get(k)]
    return (f"{row['stream']} ({row['scenario']}), {_model_name(row['model'])}; {caps}, "
            f"{_fmt_cap(row['epochs'])} epoch(s)" + "".join(f", {s}" for s in shown))


def _fmt_cap(v: object) -> str:
    return "all" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{int(v):,}"


def _reference_order(df: pd.DataFrame) -> str:
    """The task order with the most runs (the stream's default order first on a tie)."""
    counts = df.groupby("task_order").agg(n=("run_id", "size"),
                                          default=("order", lambda s: (s == "default").any()))
    counts = counts.reset_index().sort_values(["n", "default", "task_order"],
                                              ascending=[False, False, True])
    return counts["task_order"].iloc[0]


def _R(record: dict) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in record["R"]], dtype=float)


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


def plot_heatmaps(df: pd.DataFrame, records: dict[str, dict], path: Path, title: str) -> Path:
    """One panel per strategy config: R averaged over its runs on the reference order."""
    ref = _reference_order(df)
    panels = []
    for config, sub in df.groupby("config", sort=False):
        order = ref if (sub["task_order"] == ref).any() else _reference_order(sub)
        runs = [records[p] for p in sub.loc[sub["task_order"] == order, "path"]]
        runs = [r for r in runs if _R(r).shape == _R(runs[0]).shape]  # a partial plan cannot average
        mean = _mean_interval(np.stack([_R(r) for r in runs]), "se")[0]
        n = len(runs)
        label = f"{config}\n(mean of {n} run{'s' * (n > 1)})"
        panels.append((mean, _row_labels(runs[0]), runs[0]["tasks"], label))
    vmin, vmax = _limits([p[0] for p in panels])
    ncols = min(3, len(panels))
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
    fig.colorbar(im, ax=axes, shrink=0.8, label="score x100 (grey: not evaluated)")
    fig.suptitle(f"Score on each task (columns) after each training phase (rows)\n{title}\n"
                 "each panel: mean over the seeds of the most common task order", fontsize=9)
    return _save(fig, path)


def plot_run_heatmap(record: dict, path: Path) -> Path:
    R = _R(record)
    vmin, vmax = _limits([R])
    fig = _new_figure(len(record["tasks"]) * 0.6 + 3.2, len(R) * 0.55 + 2.0)
    ax = fig.subplots()
    run = record["run"]
    im = _heatmap_panel(ax, R, _row_labels(record), record["tasks"],
                        f"{run['strategy']}, seed {run['seed']}, order {run.get('order')}", vmin, vmax)
    fig.colorbar(im, ax=ax, label="score x100")
    fig.suptitle(f"{run['stream']}, {_model_name(run['model'])}: {record['run_id']}", fontsize=8)
    return _save(fig, path)


def plot_along_stream(df: pd.DataFrame, records: dict[str, dict], path: Path, title: str,
                      styles: dict, interval: str = "ci95") -> Path | None:
    """A panel per task (and one for the average over seen tasks): its score after each step of
    the reference order, one line per strategy with an interval band over seeds."""
    ref = _reference_order(df)
    sub = df[df["task_order"] == ref]
    tasks = ref.split(",")
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
        recs = [records[p] for p in runs["path"]]
        # x of a phase = how many tasks have been trained after it (joint training: all of them)
        curves = np.full((len(recs), T + 1, T), np.nan)  # run, panel, x
        for k, rec in enumerate(recs):
            learned = rec["learned_in_phase"]
            R = _R(rec)
            avg = average_curve(rec["R"], learned)
            for p in range(len(R)):
                x = sum(1 for lj in learned if lj <= p) - 1
                curves[k, :T, x] = R[p]
                curves[k, T, x] = np.nan if avg[p] is None else avg[p]
        mean, half = _mean_interval(curves * 100, interval)
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
        handles.append(Line2D([], [], color=colour, marker=marker, lw=1.6, label=f"{config} (n={len(recs)})"))
    if not handles:
        return None
    for j, ax in enumerate(axes.flat):
        if j > T:
            ax.set_visible(False)
            continue
        ax.set_title(names[j] if j == T else f"{names[j]} (trained at step {j + 1})", fontsize=9)
        if j < T:
            ax.axvline(j + 1, color="0.6", ls=":", lw=1)
        ax.set_xticks(x_all, [f"{i}: {t}" for i, t in enumerate(tasks, 1)], rotation=30, ha="right",
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
    """Forgetting per strategy config: mean over runs with interval error bars."""
    stats = []
    for config, g in df.groupby("config", sort=False):
        values = g["forgetting"] * 100
        stats.append((config, values.mean(), interval_half_width(list(values), interval), len(g)))
    stats.sort(key=lambda s: (np.isnan(s[1]), s[1]))
    fig = _new_figure(max(6.4, 0.9 * len(stats) + 2.0), 4.5)
    ax = fig.subplots()
    xs = np.arange(len(stats))
    for x, (config, mean, half, _) in zip(xs, stats):
        if np.isnan(mean):
            ax.text(x, 0, "n/a\n(one phase)", ha="center", va="bottom", fontsize=7, color="0.4")
            continue
        ax.bar(x, mean, color=styles[config][0], width=0.7,
               yerr=None if np.isnan(half) else half, capsize=4, error_kw={"lw": 1.2})
        reach = 0 if np.isnan(half) else half
        ax.annotate(f"{mean:.1f}", (x, mean + reach if mean >= 0 else mean - reach), fontsize=7,
                    ha="center", va="bottom" if mean >= 0 else "top",
                    xytext=(0, 2 if mean >= 0 else -2), textcoords="offset points")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xlim(-0.6, len(stats) - 0.4)
    ax.margins(y=0.12)
    ax.set_xticks(xs, [f"{c}\n(n={n})" for c, _, _, n in stats], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("forgetting, score points x100\n(lower is better)", fontsize=9)
    fig.supxlabel(f"bars: mean over n runs; error bars: {INTERVALS[interval].format(over=OVER_RUNS)}",
                  fontsize=7, color="0.35", x=0.01, ha="left")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"Forgetting per strategy\n{title}", fontsize=9)
    return _save(fig, path)


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


def plot_pareto(df: pd.DataFrame, path: Path, title: str, styles: dict, interval: str = "ci95") -> Path:
    """Final average score against parameters added per task, the Pareto front marked."""
    pts = []
    for config, g in df.groupby("config", sort=False):
        y = g["final_average"] * 100
        x = g["params_added_per_task"].mean()
        pts.append((config, x, y.mean(), interval_half_width(list(y), interval), len(g)))
    pts = [p for p in pts if np.isfinite(p[1]) and np.isfinite(p[2])]
    fig = _new_figure(7.2, 4.6)
    ax = fig.subplots()
    for config, x, y, half, n in pts:
        colour, marker = styles[config]
        ax.errorbar(x, y, yerr=None if np.isnan(half) else half, color=colour, marker=marker, ms=7,
                    capsize=3, lw=1.2, ls="none", label=f"{config} (n={n})")
    front = pareto_front([p[1] for p in pts], [p[2] for p in pts])
    if front:
        fx, fy = [pts[i][1] for i in front], [pts[i][2] for i in front]
        ax.plot(fx, fy, color="0.25", ls="--", lw=1, drawstyle="steps-post", zorder=0)
        ax.scatter(fx, fy, s=220, facecolors="none", edgecolors="0.25", lw=1.2, zorder=3,
                   label="Pareto front")
    xs = [p[1] for p in pts]
    if xs and min(xs) > 0:
        ax.set_xscale("log")
        ax.set_xlim(min(xs) / 2.5, max(xs) * 2.5)  # room for a labelled decade tick either side
    else:  # zero parameters added cannot sit on a log axis
        ax.set_xscale("symlog", linthresh=1)
    backbone = df["backbone_params"].dropna()
    if len(backbone) and backbone.nunique() == 1 and backbone.iloc[0] > 0:
        b = float(backbone.iloc[0])
        top = ax.secondary_xaxis("top", functions=(lambda v: v / b * 100, lambda v: v * b / 100))
        top.set_xlabel("% of the backbone's parameters, per task", fontsize=8)
        top.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
        top.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(_count_format))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("parameters added per task (log scale)", fontsize=9)
    ax.set_ylabel("final average score x100", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), title="strategy (n = runs)",
              title_fontsize=7)
    ax.set_title(f"Final average vs parameters added per task\n{title}", fontsize=9)
    fig.supxlabel(f"points: mean over n runs; error bars: {INTERVALS[interval].format(over=OVER_RUNS)}",
                  fontsize=7, color="0.35", x=0.01, ha="left")
    return _save(fig, path)


def _value(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "none"
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _setting_slugs(names: list[str], keys: list[tuple]) -> list[str]:
    """`<stream>_<model>`; where settings share both, the first few settings that tell them apart
    as name-value pairs (a short hash when those would be long)."""
    def digest(key: tuple) -> str:
        return hashlib.sha1(repr(key).encode()).hexdigest()[:6]

    base = [_slug(f"{k[names.index('stream')]}_{_model_name(k[names.index('model')])}") for k in keys]
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
def plot_results(folder: str | Path, out_dir: str | Path | None = None, per_run: bool = False,
                 warn: Callable[[str], None] | None = None, interval: str = "ci95") -> list[Path]:
    """Every figure for the complete runs under `folder`; returns the files written."""
    from benchmark.errors import UsageError

    loaded = load_runs(folder, warn)
    if not loaded.runs:
        raise UsageError(f"no complete runs under {folder} ({loaded.summary()})")
    df = runs_frame(loaded.runs)
    records = {str(p): r for p, r in loaded.runs}
    out = Path(out_dir) if out_dir else Path(folder) / "figures"
    styles = _styles(list(df["config"]))
    keys = setting_keys(df)
    settings = list(df.groupby(keys, dropna=False, sort=True))
    written: list[Path] = []
    for (_, sub), slug in zip(settings, _setting_slugs(keys, [k for k, _ in settings])):
        title = _setting_title(sub.iloc[0], keys[len(SETTING_KEYS):])
        # strategies in leaderboard order: best final average first
        rank = sub.groupby("config")["final_average"].mean().sort_values(ascending=False)
        sub = sub.assign(_rank=sub["config"].map({c: i for i, c in enumerate(rank.index)}))
        sub = sub.sort_values(["_rank", "seed", "task_order"], kind="stable")
        written.append(plot_heatmaps(sub, records, out / f"heatmap_{slug}.png", title))
        along = plot_along_stream(sub, records, out / f"stream_{slug}.png", title, styles, interval)
        written += [along] if along else []
        written.append(plot_forgetting(sub, out / f"forgetting_{slug}.png", title, styles, interval))
        written.append(plot_pareto(sub, out / f"pareto_{slug}.png", title, styles, interval))
    if per_run:
        for _, record in loaded.runs:
            written.append(plot_run_heatmap(record, out / f"heatmap_run_{_slug(record['run_id'])}.png"))
    return written


def cmd_plot(args: argparse.Namespace) -> int:
    def warn(message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)

    files = plot_results(args.results, args.out, args.per_run, warn, args.interval)
    for f in files:
        print(f)
    print(f"plot: {len(files)} figures written", file=sys.stderr)
    return 0

