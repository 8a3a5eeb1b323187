"""The per-experiment tables of results/README.md, printed as markdown from the run JSONs.

    python results/tables.py glue-small results/runs/glue-small    # strategies over seeds
    python results/tables.py samplers results/runs/samplers        # joint, one row per sampler
    python results/tables.py mtl-add results/runs/mtl-add          # mtl-then-add comparison
    python results/tables.py text5 results/runs/text5              # class-incremental text5
    python results/tables.py references results/runs/glue-small-protocol   # per-task reference points
    python results/tables.py tuned results/runs/sst2-default results/runs/sst2-tuned  # default vs tuned
    python results/tables.py reference results/runs/mixed4          # the reference sweep, 95% CIs
    python results/tables.py orderings results/runs/mixed4          # the literature's orderings, checked
    python results/tables.py orders results/runs/text5-orders       # a sweep over task orders
    python results/tables.py update README.md docs/*.md             # rewrite the docs' generated tables

`leaderboard` gives the aggregate columns every experiment shares; these tables add what one
experiment is about (per-task scores, the share of the data a sampler used, forgetting of the
multi-task phase's tasks, ...). Scores are x100, means over the runs of a row, ± their std. Both
read the runs through benchmark/runs.py (a DataFrame row per run) and write numbers with
benchmark/formatting.py.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.formatting import ci95, count, fmt, interval_half_width
from benchmark.formatting import markdown_table as table
from benchmark.leaderboard import benjamini_hochberg, paired_differences, paired_p, q_value
from benchmark.runs import load_frames


def label(record: dict) -> str:
    run, cfg = record["run"], record["run"]["strategy_config"]
    name = run["strategy"]
    if name == "coreset-replay":
        name += f" ({cfg.get('selector')}, {cfg.get('budget')}/task)"
    elif name in ("replay", "agem", "sparse-replay") and "budget" in cfg:
        name += f" ({cfg['budget']}/task)"
    return name


def ranked(df: pd.DataFrame, key: pd.Series | list[pd.Series]) -> list[tuple[Any, pd.DataFrame]]:
    """The runs grouped by `key` (a value per run, or a list of such keys), best mean final average first."""
    groups = df.groupby(key, sort=False, dropna=False)
    return sorted(groups, key=lambda kv: -statistics.fmean(kv[1]["final_average"]))


def labels(df: pd.DataFrame) -> pd.Series:
    return df["record"].map(label)


def glue_small(df: pd.DataFrame) -> str:
    rows = []
    for name, g in ranked(df, labels(df)):
        backbone = g["backbone_params"].iloc[0]
        per_task = statistics.fmean(g["params_added_per_task"])
        rows.append([
            name, str(len(g)), fmt(g["final_average"]), fmt(g["forgetting"]), fmt(g["bwt"]),
            fmt(g["learning_accuracy"]),
            f"{per_task:,.0f} ({100 * per_task / backbone:.2f}%)",
            f"{statistics.fmean(g['state_floats_total']):,.0f}",
            f"{statistics.fmean(g['memory_examples_total']):,.0f}",
            fmt(g["wall_time_total_s"], scale=1, digits=0),
        ])
    return table(["strategy", "seeds", "final avg", "forgetting", "BWT", "learning acc",
                  "params added / task (% backbone)", "state floats", "memory examples", "wall s"], rows)


def samplers(df: pd.DataFrame) -> str:
    first = df["record"].iloc[0]
    tasks = first["tasks"]
    rows = []
    for name, g in ranked(df, df["sampler"]):
        used = [r["phases"][0]["data_used"] for r in g["record"]]
        seen = [r["phases"][0]["examples_by_task"] for r in g["record"]]
        share = [sum(u[t]["unique"] for t in tasks) / sum(u[t]["of"] for t in tasks) for u in used]
        rows.append([
            name, fmt(g["final_average"]), *(fmt(f[t] for f in g["final"]) for t in tasks),
            " / ".join(f"{statistics.fmean(s[t] for s in seen):,.0f}" for t in tasks),
            " / ".join(f"{100 * statistics.fmean(u[t]['share'] for u in used):.0f}%" for t in tasks),
            f"{100 * statistics.fmean(share):.0f}%",
        ])
    sizes = " / ".join(f"{first['task_info'][i]['train_examples']:,}" for i in range(len(tasks)))
    head = ["sampler", "final avg", *tasks, f"examples trained ({'/'.join(tasks)}; sizes {sizes})",
            "share of each task used", "share used"]
    return table(head, rows)


def mtl_add(df: pd.DataFrame) -> str:
    rows = []
    for name, g in ranked(df, labels(df)):
        rs = list(g["record"])
        m = [r["metrics"] for r in rs]
        k = rs[0]["run"]["mtl_tasks"]
        old = [sum(t["train_examples"] for t in r["task_info"]) for r in rs]
        kept = [r["cost"]["memory_examples"] / o for r, o in zip(rs, old)]
        backbone = g["backbone_params"].iloc[0]
        first = [r["phases"][0]["params_added"] for r in rs]
        later = [statistics.fmean(p["params_added"] for p in r["phases"][1:]) for r in rs]
        rows.append([
            name, str(len(g)), fmt(g["final_average"]), fmt(statistics.fmean(R[0, :k]) for R in g["R"]),
            fmt(x.get("first_final_average") for x in m), fmt(x.get("first_forgetting") for x in m),
            fmt(x.get("added_learning_accuracy") for x in m), fmt(x.get("added_final_average") for x in m),
            f"{statistics.fmean(first):,.0f} + {statistics.fmean(later):,.0f}/task "
            f"({100 * statistics.fmean(later) / backbone:.2f}%)",
            f"{100 * statistics.fmean(kept):.1f}%",
        ])
    return table(["strategy", "seeds", "final avg", "first k after MTL", "first k final", "first k forgetting",
                  "added: learned", "added: final", "params added (MTL phase + each added)",
                  "memory / all train data"], rows)


def text5(df: pd.DataFrame) -> str:
    tasks = df["record"].iloc[0]["tasks"]
    rows = []
    for name, g in ranked(df, labels(df)):
        rows.append([
            name, g["scenario"].iloc[0], fmt(g["final_average"]),
            *(fmt(f[t] for f in g["final"]) for t in tasks),
            fmt(g["forgetting"]), fmt(g["learning_accuracy"]),
            f"{statistics.fmean(g['memory_examples_total']):,.0f}",
            fmt(g["wall_time_total_s"], scale=1, digits=0),
        ])
    return table(["strategy", "scenario", "final avg", *tasks, "forgetting", "learning acc",
                  "memory examples", "wall s"], rows)


def orders(df: pd.DataFrame) -> str:
    """A sweep over task orders (text5's four): one row per strategy and scenario, best mean final
    average first; its final average over every run (mean ± 95% CI over the runs: seeds x orders),
    its normalised final average (where any of the folders holds matching single-task
    `independent` runs: they are the references of either scenario), per order (mean over the
    seeds), how far apart the orders' means lie (best minus worst), its forgetting, the tasks
    single-task fine-tuning does not learn, the tasks it does not learn even when it trains them,
    and CPU time. A strategy that depends on the order spreads widely."""
    names = sorted(df["order"].unique(), key=lambda o: (len(str(o)), str(o)))
    rows = []
    for (name, scenario), g in ranked(df, [df["strategy"], df["scenario"]]):
        per = g.groupby("order")["final_average"].mean()
        rows.append([
            name, scenario, str(len(g)), ci95(g["final_average"]), ci95(g["normalised_average"]),
            *(f"{100 * per[o]:.1f}" if o in per.index else "-" for o in names),
            f"{100 * (per.max() - per.min()):.1f}" if len(per) > 1 else "-",
            ci95(g["forgetting"]), not_learned_single_task(g), not_learned_when_trained(g), mean_cpu(g)])
    out = table(["strategy", "scenario", "runs", "final avg", "normalised", *(f"order {o}" for o in names),
                 "spread over orders", "forgetting", "not learned (single-task)", "not learned when trained",
                 "CPU s per run"], rows)
    return f"{out}\n\n{sweep_cost(df)}"


def not_learned_single_task(g: pd.DataFrame) -> str:
    """The tasks that single-task fine-tuning (the runs' `independent` references) does not learn;
    "-" where none is flagged or the runs have no single-task references."""
    return ", ".join(sorted({t for v in g["not_learned"] for t in v.split(",") if t})) or "-"


def not_learned_when_trained(g: pd.DataFrame) -> str:
    """The tasks whose test score right after their phase is not clearly above their majority
    score (by 2 standard errors, benchmark.metrics.is_learned), with how many runs of `g` miss
    them. Streams without single-task references (text5's orders) flag unlearned tasks this way."""
    from benchmark.metrics import is_learned

    missed: dict[str, int] = defaultdict(int)
    for r in g["record"]:
        for j, task in enumerate(r["tasks"]):
            phase = r["learned_in_phase"][j]
            score = (r["R_metrics"][phase][j] if phase < len(r["R_metrics"]) else None) or {}  # no test rows
            ref = (r.get("reference") or [None] * len(r["tasks"]))[j] or {}
            majority = (ref.get("majority") or {}).get("test")
            if majority is None or score.get("score_se") is None:
                continue
            missed[task] += not is_learned(score["score"], score["score_se"], majority)
    return ", ".join(f"{t} ({k} of {len(g)})" for t, k in missed.items() if k) or "-"


def references(df: pd.DataFrame) -> str:
    """Per task: its majority-class score, the single-task (`independent`) score over the seeds,
    the gap, the bootstrap standard error, whether single-task fine-tuning learns it (more than
    2 SE above majority) in every seed, and whether it clears majority + 10 points on validation
    in every seed (the default stream's bar)."""
    from benchmark.metrics import is_learned

    per_task: dict[str, list[tuple[dict, int]]] = defaultdict(list)
    for r in df.loc[df["strategy"] == "independent", "record"]:
        for j, task in enumerate(r["tasks"]):
            per_task[task].append((r, j))
    rows = []
    for task, runs in per_task.items():
        row = [task, str(len(runs))]
        for split, R, M in (("validation", "R_val", "R_val_metrics"), ("test", "R", "R_metrics")):
            majority = runs[0][0]["reference"][runs[0][1]]["majority"][split]
            scores = [r[R][-1][j] for r, j in runs]
            ses = [r[M][-1][j]["score_se"] for r, j in runs]
            learned = [is_learned(s, se, majority) for s, se in zip(scores, ses)]
            row += [fmt([majority]), fmt(scores), f"{100 * (statistics.fmean(scores) - majority):+.1f}",
                    fmt(ses), "yes" if all(learned) else ("no" if not any(learned) else
                                                         f"{sum(learned)} of {len(learned)} seeds")]
            if split == "validation":
                row.append("yes" if all(s - majority >= 0.10 for s in scores) else "no")
        rows.append(row)
    head = ["task", "seeds", "val majority", "val single-task", "val gap", "val SE", "val learned",
            "val gap >= 10", "test majority", "test single-task", "test gap", "test SE", "test learned"]
    return table(head, rows)


def tuned(df: pd.DataFrame) -> str:
    """Default against tuned settings: one row per strategy, test scores over the seeds, with the
    tuned settings and the validation score that chose them."""
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in df["record"]:
        groups[r["run"]["strategy"]]["tuned" if r["run"].get("tuned") else "default"].append(r)
    rows = []
    for name, by in sorted(groups.items()):
        t = by.get("tuned") or []
        info = t[0]["run"]["tuned"] if t else None
        settings = ", ".join(f"{k}={float(v):.3g}" if _is_float(v) else f"{k}={v}"
                             for k, v in (info["settings"] if info else {}).items())
        study = info["study"] if info else {}
        rows.append([name, fmt([r["R"][-1][0] for r in by.get("default", [])]),
                     fmt([r["R"][-1][0] for r in t]), settings or "-",
                     fmt([study.get("value")]) if study else "-", str(study.get("trials", "-"))])
    return table(["strategy", "default (test)", "tuned (test)", "tuned settings", "validation of the choice",
                  "trials"], rows)


def by_normalised(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The runs grouped by strategy, best mean normalised score first (the reference tables'
    order): the mean over the runs that have one (a run whose single-task reference is not run
    yet has none, and counts neither way); strategies without any last, by final average."""
    def key(kv: tuple[str, pd.DataFrame]) -> tuple[int, float]:
        normalised = kv[1]["normalised_average"].dropna()
        if len(normalised):
            return 0, -statistics.fmean(normalised)
        return 1, -statistics.fmean(kv[1]["final_average"])

    return sorted(ranked(df, df["strategy"]), key=key)


def reference(df: pd.DataFrame) -> str:
    """The reference sweep: one row per strategy (settings as run), best normalised score first;
    raw and normalised final averages, forgetting and BWT with their 95% CIs over the seeds, the
    final average minus finetune's on the same seeds (paired: the seeds share data subsets) with
    the Benjamini-Hochberg q of its paired t-test over all the strategies compared, what the
    strategy keeps per task, and the tasks single-task fine-tuning does not learn."""
    groups = by_normalised(df)
    diffs = {name: paired(df, name, "finetune", "final_average") if name != "finetune" else [] for name, _ in groups}
    q = benjamini_hochberg(pd.Series({n: paired_p(d) if d else float("nan") for n, d in diffs.items()}))
    rows = []
    for name, g in groups:
        d = diffs[name]
        rows.append([
            name, str(len(g)), ci95(g["final_average"]), ci95(d) if d else "-", q_value(q[name]),
            ci95(g["normalised_average"]), ci95(g["forgetting"]), ci95(g["bwt"]),
            count(g["params_added_per_task"].iloc[0], ".3g"), count(statistics.fmean(g["kept_per_task"]), ".3g"),
            mean_cpu(g), not_learned_single_task(g)])
    out = table(["strategy", "seeds", "final avg (test)", "minus finetune (paired)", "q (BH)", "normalised",
                 "forgetting", "BWT", "params added per task", "kept per task", "CPU s per run", "not learned"], rows)
    return f"{out}\n\n{sweep_cost(df)}"


def mean_cpu(g: pd.DataFrame) -> str:
    """Mean CPU seconds per run; "-" where the runs predate CPU time in run records."""
    cpu = g["cpu_time_total_s"].dropna()
    return f"{statistics.fmean(cpu):,.0f}" if len(cpu) else "-"


def sweep_cost(df: pd.DataFrame) -> str:
    """What the runs cost together: CPU time (the processes' own, whatever the machine's load)
    and wall time (which depends on what else ran)."""
    cpu, wall = df["cpu_time_total_s"].sum(), df["wall_time_total_s"].sum()
    return (f"{len(df)} runs: {cpu / 3600:.2f} CPU-hours, {wall / 3600:.2f} hours of wall time "
            f"summed over the runs (runs in parallel overlap)")


def reference_tasks(df: pd.DataFrame) -> str:
    """Each task's score after the last task (x100, mean over the seeds), with its score when it was
    just learned and the single-task run's, per strategy in the reference table's order: where a
    strategy loses, and which tasks it does not learn."""
    tasks = list(dict.fromkeys(t for r in df["record"] for t in r["tasks"]))
    rows = []
    for name, g in by_normalised(df):
        cells = []
        for task in tasks:
            final, learned = [], []
            for r in g["record"]:
                if task in r["tasks"]:
                    j = r["tasks"].index(task)
                    final.append(r["R"][-1][j])
                    learned.append(r["R"][r["learned_in_phase"][j]][j])
            cells.append(f"{100 * statistics.fmean(final):.1f} ({100 * statistics.fmean(learned):.1f})"
                         if final else "-")
        rows.append([name, str(len(g)), *cells])
    return table(["strategy", "seeds", *(f"{t}: final (just learned)" for t in tasks)], rows)


def paired(df: pd.DataFrame, name: str, base: str, col: str) -> list[float]:
    """`name`'s score minus `base`'s, seed by seed (and order by order), over the runs both have:
    the same data subsets and task heads' seeds, so the difference has less noise than either.
    Runs of different scenarios do not pair (a task-incremental score is not a class-incremental one)."""
    return paired_differences(df[df["strategy"] == name], df[df["strategy"] == base], col)


def orderings(df: pd.DataFrame) -> str:
    """The orderings the continual-learning literature reports, checked on these runs. Each
    comparison is paired by seed, and by order where the runs have several (x100: the strategy's
    forgetting or final average minus the other's on the same seed and order, mean ± 95% CI over
    the runs both have); the verdict follows the
    sign of the mean difference, and '*' marks a difference whose interval excludes 0. Forgetting
    is Chaudhry's. A frozen-backbone strategy is one built on the patch base class
    (strategies/_patching.py): the backbone is frozen and each task trains its own patch."""
    from strategies._patching import PatchStrategy
    from strategies.base import STRATEGIES

    runs = dict(tuple(df.groupby("strategy")))
    names = sorted(runs)
    unit = "seed" if df["order"].nunique() == 1 else "run"  # run: a (seed, order) pair

    def vs(n: str, base: str, c: str) -> tuple[float, str]:
        d = paired(df, n, base, c)
        if not d:
            return float("nan"), f"{n}: no run in common"
        mean, text = statistics.fmean(d), f"{n} {ci95(d, unit)}"
        if len(d) >= 2:
            text += f" ({len(d)} {unit}s){' *' if abs(mean) > interval_half_width(d) else ''}"
        return mean, text

    rows = []
    forgets = [n for n in names if n not in ("joint", "independent") and runs[n]["forgetting"].notna().any()]
    if "finetune" in names:
        cmp = {n: vs(n, "finetune", "forgetting") for n in forgets if n != "finetune"}
        more = sorted((n for n in cmp if cmp[n][0] > 0), key=lambda n: -cmp[n][0])
        rows.append(["finetune forgets most", "yes" if not more else f"no: {len(more)} of {len(cmp)} forget more",
                     "forgetting minus finetune's: " + ("; ".join(cmp[n][1] for n in more) or "every other is lower")])
        for group in (("replay", "coreset-replay", "derpp"), ("ewc", "online-ewc"), ("lwf",)):
            present = [n for n in group if n in cmp]
            if present:
                less = [n for n in present if cmp[n][0] < 0]
                rows.append([f"{' / '.join(present)} forget less than finetune",
                             "yes" if len(less) == len(present) else "no" if not less else f"{len(less)} of {len(present)}",
                             "forgetting minus finetune's: " + "; ".join(cmp[n][1] for n in present)])
    patches = [n for n in names if isinstance(cls := STRATEGIES.get(n), type) and issubclass(cls, PatchStrategy)]
    if patches:
        forgetful = [n for n in patches if float(runs[n]["forgetting"].abs().max()) > 0]
        rows.append(["frozen-backbone patches forget nothing",
                     "yes" if not forgetful else f"no: {len(forgetful)} of {len(patches)} forget",
                     f"{len(patches) - len(forgetful)} of {len(patches)} exactly 0 in every run" +
                     "".join(f"; {n} {ci95(runs[n]['forgetting'])}" for n in forgetful)])
    if "joint" in names:
        for c, what in (("final_average", "raw"), ("normalised_average", "normalised")):
            if not runs["joint"][c].notna().any():
                continue  # no single-task references: no normalised score
            cmp = {n: vs(n, "joint", c) for n in names if n != "joint"}
            above = sorted((n for n in cmp if cmp[n][0] > 0), key=lambda n: -cmp[n][0])
            rows.append([f"joint on top ({what} final average)", "yes" if not above else f"no: {len(above)} above",
                         "minus joint's: " + ("; ".join(cmp[n][1] for n in above) or "every other is lower")])
    by = "seed" if unit == "seed" else "seed and order"
    return table(["the literature's ordering", "holds here", f"numbers (x100, paired by {by}, mean ± 95% CI)"], rows)


def _is_float(v) -> bool:
    try:
        float(v)
        return "." in str(v) or "e" in str(v)
    except (TypeError, ValueError):
        return False


KINDS = {"glue-small": glue_small, "samplers": samplers, "mtl-add": mtl_add, "text5": text5, "orders": orders,
         "references": references, "tuned": tuned, "reference": reference, "reference-tasks": reference_tasks,
         "orderings": orderings}


# A generated table in a markdown file sits between these two lines; the first names the command
# that prints it (`python results/tables.py KIND FOLDER...`, folders relative to the repository
# root). `update` rewrites every such block from the runs, so the docs' tables are the runs'.
BEGIN = re.compile(r"^<!-- results/tables\.py (?P<kind>[a-z0-9-]+) (?P<folders>[^<>]+?) -->$")
END = "<!-- end of generated table -->"


def render(kind: str, folders: list[str | Path], warn: Callable[[str], None] | None = None) -> tuple[str, list]:
    """The table `python results/tables.py KIND FOLDER...` prints, and what each folder held
    (its LoadedRuns); a ValueError where the folders hold no complete run."""
    df, loaded = load_frames(folders, warn=warn)
    if not len(df):
        raise ValueError(f"no complete runs in {', '.join(map(str, folders))}")
    return KINDS[kind](df), loaded


def update_text(text: str, render_table: Callable[[str, list[str]], str]) -> str:
    """`text` with every generated block (between a BEGIN line and END) replaced by
    `render_table(kind, folders)`; a BEGIN without its END, or an unknown kind, is an error."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        out.append(lines[i])
        m = BEGIN.match(lines[i])
        i += 1
        if not m:
            continue
        if m["kind"] not in KINDS:
            raise ValueError(f"unknown table kind {m['kind']!r} in: {lines[i - 1]}")
        try:
            end = lines.index(END, i)
        except ValueError:
            raise ValueError(f"no {END!r} after: {lines[i - 1]}") from None
        out += ["", *render_table(m["kind"], m["folders"].split()).split("\n"), "", END]
        i = end + 1
    return "\n".join(out)


def update(files: list[str], root: Path, check: bool) -> int:
    """Rewrite the generated tables of `files` from the runs under `root` (with `check`, write
    nothing and say which files are out of date: exit 1)."""
    from benchmark.errors import UsageError

    stale = []
    for name in files:
        path = root / name
        try:  # each file is written whole, once all its tables are made
            old = path.read_text()
            new = update_text(old, lambda kind, folders: render(kind, [root / f for f in folders])[0])
        except (OSError, ValueError, UsageError) as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 2
        if new != old:
            stale.append(name)
            if not check:
                path.write_text(new)
    verb = "out of date" if check else "updated"
    print(f"{verb}: {', '.join(stale)}" if stale else "every generated table is up to date")
    return 1 if check and stale else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["update"]:
        u = argparse.ArgumentParser(prog="tables.py update", description="rewrite the generated tables "
                                    "of markdown files (between '<!-- results/tables.py KIND FOLDER... -->' "
                                    f"and '{END}') from the runs")
        u.add_argument("files", nargs="+", help="markdown files, e.g. README.md docs/results.md")
        u.add_argument("--check", action="store_true", help="write nothing; exit 1 if a table is out of date")
        u.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                       help="the repository root the files and folders are relative to")
        args = u.parse_args(argv[1:])
        return update(args.files, args.root, args.check)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=sorted(KINDS))
    p.add_argument("folders", nargs="+", help="folders of run JSONs")
    args = p.parse_args(argv)
    try:
        text, loaded = render(args.kind, args.folders, warn=lambda m: print(f"warning: {m}", file=sys.stderr))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    print(f"\n({'; '.join(f'{folder}: {x.summary()}' for folder, x in zip(args.folders, loaded))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
