"""RunConfig is the one place a run option is defined: its flag, its part in the run id, the run
record and the leaderboard all come from the field's metadata."""

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmark import runconfig, runs, runstore, schema
from benchmark.runconfig import TRAINING, RunConfig, Since, option, resolve

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Extended(RunConfig):
    """A run option added in one place: a field with its help, flag and `Since`."""

    label_smoothing: float = option(0.0, "label smoothing of the training loss", flag=TRAINING,
                                    since=Since("label smoothing", 0.0))


def parser(cls: type = RunConfig, defaults: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    runconfig.add_run_arguments(p, defaults, cls)
    return p


def parse(argv: list[str], cls: type = RunConfig, defaults: bool = True) -> argparse.Namespace:
    return parser(cls, defaults).parse_args(argv)


def test_a_new_field_is_a_flag_part_of_the_run_id_recorded_and_a_leaderboard_setting():
    cfg = runconfig.config_from_args(parse(["--label-smoothing", "0.1", "--tasks", "sst2,rte"], Extended), Extended)
    assert cfg.label_smoothing == 0.1 and cfg.tasks == ["sst2", "rte"]
    assert "label smoothing of the training loss" in parser(Extended).format_help()
    # identity: the run id changes with it, and at its `Since` value equals the id of a run from
    # before the field existed
    base = resolve(RunConfig(tasks=["sst2", "rte"])).run_id
    assert resolve(dataclasses.replace(cfg, label_smoothing=0.0)).run_id == base
    assert resolve(cfg).run_id != base
    # the run record holds it, and the leaderboard groups by it (a column where records hold it)
    assert resolve(cfg).recorded()["label_smoothing"] == 0.1
    assert "label_smoothing" not in runconfig.not_settings(Extended)
    assert runconfig.absent_values(Extended)["label_smoothing"] == 0.0
    # a sweep grid file may set it by name
    assert "label_smoothing" in runconfig.grid_keys(Extended)


def test_flags_without_defaults_give_only_what_was_given():
    """A sweep tells the flags given on the command line from those left alone."""
    assert runconfig.config_values(parse([], defaults=False)) == {}
    given = runconfig.config_values(parse(["--max-train", "100,rte=5", "--lr", "0.1", "--set", "lr=1", "x=2",
                                           "--quiet"], defaults=False))
    assert given == {"max_train": 100, "max_train_by_task": {"rte": 5}, "progress": False,
                     "strategy_config": {"lr": "0.1", "x": "2"}}  # --lr beats --set lr


def test_the_default_flags_give_the_default_config():
    assert runconfig.config_from_args(parse([])) == RunConfig()


def test_flags_take_their_type_from_the_field():
    args = parse(["--mtl-tasks", "2", "--order", "random", "--order-seed", "3", "--steps", "4", "--val-size", "5",
                  "--fwt", "--epochs", "6"])
    cfg = runconfig.config_from_args(args)
    assert (cfg.mtl_tasks, cfg.order_seed, cfg.steps, cfg.val_size, cfg.fwt, cfg.epochs) == (2, 3, 4, 5, True, 6)


def test_every_field_has_help_and_every_recorded_setting_is_compared_on_resume():
    fields = dataclasses.fields(RunConfig)
    assert all(f.metadata["help"] for f in fields)
    flagged = {f.name for f in fields if runconfig.flags_of(f)}
    assert flagged == {f.name for f in fields} - {"max_train_by_task", "max_eval_by_task", "evaluate_test"}
    assert runstore._settings() == [f.name for f in fields if f.metadata["record"] and f.metadata["identity"]]


def test_leaderboard_columns_are_the_metadata():
    assert runs.SETTING_KEYS == ["stream", "scenario", "tasks", "model", "max_train", "max_eval", "epochs",
                                        "batch_size", "max_length", "pooling", "precision"]
    assert runs.NOT_SETTINGS == ({"strategy", "strategy_config", "seed", "order", "fwt", "tuned",
                                         "evaluate_test", "gradient_checkpointing"} | set(schema.RUN_PROVENANCE))
    # the schema's upgrader gives version-1 records the values runs had before the field existed
    assert schema.V1_RUN_DEFAULTS == {k: runconfig.absent_values()[k] for k in schema.V1_RUN_DEFAULTS}


def test_a_committed_record_holds_the_recorded_fields_and_provenance():
    path = REPO / "results" / "runs" / "mixed4" / "finetune_mixed4_minilm_s0_adf7a9ef.json"
    run = json.loads(path.read_text())["run"]
    expected = set(runconfig.recorded_fields()) | set(schema.RUN_PROVENANCE)
    assert set(run) <= expected
    # what an older record lacks is an option added since, whose `since` gives the value it ran with
    since = {f.name: f.metadata["since"] for f in dataclasses.fields(runconfig.RunConfig)}
    assert expected - set(run) and all(since.get(k) is not None for k in expected - set(run))


@pytest.mark.parametrize("text, value", [("epochs = 2\n", 2), ('epochs = "2"\n', 2)])
def test_grid_file_values_are_coerced_as_set_values_are(tmp_path, text, value):
    from benchmark.sweep import load_grid

    (tmp_path / "g.toml").write_text(text)
    assert load_grid(tmp_path / "g.toml").run == {"epochs": value}
