"""The leaderboard on hand-written run JSONs: aggregates equal hand-computed numbers, groups stay
apart, unfinished runs are counted and left out, foreign files give a warning."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from run_records import committed_runs, make_record, write

from benchmark.__main__ import main
from benchmark.leaderboard import aggregate
from benchmark.runs import load_runs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def elsewhere(tmp_path_factory, monkeypatch):
    """Commands write their default outputs into the current directory: a fresh one per test."""
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    return cwd


def metrics(final: float, forgetting: float | None = None, bwt: float | None = None,
            la: float = 0.8) -> dict:
    return {"final_average": final, "average_curve": [final], "forgetting": forgetting, "bwt": bwt,
            "learning_accuracy": la, "fwt": None}


def board_of(folder):
    loaded = load_runs(folder)
    return aggregate(loaded.frame), loaded


def test_means_and_stds_over_seeds_and_orders_are_the_hand_computed_ones(tmp_path):
    # finetune on glue-small: two seeds x two orders, with chosen numbers
    finals = {(0, "default"): 0.6, (1, "default"): 0.7, (0, "random-0"): 0.8, (1, "random-0"): 0.9}
    forgets = {(0, "default"): 0.10, (1, "default"): 0.20, (0, "random-0"): 0.30, (1, "random-0"): 0.40}
    walls = {(0, "default"): 100.0, (1, "default"): 200.0, (0, "random-0"): 300.0, (1, "random-0"): 400.0}
    for (seed, order), final in finals.items():
        tasks = ("sst2", "mrpc", "stsb", "rte") if order == "default" else ("rte", "sst2", "stsb", "mrpc")
        write(tmp_path, make_record("finetune", seed, order=order, tasks=tasks,
                                    metrics=metrics(final, forgets[seed, order], -forgets[seed, order]),
                                    params_per_task=50, backbone=10_000, wall_time_s=walls[seed, order]))
    board, loaded = board_of(tmp_path)
    assert len(loaded.frame) == 4 and len(board) == 1
    row = board.iloc[0]
    assert (row["n_runs"], row["n_seeds"], row["n_orders"], row["seeds"]) == (4, 2, 2, "0,1")
    # mean 0.75; sample std sqrt(((.15^2 + .05^2) * 2) / 3)
    assert row["final_average_mean"] == pytest.approx(0.75)
    assert row["final_average_std"] == pytest.approx(math.sqrt(0.05 / 3))
    assert row["forgetting_mean"] == pytest.approx(0.25)
    assert row["forgetting_std"] == pytest.approx(math.sqrt(0.05 / 3))
    assert row["bwt_mean"] == pytest.approx(-0.25)
    assert row["learning_accuracy_mean"] == pytest.approx(0.8) and row["learning_accuracy_std"] == 0
    assert row["wall_time_total_s_mean"] == pytest.approx(250.0)
    assert row["wall_time_total_s_std"] == pytest.approx(math.sqrt((150**2 + 50**2) * 2 / 3))
    # 4 tasks x 50 parameters on a 10,000-parameter backbone
    assert row["params_added_total_mean"] == 200 and row["params_added_per_task_mean"] == 50
    assert row["params_added_total_pct_mean"] == pytest.approx(2.0)
    assert row["params_added_per_task_pct_mean"] == pytest.approx(0.5)
    assert math.isnan(row["fwt_mean"])


def test_streams_models_scenarios_and_configs_stay_apart(tmp_path):
    cases = [  # (stream, model, scenario, strategy, config, final average)
        ("glue-small", "minilm", "task-incremental", "finetune", {}, 0.70),
        ("glue-small", "bert-base-uncased", "task-incremental", "finetune", {}, 0.80),
        ("text5", "minilm", "class-incremental", "finetune", {}, 0.30),
        ("text5", "minilm", "task-incremental", "finetune", {}, 0.90),
        ("glue-small", "minilm", "task-incremental", "ewc", {"ewc_lambda": 100.0}, 0.72),
        ("glue-small", "minilm", "task-incremental", "ewc", {"ewc_lambda": 1000.0}, 0.74),
    ]
    for seed in (0, 1):
        for stream, model, scenario, strategy, config, final in cases:
            tasks = ("yelp", "agnews", "dbpedia", "amazon", "yahoo") if stream == "text5" else ("sst2", "mrpc", "stsb", "rte")
            write(tmp_path / stream, make_record(strategy, seed, stream=stream, model=model, scenario=scenario,
                                                 tasks=tasks, strategy_config=config,
                                                 metrics=metrics(final + 0.01 * seed)))
    board, _ = board_of(tmp_path)
    assert len(board) == len(cases) and (board["n_runs"] == 2).all()
    got = {(r.stream, r.model, r.scenario, r.config): r.final_average_mean for r in board.itertuples()}
    for stream, model, scenario, strategy, config, final in cases:
        label = strategy if not config else f"ewc (ewc_lambda={config['ewc_lambda']})"
        assert got[stream, model, scenario, label] == pytest.approx(final + 0.005)
    # sorted by the setting (stream first), then final average, best first
    assert list(board["stream"]) == sorted(board["stream"])
    glue_minilm = board[(board["stream"] == "glue-small") & (board["model"] == "minilm")]
    assert list(glue_minilm["final_average_mean"]) == sorted(glue_minilm["final_average_mean"], reverse=True)


def test_other_recorded_run_settings_separate_groups_too(tmp_path, capsys):
    # a run JSON from before `sampler` existed groups with sampler = proportional
    variants = [({}, 0.50), ({"sampler": "proportional", "sampler_config": {}}, 0.70),
                ({"sampler": "temperature", "sampler_config": {"temperature": 5.0}}, 0.90),
                ({"mtl_tasks": 2}, 0.30)]
    for i, (extra, final) in enumerate(variants):
        write(tmp_path, make_record("joint", i, run_extra=extra, metrics=metrics(final)))
    board, _ = board_of(tmp_path)
    assert len(board) == 3
    assert sorted(board["final_average_mean"].round(6)) == [0.3, 0.6, 0.9]
    assert {"sampler", "sampler_config", "mtl_tasks"} <= set(board.columns)
    assert main(["leaderboard", str(tmp_path)]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[:4] == ["stream", "mtl_tasks", "sampler", "sampler_config"]  # they differ, so shown


def test_unfinished_runs_are_left_out_and_counted(tmp_path, capsys):
    write(tmp_path, make_record("finetune", 0, metrics=metrics(0.5)))
    write(tmp_path, make_record("finetune", 1, metrics=metrics(0.7)))
    write(tmp_path, make_record("finetune", 2, metrics=metrics(0.0), status="failed"))
    write(tmp_path, make_record("finetune", 3, metrics=metrics(0.0), status="running"))
    write(tmp_path, make_record("finetune", 4, metrics=metrics(0.0), status="interrupted"))
    write(tmp_path, make_record("joint", 0, metrics=metrics(0.0), status="failed"))
    board, loaded = board_of(tmp_path)
    assert dict(loaded.incomplete) == {"failed": 2, "running": 1, "interrupted": 1}
    assert len(board) == 1 and board.iloc[0]["n_runs"] == 2
    assert board.iloc[0]["final_average_mean"] == pytest.approx(0.6)
    assert main(["leaderboard", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "left out 4 unfinished (2 failed, 1 interrupted, 1 running)" in err


def test_foreign_and_malformed_files_give_one_warning_each(tmp_path, capsys, elsewhere):
    write(tmp_path, make_record("finetune", 0, metrics=metrics(0.5)))
    (tmp_path / "broken.json").write_text('{"run_id": ')
    (tmp_path / "package.json").write_text(json.dumps({"name": "something else"}))
    (tmp_path / "list.json").write_text("[1, 2]")
    bad = make_record("finetune", 1, metrics=metrics(0.5))
    del bad["cost"]["params_added"]
    write(tmp_path, bad, "half.json")
    short = make_record("finetune", 2, metrics=metrics(0.5))
    short["R"] = short["R"][:2]
    write(tmp_path, short, "short.json")
    assert main(["leaderboard", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    warnings = [ln for ln in captured.err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 5 and "Traceback" not in captured.err
    for name in ("broken.json", "package.json", "list.json", "half.json", "short.json"):
        assert sum(str(tmp_path / name) in w for w in warnings) == 1
    assert "finetune" in captured.out
    table = pd.read_csv(elsewhere / "leaderboard.csv")  # the default output: ./leaderboard.csv
    assert len(table) == 1 and table.loc[0, "n_runs"] == 1


def test_csv_and_markdown_output(tmp_path, capsys):
    for seed, final in ((0, 0.5), (1, 0.7)):
        write(tmp_path / "runs", make_record("finetune", seed, metrics=metrics(final, 0.1, -0.1)))
        write(tmp_path / "runs", make_record("joint", seed, plan=[[0, 1, 2, 3]], metrics=metrics(final + 0.2)))
    out = tmp_path / "board" / "lb.csv"
    assert main(["leaderboard", str(tmp_path / "runs"), "--format", "markdown", "--output", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| stream | model | strategy | runs | final avg |")
    assert lines[1].startswith("|:---|:---|:---|---:|")
    # normalised scores need an independent run, which this folder lacks: "-"
    assert lines[2].startswith("| glue-small | minilm | joint | 2 | 80.0 ± 14.1 | - | - |")
    assert lines[3].startswith("| glue-small | minilm | finetune | 2 | 60.0 ± 14.1 | - | 10.0 ± 0.0 |")
    table = pd.read_csv(out)
    for col in ("stream", "scenario", "model", "strategy", "config", "n_runs", "n_seeds", "n_orders",
                "final_average_mean", "final_average_std", "forgetting_mean", "bwt_std",
                "learning_accuracy_mean", "params_added_total_mean", "params_added_per_task_mean",
                "params_added_total_pct_mean", "state_floats_total_mean", "state_floats_per_task_mean",
                "memory_examples_total_mean", "memory_tokens_total_mean", "kept_per_task_mean",
                "cpu_time_total_s_mean", "wall_time_total_s_mean"):
        assert col in table.columns, col
    assert list(table["strategy"]) == ["joint", "finetune"]

    # a booktabs tabular for a paper: names left, numbers right, ± and % in LaTeX
    assert main(["leaderboard", str(tmp_path / "runs"), "--format", "latex", "--output", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == r"\begin{tabular}{lllrrrrrrrrrrrrrl}" and lines[1] == r"\toprule"
    assert lines[2].startswith(r"stream & model & strategy & runs & final avg & ") and r"\% backbone" in lines[2]
    assert lines[4].startswith(r"glue-small & minilm & joint & 2 & 80.0 $\pm$ 14.1 & - & - &")
    assert lines[5].startswith(r"glue-small & minilm & finetune & 2 & 60.0 $\pm$ 14.1 & - & 10.0 $\pm$ 0.0 &")
    assert lines[-2:] == [r"\bottomrule", r"\end{tabular}"] and "±" not in "".join(lines)


def test_a_folder_without_complete_runs_is_one_line_and_exit_2(tmp_path, capsys):
    write(tmp_path, make_record("finetune", 0, metrics=metrics(0.0), status="failed"))
    assert main(["leaderboard", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no complete runs") and "1 failed" in err and err.count("\n") == 1
    assert main(["leaderboard", str(tmp_path / "nowhere")]) == 2
    assert "no results folder" in capsys.readouterr().err


def test_per_task_caps_separate_groups_and_old_runs_count_as_none(tmp_path):
    # a run JSON from before per-task caps groups with an empty max_train_by_task
    variants = [({}, 0.50), ({"max_train_by_task": {}, "max_eval_by_task": {}}, 0.70),
                ({"max_train_by_task": {"rte": 250}, "max_eval_by_task": {}}, 0.90)]
    for i, (extra, final) in enumerate(variants):
        write(tmp_path, make_record("joint", i, run_extra=extra, metrics=metrics(final)))
    board, _ = board_of(tmp_path)
    assert sorted(zip(board["max_train_by_task"], board["final_average_mean"].round(6))) == [
        ('{"rte": 250}', 0.9), ("{}", 0.6)]


def test_kept_per_task_counts_parameters_state_and_replay_tokens(tmp_path):
    # 4 tasks: 100 parameters per task, 8,000 state floats and 400 examples of 30 tokens kept
    write(tmp_path, make_record("ewc", 0, params_per_task=100, state_floats=8_000))
    write(tmp_path, make_record("replay", 0, params_per_task=100, memory_examples=400, memory_tokens=12_000))
    old = make_record("agem", 0, params_per_task=100, memory_examples=400)
    del old["cost"]["memory_tokens"]  # a record from before memory_tokens: examples x mean length
    write(tmp_path, old)
    board = {r.strategy: r for r in board_of(tmp_path)[0].itertuples()}
    assert board["ewc"].state_floats_total_mean == 8_000 and board["ewc"].state_floats_per_task_mean == 2_000
    assert board["ewc"].kept_per_task_mean == 100 + 8_000 / 4
    assert board["replay"].memory_tokens_total_mean == 12_000
    assert board["replay"].kept_per_task_mean == 100 + 12_000 / 4
    assert not board["replay"].memory_tokens_estimated
    # make_record's phases see 1,000 examples and 40,000 tokens each: 40 tokens per example
    assert board["agem"].memory_tokens_total_mean == 400 * 40 and board["agem"].memory_tokens_estimated
    assert board["agem"].kept_per_task_mean == 100 + 400 * 40 / 4


def test_time_is_cpu_time_where_recorded_else_wall_time_marked(tmp_path, capsys):
    write(tmp_path / "cpu", make_record("finetune", 0, wall_time_s=300.0, cpu_time_s=120.0))
    assert main(["leaderboard", str(tmp_path / "cpu")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "CPU s per stream" in out[0] and "wall" not in out[0] and out[1].split()[-2] == "120"
    write(tmp_path / "wall", make_record("finetune", 0, wall_time_s=300.0))
    assert main(["leaderboard", str(tmp_path / "wall")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "wall s per stream (load-dependent)" in out[0] and out[1].split()[-2] == "300"
    write(tmp_path / "both", make_record("finetune", 0, wall_time_s=300.0, cpu_time_s=120.0))
    write(tmp_path / "both", make_record("joint", 0, wall_time_s=200.0, plan=[[0, 1, 2, 3]]))
    assert main(["leaderboard", str(tmp_path / "both"), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| time s per stream |" in out and "| 120 CPU |" in out and "| 200 wall (load-dependent) |" in out


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_leaderboard_and_plot_leave_the_input_folder_unchanged(tmp_path, elsewhere, capsys):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        write(runs, make_record("finetune", seed))
        write(runs, make_record("joint", seed, plan=[[0, 1, 2, 3]]))
    before = snapshot(runs)
    assert main(["leaderboard", str(runs)]) == 0
    assert main(["plot", str(runs)]) == 0
    assert snapshot(runs) == before
    assert (elsewhere / "leaderboard.csv").is_file()  # the defaults: ./leaderboard.csv and ./figures
    assert sorted(p.name for p in (elsewhere / "figures").iterdir()) == [
        "forgetting_glue-small_minilm.png", "heatmap_glue-small_minilm.png", "pareto_glue-small_minilm.png",
        "stream_glue-small_minilm.png"]
    # run from inside the results folder, the defaults would land in it: refused, unless asked
    capsys.readouterr()
    import os
    os.chdir(runs)
    assert main(["leaderboard", "."]) == 2 and main(["plot", str(runs)]) == 2
    err = capsys.readouterr().err
    assert "--output" in err and "--out" in err and snapshot(runs) == before
    assert main(["leaderboard", ".", "--output", "board.csv"]) == 0 and (runs / "board.csv").is_file()


@pytest.mark.parametrize("runs, csv", [("mixed4", "leaderboard.csv"), ("glue-small", "leaderboard-glue-small.csv")])
def test_the_committed_leaderboards_rebuild_byte_for_byte(elsewhere, tmp_path, runs, csv):
    """results/README.md's commands, run on the committed runs, give the committed CSVs."""
    committed = REPO / "results" / csv
    out = elsewhere / csv
    assert main(["leaderboard", str(committed_runs(REPO / "results" / "runs" / runs, tmp_path)),
                 "--output", str(out)]) == 0
    assert out.read_bytes() == committed.read_bytes()
    readme = (REPO / "results" / "README.md").read_text()
    assert f"python -m benchmark leaderboard results/runs/{runs} --output results/{csv}" in readme


def test_scores_carry_the_half_width_of_their_95_percent_interval(tmp_path):
    # final averages 0.70, 0.72, 0.74: mean 0.72, sd 0.02, t(0.975, 2) = 4.3027: 4.3027 * 0.02 / sqrt(3) = 0.04968
    for seed, final in enumerate((0.70, 0.72, 0.74)):
        write(tmp_path, make_record("finetune", seed, metrics=metrics(final, 0.1 * seed)))
    write(tmp_path, make_record("ewc", 0, metrics=metrics(0.6, 0.05)))  # one run: no interval
    board = aggregate(load_runs(tmp_path).frame).set_index("strategy")
    assert board.loc["finetune", "final_average_ci95"] == pytest.approx(4.302653 * 0.02 / math.sqrt(3), rel=1e-5)
    # forgetting 0, 0.1, 0.2: sd 0.1
    assert board.loc["finetune", "forgetting_ci95"] == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)
    assert math.isnan(board.loc["ewc", "final_average_ci95"])
    assert "cpu_time_total_s_ci95" not in board.columns  # costs keep mean and std only
    cols = list(board.columns)
    assert cols.index("final_average_ci95") == cols.index("final_average_std") + 1


def test_baseline_gives_differences_paired_by_seed_and_order(tmp_path, capsys, elsewhere):
    """--baseline finetune: each group's scores minus finetune's on the same seed (and order,
    and setting); a seed finetune lacks and another scenario's runs have no pair."""
    for seed, (ft, ewc, ewc_forgets) in enumerate([(0.70, 0.73, 0.05), (0.72, 0.76, 0.05), (0.74, 0.75, 0.02)]):
        write(tmp_path, make_record("finetune", seed, metrics=metrics(ft, 0.10)))
        write(tmp_path, make_record("ewc", seed, metrics=metrics(ewc, ewc_forgets)))
    write(tmp_path, make_record("ewc", 3, metrics=metrics(0.10, 0.5)))  # no finetune seed 3: no pair
    write(tmp_path, make_record("ewc", 0, scenario="class-incremental", metrics=metrics(0.3, 0.4)))
    assert main(["leaderboard", str(tmp_path), "--baseline", "finetune", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    board = pd.read_csv(elsewhere / "leaderboard.csv")
    ewc = board[(board["strategy"] == "ewc") & (board["scenario"] == "task-incremental")].iloc[0]
    # differences 0.03, 0.04, 0.01: mean 0.02667, sd 0.015275, t(0.975, 2) 4.302653
    assert ewc["final_average_minus_baseline_mean"] == pytest.approx(0.08 / 3)
    assert ewc["final_average_minus_baseline_ci95"] == pytest.approx(4.302653 * 0.015275 / math.sqrt(3), rel=1e-4)
    assert ewc["final_average_minus_baseline_n"] == 3 and ewc["n_runs"] == 4 and ewc["baseline"] == "finetune"
    assert ewc["forgetting_minus_baseline_mean"] == pytest.approx(-0.06)  # -0.05, -0.05, -0.08
    # paired t: 0.02667 / (0.015275 / sqrt 3) = 3.0237 on 2 degrees of freedom, whose two-sided
    # p is 1 - t / sqrt(2 + t^2) = 0.0942; the only comparison of its setting, so q = p
    t = (0.08 / 3) / (0.015275 / math.sqrt(3))
    assert ewc["final_average_minus_baseline_p"] == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-3)
    assert ewc["final_average_minus_baseline_q"] == ewc["final_average_minus_baseline_p"]
    base = board[board["strategy"] == "finetune"].iloc[0]
    assert math.isnan(base["final_average_minus_baseline_p"])  # the baseline is no comparison
    other = board[board["scenario"] == "class-incremental"].iloc[0]
    assert other["final_average_minus_baseline_n"] == 0 and math.isnan(other["final_average_minus_baseline_mean"])
    header, _, *rows = out.splitlines()
    cells = {(c[2], c[4]): c for c in ([c.strip() for c in r.split("|")] for r in rows)}  # scenario, strategy
    col = [c.strip() for c in header.split("|")].index("final avg minus finetune (paired)")
    assert cells["class-incremental", "ewc"][col] == "-"
    assert cells["task-incremental", "ewc"][col] == "2.7 ± 3.8 (3)"
    assert cells["task-incremental", "finetune"][col] == "(baseline)"


def test_a_baseline_without_runs_or_with_two_configs_is_one_line_and_exit_2(tmp_path, capsys):
    write(tmp_path, make_record("finetune", 0, metrics=metrics(0.7, 0.1)))
    assert main(["leaderboard", str(tmp_path), "--baseline", "replay"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: --baseline replay: no complete run of it in these results; give one of: finetune"
    write(tmp_path, make_record("finetune", 0, strategy_config={"lr": 3e-5}, metrics=metrics(0.6, 0.1)))
    assert main(["leaderboard", str(tmp_path), "--baseline", "finetune"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "one setting holds several configs of it: " in err
    assert ": finetune (lr=0.0001), finetune (lr=3e-05); name one of those labels" in err
    assert main(["leaderboard", str(tmp_path), "--baseline", "finetune (lr=3e-05)"]) == 0


def test_benjamini_hochberg_adjusts_one_family_by_hand():
    from benchmark.leaderboard import benjamini_hochberg, paired_p

    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): p * m / rank = 0.04, 0.06, 0.0533, 0.5, then each the
    # smallest of itself and those above it: 0.04, 0.0533, 0.0533, 0.5
    q = benjamini_hochberg(pd.Series([0.01, 0.04, float("nan"), 0.03, 0.5]))
    assert list(q[[0, 1, 3, 4]]) == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5]) and math.isnan(q[2])
    assert paired_p([0.1, 0.1, 0.1]) == 0.0 and paired_p([0.0, 0.0]) == 1.0 and math.isnan(paired_p([0.3]))
