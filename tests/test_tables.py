"""results/tables.py: the reference table's 95% confidence intervals, worked by hand."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("tables", Path(__file__).parents[1] / "results" / "tables.py")
tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tables)


@pytest.mark.parametrize("values, expected", [
    # mean 72.0, sd 2.0, t(0.975, 2) = 4.3027: 4.3027 * 2 / sqrt(3) = 4.97
    ([0.70, 0.72, 0.74], "72.0 ± 5.0"),
    # mean 50.0, sd sqrt(62.5) = 7.906, t(0.975, 4) = 2.7764: 2.7764 * 7.906 / sqrt(5) = 9.82
    ([0.40, 0.45, 0.50, 0.55, 0.60], "50.0 ± 9.8"),
    ([0.81], "81.0 (1 seed)"),
    ([None, None], "-"),
])
def test_ci95_is_student_t_over_the_seeds(values, expected):
    assert tables.ci95(values) == expected


def test_reference_tasks_gives_each_task_final_and_just_learned_score_over_the_seeds(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from run_records import make_record, write

    from benchmark.runs import load_frames

    tasks = ("sst2", "agnews")
    write(tmp_path, make_record("finetune", 0, tasks=tasks, R=[[0.80, None], [0.70, 0.90]], cpu_time_s=100.0))
    write(tmp_path, make_record("finetune", 1, tasks=tasks, R=[[0.84, None], [0.76, 0.86]], cpu_time_s=300.0))
    write(tmp_path, make_record("joint", 0, tasks=tasks, R=[[0.82, 0.92]], plan=[[0, 1]]))
    df, _ = load_frames([tmp_path])
    lines = tables.reference_tasks(df).splitlines()
    assert lines[0] == "| strategy | seeds | sst2: final (just learned) | agnews: final (just learned) |"
    # finetune: sst2 final (70 + 76) / 2 = 73.0, just learned (80 + 84) / 2 = 82.0; agnews 88.0 both
    assert "| finetune | 2 | 73.0 (82.0) | 88.0 (88.0) |" in lines
    assert "| joint | 1 | 82.0 (82.0) | 92.0 (92.0) |" in lines  # one phase: final is just learned
    # the reference table's cost: mean CPU s per run, and the sweep's total
    ref = tables.reference(df)
    assert "| 200 |" in next(line for line in ref.splitlines() if line.startswith("| finetune"))
    # joint's final average (82 + 92) / 2 = 87.0, minus finetune's on seed 0, (70 + 90) / 2 = 80.0
    assert next(line for line in ref.splitlines() if line.startswith("| joint")).startswith(
        "| joint | 1 | 87.0 (1 seed) | 7.0 (1 seed) | - |")  # one pair: no t-test, no q
    assert ref.splitlines()[-1].startswith("3 runs: ")


def test_orderings_pair_the_seeds_and_say_which_ordering_holds(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from run_records import make_record, write

    from benchmark.runs import load_frames

    tasks = ("sst2", "agnews")
    # forgetting (Chaudhry, two tasks): the first task's drop. finetune 10, 6, 8; replay 2, 0, 1:
    # paired differences -8, -6, -7: mean -7.0, sd 1.0, t(0.975, 2) = 4.3027: ± 2.5, excludes 0 (*)
    for seed, (ft, rp) in enumerate([(0.70, 0.78), (0.74, 0.80), (0.72, 0.79)]):
        write(tmp_path, make_record("finetune", seed, tasks=tasks, R=[[0.8, None], [ft, 0.9]]))
        write(tmp_path, make_record("replay", seed, tasks=tasks, R=[[0.8, None], [rp, 0.9]]))
    write(tmp_path, make_record("ewc", 0, tasks=tasks, R=[[0.8, None], [0.65, 0.9]]))  # forgets 15: +5
    write(tmp_path, make_record("head-only", 0, tasks=tasks, R=[[0.8, None], [0.8, 0.94]]))  # final 87
    write(tmp_path, make_record("joint", 0, tasks=tasks, R=[[0.8, 0.9]], plan=[[0, 1]]))  # final 85
    df, _ = load_frames([tmp_path])
    rows = tables.orderings(df).splitlines()[2:]
    assert rows == [
        "| finetune forgets most | no: 1 of 3 forget more | forgetting minus finetune's: ewc 5.0 (1 seed) |",
        "| replay forget less than finetune | yes | forgetting minus finetune's: replay -7.0 ± 2.5 (3 seeds) * |",
        "| ewc forget less than finetune | no | forgetting minus finetune's: ewc 5.0 (1 seed) |",
        "| frozen-backbone patches forget nothing | yes | 1 of 1 exactly 0 in every run |",
        "| joint on top (raw final average) | no: 1 above | minus joint's: head-only 2.0 (1 seed) |",
    ]  # no normalised row: these runs have no single-task references


def test_orders_gives_each_order_and_orderings_pair_by_seed_and_order(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from run_records import make_record, with_scores, write

    from benchmark.runs import load_frames

    # two tasks, two orders x two seeds; finetune forgets the first task (0.8 -> ft), replay less
    cases = {("1", 0): (0.70, 0.78), ("1", 1): (0.74, 0.80), ("2", 0): (0.60, 0.66), ("2", 1): (0.64, 0.70)}

    def with_se(record, se):  # each score's standard error, and majority scores of 0.7 (first) and 0.2
        return with_scores(record, (se, se), (0.7, 0.2))

    for (order, seed), (ft, rp) in cases.items():
        tasks = ("yelp", "agnews") if order == "1" else ("agnews", "yelp")
        # the first task's 0.8 when just learned is 0.1 above majority: learned when the SE is 0.04
        # (finetune seed 0: 2 SE = 0.08 < 0.1), not when it is 0.06 (seed 1: 0.12 > 0.1)
        write(tmp_path, with_se(make_record("finetune", seed, stream="text5", scenario="class-incremental",
                                            order=order, tasks=tasks, R=[[0.8, None], [ft, 0.9]], cpu_time_s=100.0),
                                0.04 if seed == 0 else 0.06))
        write(tmp_path, make_record("replay", seed, stream="text5", scenario="class-incremental", order=order,
                                    tasks=tasks, R=[[0.8, None], [rp, 0.9]], cpu_time_s=300.0))
    df, _ = load_frames([tmp_path])
    lines = tables.orders(df).splitlines()
    assert lines[0] == ("| strategy | scenario | runs | final avg | normalised | order 1 | order 2 | spread over orders | "
                        "forgetting | not learned (single-task) | not learned when trained | CPU s per run |")
    # replay: finals (78+90)/2 = 84, (80+90)/2 = 85 (order 1: 84.5); 78, 80 (order 2: 79.0); spread 5.5.
    # All four: mean 81.75; sd of 84, 85, 78, 80 = 3.304; t(0.975, 3) = 3.1824: ± 5.26.
    # Forgetting 2, 0 (order 1), 14, 10 (order 2): mean 6.5, sd sqrt(131 / 3) = 6.608: ± 10.5
    # (no single-task references in this folder: no normalised score, no single-task flags)
    assert lines[2] == "| replay | class-incremental | 4 | 81.8 ± 5.3 | - | 84.5 | 79.0 | 5.5 | 6.5 ± 10.5 | - | - | 300 |"
    # finetune: finals 80, 82 (81.0); 75, 77 (76.0); forgetting 10, 6, 20, 16: mean 13.0
    assert lines[3].startswith("| finetune | class-incremental | 4 | 78.5 ± ") and "| 81.0 | 76.0 | 5.0 | 13.0 ± " in lines[3]
    # seed 1's first task (yelp in order 1, agnews in order 2) is not clearly above majority
    assert lines[3].endswith("| - | yelp (1 of 4), agnews (1 of 4) | 100 |")
    assert lines[-1].startswith("8 runs: ")
    # paired by (seed, order): replay's forgetting minus finetune's: -8, -6, -6, -6: mean -6.5,
    # sd 1.0, ± 3.1824 * 1.0 / 2 = 1.6: excludes 0
    # a task-incremental run does not pair with a class-incremental one: adapters' 95 is not above joint
    write(tmp_path, make_record("joint", 0, stream="text5", scenario="class-incremental", order="1",
                                tasks=("yelp", "agnews"), R=[[0.85, 0.85]], plan=[[0, 1]]))
    write(tmp_path, make_record("adapters", 0, stream="text5", scenario="task-incremental", order="1",
                                tasks=("yelp", "agnews"), R=[[0.95, None], [0.95, 0.95]]))
    write(tmp_path, make_record("head-only", 0, stream="text5", scenario="class-incremental", order="1",
                                tasks=("yelp", "agnews"), R=[[0.9, None], [0.9, 0.9]]))
    df, _ = load_frames([tmp_path])
    rows = tables.orderings(df).splitlines()
    assert "| joint on top (raw final average) | no: 1 above | minus joint's: head-only 5.0 (1 run) |" in rows
    assert rows[0].endswith("| numbers (x100, paired by seed and order, mean ± 95% CI) |")
    assert "| replay forget less than finetune | yes | forgetting minus finetune's: replay -6.5 ± 1.6 (4 runs) * |" in rows


def test_orders_normalises_by_independent_runs_in_any_folder_and_either_scenario(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from run_records import make_record, with_scores, write

    from benchmark.runs import load_frames

    tasks = ("yelp", "agnews")
    ci, ti = tmp_path / "class-incremental", tmp_path / "task-incremental"

    def scored(record, ses):  # standard errors per task, majority scores 0.2 (yelp) and 0.55 (agnews)
        return with_scores(record, ses, (0.2, 0.55))

    # single-task: yelp 0.9 (learned: 0.7 above majority), agnews 0.6 (0.05 above, 2 SE = 0.08: not learned)
    write(ti, scored(make_record("independent", 0, stream="text5", order="1", tasks=tasks,
                                 R=[[0.9, None], [0.9, 0.6]]), (0.02, 0.04)))
    for order in ("1", "2"):
        write(ti, scored(make_record("adapters", 0, stream="text5", order=order, tasks=tasks,
                                     R=[[0.95, None], [0.95, 0.7]]), (0.02, 0.04)))
    # a class-incremental run, in the other folder: a single task has no scenario, so the
    # task-incremental independent run is its reference too
    write(ci, scored(make_record("finetune", 0, stream="text5", scenario="class-incremental", order="1",
                                 tasks=tasks, R=[[0.9, None], [0.55, 0.7]]), (0.02, 0.04)))
    # another seed's independent run is no reference (the seed is matched)
    write(ci, scored(make_record("finetune", 1, stream="text5", scenario="class-incremental", order="1",
                                 tasks=tasks, R=[[0.9, None], [0.55, 0.7]]), (0.02, 0.04)))
    df, _ = load_frames([ci, ti])
    rows = [line for line in tables.orders(df).splitlines()[2:] if line.startswith("| ")]
    by = {(r.split(" | ")[0][2:], r.split(" | ")[2]): r for r in rows}
    # adapters: normalised over the learned task only, (0.95 - 0.2) / (0.9 - 0.2) = 1.0714; agnews flagged
    assert by["adapters", "2"].startswith("| adapters | task-incremental | 2 | 82.5 ± 0.0 | 107.1 ± 0.0 | 82.5 | 82.5 | 0.0 |")
    assert by["adapters", "2"].endswith("| agnews | - | - |")
    assert by["independent", "1"].startswith("| independent | task-incremental | 1 | 75.0 (1 seed) | 100.0 (1 seed) |")
    # finetune: final (0.55 + 0.7) / 2 = 62.5 over both seeds; normalised only for seed 0, from
    # yelp: (0.55 - 0.2) / 0.7 = 0.5; forgetting 35 in both; agnews flagged by seed 0's reference
    assert by["finetune", "2"] == ("| finetune | class-incremental | 2 | 62.5 ± 0.0 | 50.0 (1 seed) | 62.5 | - | - | "
                                   "35.0 ± 0.0 | agnews | - | - |")


def test_update_rewrites_only_the_generated_blocks():
    text = "\n".join(["intro", "<!-- results/tables.py orders runs/a runs/b -->", "", "| stale |", "",
                      tables.END, "prose | with a bar", "<!-- results/tables.py reference runs/a -->", tables.END, ""])
    calls = []

    def fake(kind, folders):
        calls.append((kind, folders))
        return f"| {kind} |\n|---|\n| {len(folders)} folders |"

    out = tables.update_text(text, fake)
    assert calls == [("orders", ["runs/a", "runs/b"]), ("reference", ["runs/a"])]
    assert out.split("\n") == [
        "intro", "<!-- results/tables.py orders runs/a runs/b -->", "", "| orders |", "|---|", "| 2 folders |", "",
        tables.END, "prose | with a bar", "<!-- results/tables.py reference runs/a -->", "", "| reference |", "|---|",
        "| 1 folders |", "", tables.END, ""]
    assert tables.update_text(out, fake) == out  # up to date: unchanged
    with pytest.raises(ValueError, match="no '<!-- end of generated table -->'"):
        tables.update_text("<!-- results/tables.py orders runs/a -->\n| x |\n", fake)
    with pytest.raises(ValueError, match="unknown table kind 'nope'"):
        tables.update_text(f"<!-- results/tables.py nope runs/a -->\n{tables.END}\n", fake)


def test_the_docs_tables_are_what_the_committed_runs_give(tmp_path):
    """README.md and docs/: every generated table (between '<!-- results/tables.py KIND
    FOLDER... -->' and its end line) is what that command prints from the runs git tracks, so a
    table in the docs cannot drift from the runs. `python results/tables.py update README.md
    docs/*.md` rewrites them."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from run_records import committed_runs

    repo = Path(__file__).resolve().parents[1]
    copies: dict[str, Path] = {}

    def from_committed(kind, folders):
        for f in folders:
            if f not in copies:
                copies[f] = committed_runs(repo / f, tmp_path / str(len(copies)))
        return tables.render(kind, [copies[f] for f in folders])[0]

    blocks = 0
    for name in ("README.md", "docs/results.md", "docs/default-stream.md"):
        text = (repo / name).read_text()
        blocks += text.count(tables.END)
        assert tables.update_text(text, from_committed) == text, (
            f"{name}: a generated table differs from the committed runs; run "
            "`python results/tables.py update README.md docs/*.md` and commit the runs it reads")
    assert blocks >= 17


def test_update_command_writes_the_tables_and_refuses_bad_input_in_one_line(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from run_records import make_record, write

    for seed in (0, 1):
        write(tmp_path / "runs" / "a", make_record("finetune", seed))
    doc = tmp_path / "doc.md"
    doc.write_text(f"# t\n<!-- results/tables.py reference runs/a -->\n| old |\n{tables.END}\nend\n")
    assert tables.main(["update", "doc.md", "--root", str(tmp_path), "--check"]) == 1
    assert "| old |" in doc.read_text()  # --check writes nothing
    assert tables.main(["update", "doc.md", "--root", str(tmp_path)]) == 0
    text = doc.read_text()
    assert "| old |" not in text and "| finetune | 2 |" in text and text.endswith(f"{tables.END}\nend\n")
    assert tables.main(["update", "doc.md", "--root", str(tmp_path), "--check"]) == 0
    capsys.readouterr()
    doc.write_text(f"<!-- results/tables.py reference runs/missing -->\n{tables.END}\n")
    before = doc.read_text()
    assert tables.main(["update", "doc.md", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: doc.md: ") and "runs/missing" in err and err.count("\n") == 1
    assert doc.read_text() == before


def test_reference_rows_rank_by_the_normalised_scores_that_exist(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from run_records import make_record, write

    from benchmark.runs import load_frames

    def with_normalised(record, value):
        record["metrics"]["normalised_average"] = value
        return record

    # adapters: 1.05 and 1.07 on seeds 0-1, and seed 2 before its single-task reference exists
    # (None): its mean is 1.06, above bitfit's 1.0 on three seeds; a run without a reference must
    # not count as 0 (that would give adapters 0.71 and put it below bitfit)
    for seed, value in enumerate((1.05, 1.07, None)):
        write(tmp_path, with_normalised(make_record("adapters", seed), value))
        write(tmp_path, with_normalised(make_record("bitfit", seed), 1.0))
    write(tmp_path, with_normalised(make_record("ewc", 0), None))  # none at all: last
    df, _ = load_frames([tmp_path])
    assert [name for name, _ in tables.by_normalised(df)] == ["adapters", "bitfit", "ewc"]
    assert "| adapters | 3 | " in tables.reference(df) and "| 106.0 ± 12.7 |" in tables.reference(df)
