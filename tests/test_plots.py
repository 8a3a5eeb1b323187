"""Figures from hand-written run JSONs: every figure is written, per stream and model, as a PNG."""

import pytest
from run_records import make_record, write

from benchmark.__main__ import main
from benchmark.plots import (
    _setting_slugs,
    _styles,
    forgetting_figure,
    pareto_figure,
    pareto_front,
    pareto_points,
    parse_strategies,
    plot_results,
    select_strategies,
)
from benchmark.runs import load_runs

PNG = b"\x89PNG\r\n\x1a\n"


def populate(folder):
    """Two settings (glue-small with MiniLM, text5 with BERT), three strategies, three seeds, and a
    second order for finetune; joint trains everything in one phase."""
    glue = ("sst2", "mrpc", "stsb", "rte")
    for seed in range(3):
        d = 0.02 * seed
        write(folder, make_record("finetune", seed, R=[[0.9 - d, None, None, None], [0.7, 0.8, None, None],
                                                      [0.6, 0.7, 0.85, None], [0.5, 0.6, 0.7, 0.6 + d]]))
        write(folder, make_record("finetune", seed, order="random-0", tasks=("rte", "stsb", "sst2", "mrpc")))
        write(folder, make_record("joint", seed, plan=[[0, 1, 2, 3]], R=[[0.85, 0.8 + d, 0.82, 0.66]]))
        write(folder, make_record("adapters", seed, params_per_task=150_000, tasks=glue))
        write(folder, make_record("finetune", seed, stream="text5", model="bert-base-uncased",
                                  scenario="class-incremental", tasks=("yelp", "agnews", "dbpedia", "amazon", "yahoo"),
                                  backbone=109_482_240))
    write(folder, make_record("finetune", 9, status="failed"))  # left out


def test_every_figure_is_written_per_setting(tmp_path, capsys):
    populate(tmp_path / "runs")
    out = tmp_path / "figures"
    assert main(["plot", str(tmp_path / "runs"), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    expected = sorted(f"{kind}_{setting}.png" for kind in ("heatmap", "stream", "forgetting", "pareto")
                      for setting in ("glue-small_minilm", "text5_bert-base-uncased"))
    assert names == expected
    for p in out.iterdir():
        data = p.read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(out / n) for n in expected)


def test_per_run_heatmaps_and_standard_error(tmp_path):
    for seed in (0, 1):
        write(tmp_path / "runs", make_record("finetune", seed, tasks=("sst2", "rte")))
    write(tmp_path / "runs", make_record("finetune", 2, tasks=("sst2", "rte"), status="running"))
    files = plot_results(tmp_path / "runs", tmp_path / "figs", per_run=True, interval="se")
    per_run = sorted(f.name for f in files if f.name.startswith("heatmap_run_"))
    assert len(files) == 4 + 2 and len(per_run) == 2  # the complete runs only
    assert all(f.read_bytes().startswith(PNG) and f.stat().st_size > 5_000 for f in files)


def test_pareto_front_keeps_the_points_nothing_beats():
    params = [10, 10, 100, 1000, 50, 5000]
    scores = [60, 65, 64, 80, 70, 79]
    # (10, 65) beats (10, 60); (50, 70) beats (100, 64); (1000, 80) beats (5000, 79)
    assert pareto_front(params, scores) == [1, 4, 3]


def test_file_names_tell_settings_apart_by_what_differs():
    names = ["stream", "scenario", "model", "epochs", "mtl_tasks"]
    keys = [("glue", "task-incremental", "minilm", 1, None), ("glue", "task-incremental", "minilm", 1, 2.0),
            ("glue", "task-incremental", "minilm", 3, None), ("text5", "class-incremental", "/m/bert", 1, None)]
    assert _setting_slugs(names, keys) == [
        "glue_minilm_epochs-1_mtl_tasks-none", "glue_minilm_epochs-1_mtl_tasks-2",
        "glue_minilm_epochs-3_mtl_tasks-none", "text5_bert"]


def texts(fig) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


@pytest.mark.parametrize("fmt, magic", [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_format_flag_writes_that_format(tmp_path, fmt, magic):
    for seed in (0, 1):
        write(tmp_path / "runs", make_record("finetune", seed, tasks=("sst2", "rte")))
    out = tmp_path / "figs"
    assert main(["plot", str(tmp_path / "runs"), "--out", str(out), "--format", fmt]) == 0
    files = sorted(out.iterdir())
    assert [f.suffix for f in files] == [f".{fmt}"] * 4
    assert all(f.read_bytes().startswith(magic) for f in files)


def test_pareto_x_counts_parameters_state_and_replay_memory(tmp_path):
    runs = tmp_path / "runs"
    for seed in (0, 1):  # 4 tasks each
        write(runs, make_record("finetune", seed, params_per_task=600))
        write(runs, make_record("ewc", seed, params_per_task=600, state_floats=4_000_000))
        write(runs, make_record("replay", seed, params_per_task=600, memory_examples=400, memory_tokens=20_000))
        write(runs, make_record("joint", seed, params_per_task=600, plan=[[0, 1, 2, 3]]))
    df = load_runs(runs).frame
    pts, refs = pareto_points(df)
    x = {config: kept for config, kept, *_ in pts}
    assert x == {"finetune": 600, "ewc": 600 + 4_000_000 / 4, "replay": 600 + 20_000 / 4}
    assert [r[0] for r in refs] == ["joint"]  # a reference line, not a point on the front
    fig = pareto_figure(df, "t", _styles(list(df["config"])))
    (ax,) = fig.axes[:1]
    assert "state floats" in ax.get_xlabel() and "token ids" in ax.get_xlabel()
    assert {"finetune", "ewc", "replay", "joint"} <= set(texts(fig))  # every point labelled


def test_point_labels_keep_clear_of_the_reference_lines_labels(tmp_path):
    """A point just above joint's line at the far left, with another point right beside it: its
    label's first free spot is to its left, where joint's label sits; it goes elsewhere (the
    reference labels are drawn first and count as taken)."""
    runs = tmp_path / "runs"
    for seed in (0, 1):
        write(runs, make_record("joint", seed, params_per_task=600, plan=[[0, 1, 2, 3]],
                                R=[[0.80, 0.80, 0.80, 0.80 + 0.002 * seed]]))
        write(runs, make_record("finetune", seed, params_per_task=600,
                                metrics={"final_average": 0.801 + 0.002 * seed, "forgetting": 0.0, "bwt": 0.0}))
        write(runs, make_record("replay", seed, params_per_task=700,
                                metrics={"final_average": 0.801 + 0.002 * seed, "forgetting": 0.0, "bwt": 0.0}))
        write(runs, make_record("ewc", seed, params_per_task=600, state_floats=40_000_000,
                                metrics={"final_average": 0.70, "forgetting": 0.0, "bwt": 0.0}))
    df = load_runs(runs).frame
    fig = pareto_figure(df, "t", _styles(list(df["config"])))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
    assert {"joint", "finetune", "replay", "ewc"} <= set(boxes)
    assert not any(boxes[name].overlaps(boxes["joint"]) for name in ("finetune", "replay", "ewc"))


def test_a_single_run_figure_says_so_and_labels_every_axis(tmp_path):
    runs = tmp_path / "runs"
    write(runs, make_record("finetune", 0))
    write(runs, make_record("adapters", 0, params_per_task=150_000))
    df = load_runs(runs).frame
    styles = _styles(list(df["config"]))
    for fig in (pareto_figure(df, "t", styles), forgetting_figure(df, "t", styles)):
        shown = " ".join(texts(fig))
        assert "one run per strategy: no interval" in shown
        assert "95%" not in shown and "CI" not in shown
        assert fig.axes[0].get_xlabel()
    pareto = pareto_figure(df, "t", styles).axes[0]
    assert pareto.get_ylabel() == "final average score x100"
    (top,) = pareto.child_axes  # the top axis is labelled, with ticks to read
    assert "% of the backbone" in top.get_xlabel() and len(top.get_xticks()) >= 2


def test_strategies_metric_and_layout_choices(tmp_path, capsys):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        for strategy in ("finetune", "ewc", "joint"):
            write(runs, make_record(strategy, seed, plan=[[0, 1, 2, 3]] if strategy == "joint" else None))
    out = tmp_path / "figs"
    assert main(["plot", str(runs), "--out", str(out), "--strategies", "finetune,ewc", "--layout", "tasks"]) == 0
    assert len(list(out.iterdir())) == 4
    df = load_runs(runs).frame
    assert set(select_strategies(df, ["finetune", "ewc"])["strategy"]) == {"finetune", "ewc"}
    assert parse_strategies("a,ewc (x=1, y=2),b") == ["a", "ewc (x=1, y=2)", "b"]
    capsys.readouterr()
    assert main(["plot", str(runs), "--out", str(out), "--strategies", "finetun"]) == 2
    assert "no runs of finetun here; known: ewc, finetune, joint" in capsys.readouterr().err
    # these records carry no single-task references, so no normalised average
    assert main(["plot", str(runs), "--out", str(out), "--metric", "normalised_average"]) == 2
    assert "no run here records normalised_average" in capsys.readouterr().err


def test_paired_figure_draws_the_seed_paired_differences(tmp_path, capsys):
    """--baseline finetune: dots at the mean paired difference (x100), filled where the 95% CI
    excludes 0; best final average at the top; the baseline itself is not drawn."""
    from matplotlib.colors import to_rgba

    from benchmark.plots import paired_figure

    def metrics(final, forgetting):
        return {"final_average": final, "average_curve": [final], "forgetting": forgetting, "bwt": None,
                "learning_accuracy": 0.8, "fwt": None}

    for seed, (ft, ewc, lora) in enumerate([(0.70, 0.73, 0.80), (0.72, 0.76, 0.82), (0.74, 0.75, 0.84)]):
        write(tmp_path / "runs", make_record("finetune", seed, metrics=metrics(ft, 0.10)))
        write(tmp_path / "runs", make_record("ewc", seed, metrics=metrics(ewc, 0.05)))
        write(tmp_path / "runs", make_record("lora", seed, metrics=metrics(lora, 0.0)))
    df = load_runs(tmp_path / "runs").frame
    fig = paired_figure(df, "t", _styles(list(df["config"])), "finetune")
    final, forgetting = fig.axes[:2]
    assert [t.get_text() for t in final.get_yticklabels()] == ["lora", "ewc"]
    dots = [(line.get_xdata()[0], line.get_ydata()[0], line.get_markerfacecolor())
            for line in final.get_lines() if len(line.get_xdata()) == 1]
    (lora_x, lora_y, lora_face), (ewc_x, ewc_y, ewc_face) = sorted(dots, key=lambda d: d[1])
    # lora: +10 on every seed (no spread: the interval is 0 wide); ewc: +3, +4, +1, CI 3.79 > 2.67
    assert (lora_y, ewc_y) == (0, 1)
    assert lora_x == pytest.approx(10.0) and ewc_x == pytest.approx(8 / 3)
    assert to_rgba(ewc_face) == to_rgba("white") and to_rgba(lora_face) != to_rgba("white")
    forgetting_x = sorted(line.get_xdata()[0] for line in forgetting.get_lines() if len(line.get_xdata()) == 1)
    assert forgetting_x == pytest.approx([-10.0, -5.0])
    assert "2.7 ± 3.8" in texts(fig)

    out = tmp_path / "figures"
    assert main(["plot", str(tmp_path / "runs"), "--out", str(out), "--baseline", "finetune"]) == 0
    assert (out / "paired_glue-small_minilm.png").read_bytes().startswith(PNG)
    # a selection without the baseline still pairs with it (and draws it)
    assert main(["plot", str(tmp_path / "runs"), "--out", str(tmp_path / "some"), "--baseline", "finetune",
                 "--strategies", "lora"]) == 0
    assert (tmp_path / "some" / "paired_glue-small_minilm.png").exists()
    assert main(["plot", str(tmp_path / "runs"), "--out", str(out), "--baseline", "replay"]) == 2
    assert "--baseline replay: no complete run of it" in capsys.readouterr().err
