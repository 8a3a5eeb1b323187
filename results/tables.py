"""The per-experiment tables of results/README.md, printed as markdown from the run JSONs.

    python results/tables.py glue-small results/runs/glue-small    # strategies over seeds
    python results/tables.py samplers results/runs/samplers        # joint, one row per sampler
    python results/tables.py mtl-add results/runs/mtl-add          # mtl-then-add comparison
    python results/tables.py text5 results/runs/text5              # class-incremental text5
    python results/tables.py references results/runs/glue-small-protocol   # per-task reference points
    python results/tables.py tuned results/runs/sst2-default results/runs/sst2-tuned  # default vs tuned
    python results/tables.py reference results/runs/mixed4          # the reference sweep, 95% CIs

`leaderboard` gives the aggregate columns every experiment shares; these tables add what one
experiment is about (per-task scores, the share of the data a sampler used, forgetting of the
multi-task phase's tasks, ...). Scores are x100, means over the runs of a row, ± their std.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict

from benchmark.leaderboard import load_runs


def fmt(values: list[float | None], scale: float = 100.0, digits: int = 1, ci: bool = False) -> str:
    """Mean ± the standard deviation over the runs, or with `ci` ± the half-width of the mean's 95%
    confidence interval (Student's t with n-1 degrees of freedom: five seeds give ± 2.78 standard
    errors); a single value has no spread."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = scale * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}" + (" (1 seed)" if ci else "")
    spread = statistics.stdev(values)
    if ci:
        from scipy.stats import t

        spread *= t.ppf(0.975, len(values) - 1) / len(values) ** 0.5
    return f"{mean:.{digits}f} ± {scale * spread:.{digits}f}"


def ci95(values: list[float | None]) -> str:
    return fmt(values, ci=True)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def label(record: dict) -> str:
    run, cfg = record["run"], record["run"]["strategy_config"]
    name = run["strategy"]
    if name == "coreset-replay":
        name += f" ({cfg.get('selector')}, {cfg.get('budget')}/task)"
    elif name in ("replay", "agem", "sparse-replay") and "budget" in cfg:
        name += f" ({cfg['budget']}/task)"
    return name


def ranked(records: list[dict], key) -> list[tuple[str, list[dict]]]:
    """The records grouped by `key(record)`, best mean final average first."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    return sorted(groups.items(), key=lambda kv: -statistics.fmean(r["metrics"]["final_average"] for r in kv[1]))


def final_scores(record: dict) -> dict[str, float]:
    return dict(zip(record["tasks"], record["R"][-1]))


def glue_small(records: list[dict]) -> str:
    rows = []
    for name, rs in ranked(records, label):
        cost = [r["cost"] for r in rs]
        backbone = cost[0]["backbone_params"]
        per_task = statistics.fmean(c["params_added_per_task"] for c in cost)
        rows.append([
            name, str(len(rs)), fmt([r["metrics"]["final_average"] for r in rs]),
            fmt([r["metrics"]["forgetting"] for r in rs]), fmt([r["metrics"]["bwt"] for r in rs]),
            fmt([r["metrics"]["learning_accuracy"] for r in rs]),
            f"{per_task:,.0f} ({100 * per_task / backbone:.2f}%)",
            f"{statistics.fmean(c['state_floats'] for c in cost):,.0f}",
            f"{statistics.fmean(c['memory_examples'] for c in cost):,.0f}",
            fmt([c["wall_time_s"] for c in cost], scale=1, digits=0),
        ])
    return table(["strategy", "seeds", "final avg", "forgetting", "BWT", "learning acc",
                  "params added / task (% backbone)", "state floats", "memory examples", "wall s"], rows)


def samplers(records: list[dict]) -> str:
    tasks = records[0]["tasks"]
    rows = []
    for name, rs in ranked(records, lambda r: r["run"]["sampler"]):
        used = [r["phases"][0]["data_used"] for r in rs]
        seen = [r["phases"][0]["examples_by_task"] for r in rs]
        share = [sum(u[t]["unique"] for t in tasks) / sum(u[t]["of"] for t in tasks) for u in used]
        rows.append([
            name, fmt([r["metrics"]["final_average"] for r in rs]),
            *(fmt([final_scores(r)[t] for r in rs]) for t in tasks),
            " / ".join(f"{statistics.fmean(s[t] for s in seen):,.0f}" for t in tasks),
            " / ".join(f"{100 * statistics.fmean(u[t]['share'] for u in used):.0f}%" for t in tasks),
            f"{100 * statistics.fmean(share):.0f}%",
        ])
    sizes = " / ".join(f"{records[0]['task_info'][i]['train_examples']:,}" for i in range(len(tasks)))
    head = ["sampler", "final avg", *tasks, f"examples trained ({'/'.join(tasks)}; sizes {sizes})",
            "share of each task used", "share used"]
    return table(head, rows)


def mtl_add(records: list[dict]) -> str:
    rows = []
    for name, rs in ranked(records, label):
        m = [r["metrics"] for r in rs]
        k = rs[0]["run"]["mtl_tasks"]
        old = [sum(t["train_examples"] for t in r["task_info"]) for r in rs]
        kept = [r["cost"]["memory_examples"] / o for r, o in zip(rs, old)]
        backbone = rs[0]["cost"]["backbone_params"]
        first = [r["phases"][0]["params_added"] for r in rs]
        later = [statistics.fmean(p["params_added"] for p in r["phases"][1:]) for r in rs]
        rows.append([
            name, str(len(rs)), fmt([x["final_average"] for x in m]),
            fmt([statistics.fmean(r["R"][0][:k]) for r in rs]),
            fmt([x.get("first_final_average") for x in m]), fmt([x.get("first_forgetting") for x in m]),
            fmt([x.get("added_learning_accuracy") for x in m]), fmt([x.get("added_final_average") for x in m]),
            f"{statistics.fmean(first):,.0f} + {statistics.fmean(later):,.0f}/task "
            f"({100 * statistics.fmean(later) / backbone:.2f}%)",
            f"{100 * statistics.fmean(kept):.1f}%",
        ])
    return table(["strategy", "seeds", "final avg", "first k after MTL", "first k final", "first k forgetting",
                  "added: learned", "added: final", "params added (MTL phase + each added)",
                  "memory / all train data"], rows)


def text5(records: list[dict]) -> str:
    tasks = records[0]["tasks"]
    rows = []
    for name, rs in ranked(records, label):
        m = [r["metrics"] for r in rs]
        rows.append([
            name, rs[0]["run"]["scenario"], fmt([x["final_average"] for x in m]),
            *(fmt([final_scores(r)[t] for r in rs]) for t in tasks),
            fmt([x["forgetting"] for x in m]), fmt([x["learning_accuracy"] for x in m]),
            f"{statistics.fmean(r['cost']['memory_examples'] for r in rs):,.0f}",
            fmt([r["cost"]["wall_time_s"] for r in rs], scale=1, digits=0),
        ])
    return table(["strategy", "scenario", "final avg", *tasks, "forgetting", "learning acc",
                  "memory examples", "wall s"], rows)


def references(records: list[dict]) -> str:
    """Per task: its majority-class score, the single-task (`independent`) score over the seeds,
    the gap, the bootstrap standard error, whether single-task fine-tuning learns it (more than
    2 SE above majority) in every seed, and whether it clears majority + 10 points on validation
    in every seed (the default stream's bar)."""
    from benchmark.metrics import is_learned

    per_task: dict[str, list[tuple[dict, int]]] = defaultdict(list)
    for r in records:
        if r["run"]["strategy"] == "independent":
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


def tuned(records: list[dict]) -> str:
    """Default against tuned settings: one row per strategy, test scores over the seeds, with the
    tuned settings and the validation score that chose them."""
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
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


def _count(v: float | None) -> str:
    if v is None:
        return "-"
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if v >= size:
            return f"{v / size:.3g}{unit}"
    return f"{v:.0f}"


def reference(records: list[dict]) -> str:
    """The reference sweep: one row per strategy (settings as run), best normalised score first;
    raw and normalised final averages, forgetting and BWT with their 95% CIs over the seeds, what
    the strategy keeps per task, and the tasks single-task fine-tuning does not learn."""
    from benchmark.leaderboard import run_row

    rows = []
    groups = ranked(records, lambda r: r["run"]["strategy"])
    for name, rs in sorted(groups, key=lambda kv: -statistics.fmean(
            [r["metrics"].get("normalised_average") or 0.0 for r in kv[1]])):
        flat = [run_row(r) for r in rs]
        not_learned = sorted({t for f in flat for t in f["not_learned"].split(",") if t})
        rows.append([
            name, str(len(rs)), ci95([f["final_average"] for f in flat]),
            ci95([f["normalised_average"] for f in flat]), ci95([f["forgetting"] for f in flat]),
            ci95([f["bwt"] for f in flat]), _count(flat[0]["params_added_per_task"]),
            _count(statistics.fmean(f["kept_per_task"] for f in flat)),
            ", ".join(not_learned) or "-"])
    return table(["strategy", "seeds", "final avg (test)", "normalised", "forgetting", "BWT",
                  "params added per task", "kept per task", "not learned"], rows)


def _is_float(v) -> bool:
    try:
        float(v)
        return "." in str(v) or "e" in str(v)
    except (TypeError, ValueError):
        return False


KINDS = {"glue-small": glue_small, "samplers": samplers, "mtl-add": mtl_add, "text5": text5,
         "references": references, "tuned": tuned, "reference": reference}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=sorted(KINDS))
    p.add_argument("folders", nargs="+", help="folders of run JSONs")
    args = p.parse_args(argv)
    records, summaries = [], []
    for folder in args.folders:
        loaded = load_runs(folder, warn=lambda m: print(f"warning: {m}", file=sys.stderr))
        records += [record for _, record in loaded.runs]
        summaries.append(f"{folder}: {loaded.summary()}")
    if not records:
        print(f"error: no complete runs in {', '.join(args.folders)}", file=sys.stderr)
        return 2
    print(KINDS[args.kind](records))
    print(f"\n({'; '.join(summaries)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
