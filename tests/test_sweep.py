"""Sweeps on the synthetic tasks: every combination runs, a rerun skips them, a failed run is
recorded and the sweep goes on; grids from files and the command line; seeded task orders."""

import os
import re
from pathlib import Path

import pytest
from run_records import lock_held

from benchmark.__main__ import build_parser, main
from benchmark.errors import UsageError
from benchmark.results import read_run
from benchmark.runconfig import RunConfig, resolve
from benchmark.runner import Runner, run
from benchmark.sweep import PlannedRun, grid_from_args, load_grid, plan
from benchmark.tasks import STREAMS
from strategies.finetune import Finetune

TASKS2 = "syn_red,syn_blue"


@pytest.fixture
def tiny(tiny_model, synthetic_tasks, tmp_path):
    """Flags for small, fast runs (32 examples per task, one epoch)."""
    return ["--model", str(tiny_model), "--max-train", "32", "--max-eval", "32", "--max-length", "32",
            "--batch-size", "16", "--lr", "3e-3", "--output-dir", str(tmp_path / "out"), "--quiet"]


def test_a_run_another_sweep_holds_is_skipped_not_failed(tiny, tmp_path, capsys):
    """Two sweeps over one folder (two people, two lanes): a run the other process is running is
    skipped, with no JSON written for it, and the sweep neither fails nor exits 1."""
    argv = ["sweep", "--strategies", "finetune", "--seeds", "0,1", "--orders", "1", "--tasks", TASKS2, *tiny]
    busy = planned(argv[1:])[1]
    with lock_held(tmp_path / "out", busy.run_id):
        assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"finetune seed 1 order random-0: skipped, in progress in another process (run {busy.run_id} is in " \
           f"progress in process {os.getpid()})" in out
    assert "sweep done: 1 complete, 0 skipped (already complete), 1 in progress in another process, 0 failed" in out
    assert "in progress in another process: finetune seed 1 order random-0 (that process finishes them" in out
    assert not busy.path.exists() and len(list((tmp_path / "out").glob("*.json"))) == 1
    assert main(argv) == 0  # free again: the rerun makes it
    assert read_run(busy.path)["status"] == "complete"


def planned(argv: list[str]):
    grid, run_args, cli = grid_from_args(build_parser().parse_args(["sweep", *argv]))
    return plan(grid, run_args, cli)


def test_a_grid_runs_every_combination_then_skips_them(tiny, tmp_path, capsys, make_config):
    argv = ["sweep", "--strategies", "finetune,joint", "--seeds", "0,1", "--orders", "1", "--tasks", TASKS2, *tiny]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 runs (2 strategy settings x 2 seeds x 1 orders)" in out
    assert out.count(": complete in ") == 4
    assert "sweep done: 4 complete, 0 skipped (already complete), 0 failed" in out
    # after each run, what is left and (from the complete runs of the same setting) its CPU time
    left = [line for line in out.splitlines() if line.startswith("  left in this sweep: ")]
    assert [line.split(": ")[1].split(",")[0].split(";")[0] for line in left] == ["3 runs", "2 runs", "1 run"]
    assert left[0].endswith("for 1 of them (the median CPU time of each phase in this sweep's complete runs "
                            "of the same strategy setting); 2 without a complete run of their setting to go by")
    assert ", about " in left[1] and "without" not in left[1] + left[2]
    records = [read_run(p) for p in sorted((tmp_path / "out").glob("*.json"))]
    assert len(records) == 4 and all(r["status"] == "complete" for r in records)
    assert {(r["run"]["strategy"], r["run"]["seed"]) for r in records} == {
        ("finetune", 0), ("finetune", 1), ("joint", 0), ("joint", 1)}
    # order seed 0 for every run seed: the same permutation (run seed 1 alone would swap the tasks)
    assert {r["run"]["order"] for r in records} == {"random-0"}
    assert {tuple(r["tasks"]) for r in records} == {("syn_red", "syn_blue")}
    assert resolve(RunConfig(tasks=TASKS2.split(","), order="random", seed=1)).tasks == ["syn_blue", "syn_red"]
    assert not list((tmp_path / "out" / "checkpoints").rglob("phase-*"))

    before = {p.name: p.read_text() for p in (tmp_path / "out").glob("*.json")}
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("skipped, already complete") == 4
    assert "sweep done: 0 complete, 4 skipped (already complete), 0 failed" in out
    assert {p.name: p.read_text() for p in (tmp_path / "out").glob("*.json")} == before
    assert main([*argv, "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "nothing to do: every run is complete"
    # a third seed: each new run is expected to take the CPU time of the two complete ones' median
    assert main([*argv[:4], "0,1,2", *argv[5:], "--dry-run"]) == 0
    out = capsys.readouterr().out
    cpu = {s: sorted(r["cost"]["cpu_time_s"] for r in records if r["run"]["strategy"] == s)
           for s in ("finetune", "joint")}
    for s in ("finetune", "joint"):  # the median of two is their mean (phase by phase, summed)
        (line,) = [x for x in out.splitlines() if x.startswith(f"  {s} seed 2")]
        assert f"new, about {sum(cpu[s]) / 2:,.0f} CPU s -> " in line
    assert "to do: 2 runs, about " in out.splitlines()[-1]

    # runs share one process: the second seed's run equals the same run made on its own
    (seed1,) = [r for r in records if r["run"]["strategy"] == "finetune" and r["run"]["seed"] == 1]
    alone = run(make_config(tasks=TASKS2.split(","), seed=1, order="random", order_seed=0, epochs=1,
                            max_train=32, max_eval=32, output_dir=str(tmp_path / "alone"),
                            val_size=500))  # the command line's default
    assert alone["R"] == seed1["R"] and alone["run_id"] == seed1["run_id"]


def test_jobs_run_side_by_side_with_the_same_results_in_seed_major_order(tiny, tmp_path, capsys):
    argv = ["sweep", "--strategies", "finetune,head-only", "--seeds", "0,1", "--tasks", TASKS2, *tiny]
    assert [r.label.split(" order")[0] for r in planned(argv[1:])] == [
        "finetune seed 0", "head-only seed 0", "finetune seed 1", "head-only seed 1"]
    assert main([*argv, "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count(": complete in ") == 4 and "0 failed" in out
    parallel = {p.name: read_run(p)["R"] for p in (tmp_path / "out").glob("*.json")}
    assert main([*argv, "--output-dir", str(tmp_path / "one")]) == 0
    assert {p.name: read_run(p)["R"] for p in (tmp_path / "one").glob("*.json")} == parallel
    assert main([*argv, "--jobs", "0"]) == 2
    assert "--jobs must be >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_failed_run_is_recorded_and_the_sweep_goes_on(tiny, tmp_path, capsys, monkeypatch, jobs):
    original = Finetune.after_task

    def fail_for_seed_0(self, phase):
        if self.ctx.seed == 0 and phase.index == 1:
            raise RuntimeError("disk on fire")
        original(self, phase)

    monkeypatch.setattr(Finetune, "after_task", fail_for_seed_0)
    argv = ["sweep", "--strategies", "finetune", "--seeds", "0,1", "--tasks", TASKS2, *tiny, "--jobs", jobs]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "seed 0 order default: FAILED after" in out and "RuntimeError: disk on fire" in out
    assert "sweep done: 1 complete, 0 skipped (already complete), 1 failed" in out
    by_seed = {r["run"]["seed"]: r for r in map(read_run, (tmp_path / "out").glob("*.json"))}
    assert by_seed[0]["status"] == "failed" and "disk on fire" in by_seed[0]["error"]
    assert len(by_seed[0]["R"]) == 1  # the phase before the failure is kept
    assert by_seed[1]["status"] == "complete"
    # the same sweep again, fixed: the failed run resumes after its last phase, the other is skipped
    monkeypatch.setattr(Finetune, "after_task", original)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "resumed from failed" in out and "1 complete, 1 skipped" in out
    by_seed = {r["run"]["seed"]: r for r in map(read_run, (tmp_path / "out").glob("*.json"))}
    assert by_seed[0]["status"] == "complete" and len(by_seed[0]["R"]) == 2


def test_a_run_another_process_completes_meanwhile_is_skipped_not_rerun(tiny, tmp_path, capsys, monkeypatch):
    import shutil

    from benchmark import sweep

    argv = ["sweep", "--strategies", "finetune", "--tasks", TASKS2, *tiny]
    other = [*argv[:-3], "--output-dir", str(tmp_path / "other"), "--quiet"]
    assert argv[-3] == "--output-dir" and main([*other, "--seeds", "1"]) == 0  # "another process"
    (done,) = (tmp_path / "other").glob("*.json")
    original = Finetune.after_task

    def finish_seed_1_elsewhere(self, phase):  # while seed 0 runs, the other process finishes seed 1
        if self.ctx.seed == 0 and not (tmp_path / "out" / done.name).exists():
            shutil.copy(done, tmp_path / "out" / done.name)
        original(self, phase)

    monkeypatch.setattr(Finetune, "after_task", finish_seed_1_elsewhere)
    capsys.readouterr()
    assert main([*argv, "--seeds", "0,1"]) == 0
    out = capsys.readouterr().out
    assert f"seed 1 order default: skipped, completed meanwhile by another process ({done.name})" in out
    assert "sweep done: 1 complete, 1 skipped (already complete), 0 failed" in out
    assert (tmp_path / "out" / done.name).read_bytes() == done.read_bytes()  # untouched
    # a --jobs worker checks too, and does not run it
    (item,) = planned(["--strategies", "finetune", "--tasks", TASKS2, *tiny[:-1], "--seeds", "1"])
    assert item.path == tmp_path / "out" / done.name
    assert sweep._run_in_worker(item.config, item.path)[0] == sweep.MEANWHILE


GRID_TOML = """
stream = "glue-small"
seeds = [0, 1]
orders = ["default", "random-7"]
epochs = 2
max_train = 100
settings = { weight_decay = 0.0 }

[strategies.finetune]
warmup_ratio = 0.1

[[strategies.joint]]
lr = 3e-4

[[strategies.joint]]
lr = 1e-3
"""

GRID_YAML = """
stream: glue-small
seeds: [0, 1]
orders: [default, random-7]
epochs: 2
max_train: 100
settings: {weight_decay: 0.0}
strategies:
  finetune: {warmup_ratio: 0.1}
  joint:
    - {lr: 3.0e-4}
    - {lr: 0.001}
"""


@pytest.mark.parametrize("name, text", [("grid.toml", GRID_TOML), ("grid.yaml", GRID_YAML)])
def test_grid_file_with_variants_and_command_line_overrides(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    runs = planned(["--grid", str(path), "--epochs", "1", "--output-dir", str(tmp_path)])
    assert len(runs) == 3 * 2 * 2
    labels = {r.label.split(" seed")[0] for r in runs}
    assert labels == {"finetune (warmup_ratio=0.1)", "joint (lr=0.0003)", "joint (lr=0.001)"}
    for r in runs:
        cfg = r.config
        assert cfg.stream == "glue-small" and cfg.max_train == 100 and cfg.resume
        assert cfg.epochs == 1  # the command line beats the file
        assert resolve(cfg).strategy_config.weight_decay == 0.0
    joint_lrs = sorted({resolve(r.config).strategy_config.lr for r in runs if r.config.strategy == "joint"})
    assert joint_lrs == [3e-4, 1e-3]
    orders = {(r.config.order, r.config.order_seed) for r in runs}
    assert orders == {("default", None), ("random", 7)}
    # --strategies picks from the file, keeping each strategy's variants and settings
    runs = planned(["--grid", str(path), "--strategies", "joint", "--output-dir", str(tmp_path)])
    assert len(runs) == 2 * 2 * 2 and {r.config.epochs for r in runs} == {2}
    assert sorted({resolve(r.config).strategy_config.lr for r in runs}) == [3e-4, 1e-3]
    # --set on the command line beats the strategy's own settings in the file
    runs = planned(["--grid", str(path), "--strategies", "finetune", "--set", "warmup_ratio=0.2",
                    "--output-dir", str(tmp_path)])
    assert {resolve(r.config).strategy_config.warmup_ratio for r in runs} == {0.2}


@pytest.mark.parametrize("caps, cli, default", [('"100,rte=50,mrpc=0"', "100,rte=50,mrpc=0", 100),
                                                ("{rte = 50, mrpc = 0}", "rte=50,mrpc=0", None)])
def test_grid_file_takes_per_task_caps_as_the_command_line_does(tmp_path, caps, cli, default):
    (tmp_path / "g.toml").write_text(f'stream = "glue-small"\nmax_train = {caps}\nmax_eval = "sst2=20"\n')
    (run,) = planned(["--grid", str(tmp_path / "g.toml")])
    cfg = run.config
    assert cfg.max_train_by_task == {"rte": 50, "mrpc": 0} and cfg.max_eval_by_task == {"sst2": 20}
    assert cfg.max_train == default and cfg.max_eval is None
    # the same run as the command line's caps
    (same,) = planned(["--stream", "glue-small", "--max-train", cli, "--max-eval", "sst2=20"])
    assert same.run_id == run.run_id


def test_toml_and_yaml_give_the_same_run_ids(tmp_path):
    (tmp_path / "g.toml").write_text(GRID_TOML)
    (tmp_path / "g.yaml").write_text(GRID_YAML)
    ids = [{r.run_id for r in planned(["--grid", str(tmp_path / f)])} for f in ("g.toml", "g.yaml")]
    assert ids[0] == ids[1] and len(ids[0]) == 12


@pytest.mark.parametrize(
    "text, message",
    [
        ('stream = "glue-small"\nseed = [0, 1]\n', "unknown key 'seed'. Did you mean 'seeds'? Known keys: "),
        ("frobnicate = 1\n", "unknown key 'frobnicate'"),
        ("epochs = 'two'\n", "epochs must be an integer, not 'two'"),  # parsed as --set parses
        ("epochs = 1.5\n", "epochs = 1.5 is not a int"),
        ("seeds = [0, 0]\n", "seeds repeat a value"),
        ("orders = 0\n", "give at least one order"),
        ("[strategies.finetune]\nlrr = 1\n", "unknown setting 'lrr'"),
        ("[strategies.no-such-strategy]\n", "unknown strategy 'no-such-strategy'"),
        ('orders = ["sideways"]\n', "has no order 'sideways'"),
        ("stream = [\n", "cannot parse it"),
        ('max_train = "rte=-1"\n', "max_train: 'rte=-1' is not a cap"),
    ],
)
def test_bad_grid_files_are_one_line_and_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    assert main(["sweep", "--grid", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_unknown_key_names_every_known_key(tmp_path):
    (tmp_path / "g.yaml").write_text("strategy: finetune\n")
    with pytest.raises(UsageError) as info:
        load_grid(tmp_path / "g.yaml")
    message = str(info.value)
    assert message.startswith("grid file g.yaml: unknown key 'strategy'. Did you mean 'strategies'?")
    for key in ("strategies", "seeds", "orders", "settings", "stream", "epochs", "max_train", "model"):
        assert key in message


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--strategy", "finetune", "--strategies", "joint"], "--strategy or --strategies"),
        (["--seed", "1", "--seeds", "0,1"], "--seed or --seeds"),
        (["--order", "random", "--orders", "2"], "--order (and --order-seed) or --orders"),
        (["--seeds", "0,x"], "seeds must be integers"),
        (["--orders", "2", "--orders-file", "f.txt"], "not allowed with argument"),
        (["--strategies", "finetune,finetune"], "is the same run as"),
    ],
)
def test_conflicting_flags(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as info:  # argparse's own errors exit from parse_args
        raise SystemExit(main(["sweep", *argv, "--output-dir", str(tmp_path / "out")]))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_orders_are_seeded_permutations_named_orders_or_explicit_lists(tmp_path):
    runs = planned(["--stream", "glue-small", "--orders", "3", "--output-dir", str(tmp_path)])
    glue_small = STREAMS.get("glue-small")
    for k, r in enumerate(runs):
        assert (r.config.order, r.config.order_seed) == ("random", k)
        resolved = resolve(r.config)
        assert resolved.order == f"random-{k}"
        assert tuple(resolved.tasks) == glue_small.ordered("random", k)[0]
    text5 = planned(["--stream", "text5", "--orders", "1,3", "--output-dir", str(tmp_path)])
    assert [resolve(r.config).tasks for r in text5] == [list(STREAMS.get("text5").orders[k]) for k in "13"]
    (tmp_path / "orders.txt").write_text("# two orders\nsst2, mrpc, stsb, rte\nrte stsb mrpc sst2\n")
    explicit = planned(["--stream", "glue-small", "--orders-file", str(tmp_path / "orders.txt"),
                        "--output-dir", str(tmp_path)])
    assert [resolve(r.config).tasks for r in explicit] == [
        ["sst2", "mrpc", "stsb", "rte"], ["rte", "stsb", "mrpc", "sst2"]]
    assert [resolve(r.config).stream for r in explicit] == ["glue-small", "glue-small"]
    (tmp_path / "orders.yaml").write_text("orders:\n  reverse: [rte, stsb, mrpc, sst2]\n")
    (r,) = planned(["--stream", "glue-small", "--orders-file", str(tmp_path / "orders.yaml"),
                    "--output-dir", str(tmp_path)])
    assert r.label.endswith("order reverse") and r.config.tasks == ["rte", "stsb", "mrpc", "sst2"]


def test_order_seed_on_run_config():
    assert "order_seed" not in RunConfig().identity()  # run ids from before the field are unchanged
    same = resolve(RunConfig(order="random", seed=3))
    assert resolve(RunConfig(order="random", seed=5, order_seed=3)).tasks == same.tasks
    assert resolve(RunConfig(order="random", seed=5, order_seed=3)).order == "random-3"
    with pytest.raises(UsageError, match="--order-seed applies to --order random only"):
        RunConfig(order_seed=1)
    a = Runner(RunConfig(order="random", seed=0, order_seed=1)).run_id
    assert a != Runner(RunConfig(order="random", seed=0)).run_id


def test_dry_run_lists_the_runs_and_writes_nothing(tmp_path, capsys):
    argv = ["sweep", "--strategies", "finetune,joint", "--seeds", "0,1", "--dry-run",
            "--output-dir", str(tmp_path / "out")]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("sweep: 4 runs") and len(out) == 6
    assert all(line.endswith(".json") and ": new -> " in line for line in out[1:5])
    assert out[5] == "to do: 4 runs; 4 without a complete run of their setting to go by"
    assert not (tmp_path / "out").exists()


def test_cpu_left_takes_each_unfinished_phase_at_the_median_of_complete_runs(monkeypatch):
    from benchmark import sweep

    def record(status, cpus, planned=3):
        return {"status": status, "plan": [{}] * planned, "phases": [{"cpu_time_s": c} for c in cpus]}

    records = {"a0": record("complete", [10, 20, 30]), "a1": record("complete", [30, 60, 90]),
               "a2": record("complete", [20, 100, 40]), "a3": record("running", [99]),
               "a4": None, "b0": None, "c0": record("complete", [1, None, 3]), "c1": None}
    monkeypatch.setattr(sweep, "_read_record", lambda path: records[path.name])
    runs = [PlannedRun(label=f"{k} seed", config=None, run_id=k, path=Path(k), setting=k[0]) for k in records]
    left = sweep.cpu_left(runs)
    # medians by phase over a0-a2: 20, 60, 40; a3 has its first phase behind it
    assert left == {"a3": 60 + 40, "a4": 20 + 60 + 40, "b0": None, "c1": None}
    assert sweep.cpu_left_summary(left) == (
        "to do: 4 runs, about 0.06 CPU-hours for 2 of them (the median CPU time of each phase in this "
        "sweep's complete runs of the same strategy setting); 2 without a complete run of their setting "
        "to go by")
    assert sweep.cpu_left_summary({}) == "nothing to do: every run is complete"


def test_orders_n_on_a_stream_with_a_named_order_n_warns(tmp_path, capsys, synthetic_tasks):
    from benchmark.tasks import STREAMS, Stream

    STREAMS.add("synth-orders", Stream("synth-orders", ("syn_red", "syn_blue"),
                                       orders={"1": ("syn_red", "syn_blue"), "2": ("syn_blue", "syn_red")}))
    try:
        base = ["sweep", "--stream", "synth-orders", "--dry-run", "--output-dir", str(tmp_path)]
        assert main([*base, "--orders", "2"]) == 0
        captured = capsys.readouterr()
        assert captured.err == ("warning: --orders 2 draws 2 random orders; for the stream's named order 2 "
                                "give --order 2 (or `--orders 2,`)\n")
        assert "order random-1" in captured.out
        assert main([*base, "--orders", "2,"]) == 0  # the named order: no warning
        captured = capsys.readouterr()
        assert captured.err == "" and "order 2: new" in captured.out
        assert main([*base, "--orders", "3"]) == 0  # no named order 3: nothing to mistake
        assert capsys.readouterr().err == ""
    finally:
        STREAMS.remove("synth-orders")


def test_the_example_grid_in_results_readme_plans(tmp_path):
    readme = Path(__file__).resolve().parent.parent / "results" / "README.md"
    (example,) = re.findall(r"```toml\n(.*?)```", readme.read_text(), re.S)
    (tmp_path / "grid.toml").write_text(example)
    runs = planned(["--grid", str(tmp_path / "grid.toml"), "--output-dir", str(tmp_path)])
    assert len(runs) == 5 * 3 * 3
    assert {r.label.split(" seed")[0] for r in runs} == {
        "finetune", "joint", "ewc (ewc_lambda=1000)", "replay (budget=100)", "replay (budget=500)"}
