"""The literature's streams (standard-cl, long-15): their orders and sizes, the SuperGLUE task
specs read from Hub-shaped folders, and what happens when a data folder lacks rows or splits:
one line naming every shortfall, or with --partial-data a run on what is there."""

import json

import numpy as np
import pytest

from benchmark import data
from benchmark.__main__ import main
from benchmark.errors import UsageError
from benchmark.runconfig import RunConfig, resolve
from benchmark.tasks import LIT_SIZES, STREAMS, TASKS


@pytest.mark.parametrize("name", ["standard-cl", "long-15"])
def test_every_order_is_a_permutation_with_sizes_for_every_task(name):
    stream = STREAMS.get(name)
    assert stream.fixed_sizes and len(stream.orders) == 3
    for order in stream.orders.values():
        assert sorted(order) == sorted(stream.tasks)
    for task in stream.tasks:
        train, test = LIT_SIZES[task]
        spec = TASKS.get(task)
        # "1,000 per class" (CB and COPA whole): the train size is a multiple of the class count
        assert train % spec.num_labels == 0 or task in ("cb", "copa")
        assert stream.max_train_by_task[task] == train and stream.max_eval_by_task[task] == test


def _write_mirror(root, folder: str, configs: dict[str, dict[str, list[dict]]], features: list[dict],
                  features_by_config: dict[str, list[dict]] | None = None):
    """A Hub-shaped mirror: <root>/<folder>/<config>/<split>-00000-of-00001.parquet and a README
    whose YAML declares `configs` and `dataset_info` (split sizes, ClassLabel names) as the Hub does."""
    import pandas as pd

    mirror = root / folder
    yaml = ["---", "dataset_info:"]
    config_lines = ["configs:"]
    for config, splits in configs.items():
        yaml += [f"- config_name: {config}", "  features:"]
        for f in (features_by_config or {}).get(config, features):
            yaml.append(f"  - name: {f['name']}")
            if "names" in f:
                yaml += ["    dtype:", "      class_label:", "        names:"]
                yaml += [f"          '{i}': '{n}'" for i, n in enumerate(f["names"])]
            elif "struct" in f:
                yaml += ["    struct:"] + [f"    - name: {n}\n      dtype: int32" for n in f["struct"]]
            else:
                yaml.append(f"    dtype: {f['dtype']}")
        yaml.append("  splits:")
        config_lines += [f"- config_name: {config}", "  data_files:"]
        for split, rows in splits.items():
            (mirror / config).mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_parquet(mirror / config / f"{split}-00000-of-00001.parquet")
            yaml += [f"  - name: {split}", "    num_bytes: 1", f"    num_examples: {len(rows)}"]
            config_lines += [f"  - split: {split}", f"    path: {config}/{split}-00000-of-00001.parquet"]
    (mirror / "README.md").write_text("\n".join(yaml + config_lines + ["---", "", "test mirror", ""]))


def _rows(n: int, num_labels: int, **columns) -> list[dict]:
    words = ["red", "blue", "green", "yellow"]
    return [{**{c: f"{words[i % 4]} w{i % 7} w{i % 5}" for c in columns.get("text", ["text"])},
             **{c: i for c in columns.get("ints", [])}, "label": i % num_labels} for i in range(n)]


@pytest.fixture(scope="module")
def lit_folder(tmp_path_factory):
    """Hub-shaped mirrors of the standard-cl tasks with far fewer rows than the stream uses, and AG
    News without its test split; plus SuperGLUE's CB and MultiRC (MultiRC without validation)."""
    root = tmp_path_factory.mktemp("mirrors")
    stars = ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]
    _write_mirror(root, "amazon_review_full", {"amazon_review_full": {
        "train": _rows(40, 5), "test": _rows(20, 5)}},
        [{"name": "label", "names": stars}, {"name": "text", "dtype": "string"}])
    dbpedia = [{**r, "title": ""} for r in _rows(70, 14, text=["content"])]
    _write_mirror(root, "dbpedia_14", {"dbpedia_14": {"train": dbpedia, "test": dbpedia[:28]}},
                  [{"name": "label", "names": [f"c{i}" for i in range(14)]},
                   {"name": "title", "dtype": "string"}, {"name": "content", "dtype": "string"}])
    yahoo = [{"question_title": r["question_title"], "topic": r["label"], "question_content": "",
              "best_answer": ""} for r in _rows(40, 10, text=["question_title"])]
    _write_mirror(root, "yahoo_answers_topics", {"yahoo_answers_topics": {"train": yahoo, "test": yahoo[:20]}},
                  [{"name": "topic", "names": [f"t{i}" for i in range(10)]},
                   {"name": "question_title", "dtype": "string"}, {"name": "question_content", "dtype": "string"},
                   {"name": "best_answer", "dtype": "string"}])
    _write_mirror(root, "ag_news", {"default": {"train": _rows(40, 4)}},
                  [{"name": "text", "dtype": "string"}, {"name": "label", "names": ["a", "b", "c", "d"]}])
    cb = _rows(30, 3, text=["premise", "hypothesis"], ints=["idx"])
    multirc = [{**r, "idx": {"paragraph": 0, "question": 0, "answer": r["idx"]}}
               for r in _rows(30, 2, text=["paragraph", "question", "answer"], ints=["idx"])]
    _write_mirror(root, "super_glue", {"cb": {"train": cb, "validation": cb[:12]}, "multirc": {"train": multirc}},
                  [{"name": "premise", "dtype": "string"}, {"name": "hypothesis", "dtype": "string"},
                   {"name": "idx", "dtype": "int32"},
                   {"name": "label", "names": ["entailment", "contradiction", "neutral"]}],
                  {"multirc": [{"name": "paragraph", "dtype": "string"}, {"name": "question", "dtype": "string"},
                               {"name": "answer", "dtype": "string"},
                               {"name": "idx", "struct": ["paragraph", "question", "answer"]},
                               {"name": "label", "names": ["False", "True"]}]})
    return root


def test_a_shortfall_stops_the_run_with_one_line_naming_all_of_it(lit_folder):
    with pytest.raises(UsageError) as err:
        resolve(RunConfig(stream="standard-cl", data_dir=str(lit_folder), model="x"))
    message = str(err.value)
    assert "\n" not in message and "--partial-data" in message
    assert "amazon: train has 40 rows, the stream uses 5,000" in message
    assert "agnews: no test split" in message
    assert all(t in message for t in ("dbpedia", "yahoo"))
    # orders and explicit caps the data folder holds need nothing more
    resolve(RunConfig(stream="standard-cl", order="3", data_dir=str(lit_folder), model="x", max_train=10,
                      max_eval=10, tasks=["yahoo", "amazon", "dbpedia"]))


def test_partial_data_runs_on_what_is_there(lit_folder, tiny_model, tmp_path, capsys):
    cfg = RunConfig(strategy="finetune", stream="standard-cl", order="2", data_dir=str(lit_folder),
                    model=str(tiny_model), epochs=1, batch_size=16, max_length=32, val_size=0,
                    output_dir=str(tmp_path), progress=False, partial_data=True)
    resolved = resolve(cfg)
    assert resolved.tasks == ["dbpedia", "amazon", "yahoo"]  # agnews has no test split: left out
    assert cfg.identity()["partial_data"] is True  # in the run id; absent at its default
    cli = ["run", "--stream", "standard-cl", "--order", "2", "--data-dir", str(lit_folder), "--model",
           str(tiny_model), "--batch-size", "16", "--max-length", "32", "--val-size", "0",
           "--output-dir", str(tmp_path), "--quiet"]
    assert main(cli) == 2  # without the flag: the one-line shortfall error
    assert "--partial-data" in capsys.readouterr().err
    assert main([*cli, "--partial-data"]) == 0
    record = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert record["run_id"] == resolved.run_id and record["run"]["partial_data"] is True
    sizes = {t["name"]: (t["train_examples"], t["test_examples"]) for t in record["task_info"]}
    assert sizes == {"dbpedia": (70, 28), "amazon": (40, 20), "yahoo": (40, 20)}


def test_standard_cl_runs_class_incremental_over_its_33_classes(lit_folder, tiny_model, tmp_path):
    from benchmark.runner import Runner

    cfg = RunConfig(strategy="finetune", stream="standard-cl", scenario="class-incremental",
                    data_dir=str(lit_folder), model=str(tiny_model), batch_size=16, max_length=32, val_size=0,
                    output_dir=str(tmp_path), progress=False, max_train=8, max_eval=4,
                    tasks=["dbpedia", "amazon", "yahoo"])
    runner = Runner(cfg)
    record = runner.run()
    assert record["run"]["scenario"] == "class-incremental" and runner.model.shared_output
    assert runner.model.num_classes == 14 + 5 + 10  # disjoint label spaces, one output
    assert len(record["R"]) == 3 and all(0.0 <= x <= 1.0 for x in record["R"][-1])


def test_superglue_specs_read_hub_shaped_folders(lit_folder, tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    cb = data.prepare_task(TASKS.get("cb"), 0, tokenizer, lit_folder, None, None, 0, 32)
    assert len(cb.train) == 30 and len(cb.test) == 12 and set(cb.test.labels) == {0.0, 1.0, 2.0}
    assert any(1 in tt for tt in cb.train.token_type_ids)  # the hypothesis is the second segment
    assert TASKS.get("cb").main == ("accuracy", "f1_macro")
    with pytest.raises(UsageError, match="no split 'validation'"):
        data.prepare_task(TASKS.get("multirc"), 0, tokenizer, lit_folder, None, None, 0, 32)


def test_macro_f1_averages_the_classes_cb_needs():
    from benchmark.evaluate import score_predictions

    y = np.array([0, 0, 1, 1, 2, 2], dtype=np.float32)
    out = score_predictions(TASKS.get("cb"), np.array([0, 0, 1, 0, 0, 0]), y)
    # class F1: 0 -> 2*2/(5+2)=0.571, 1 -> 2*1/(1+2)=0.667, 2 -> 0; macro = 0.413
    assert out["f1_macro"] == pytest.approx((4 / 7 + 2 / 3 + 0) / 3)
    assert out["score"] == pytest.approx((out["accuracy"] + out["f1_macro"]) / 2)
