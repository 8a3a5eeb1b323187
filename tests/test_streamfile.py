"""User stream files: a CSV and a JSONL task end to end, and one clear error per mistake."""

import json

import pytest

from benchmark.__main__ import main
from benchmark.errors import UsageError
from benchmark.streamfile import load_stream_file

GOOD = """
name = "support"
max_train = 0

[[tasks]]
name = "tickets"
train = "tickets_train.csv"
test = "tickets_test.csv"
text = ["subject", "body"]
label = "category"
label_names = ["bug", "question"]

[[tasks]]
name = "reviews"
train = "reviews_train.jsonl"
test = "reviews_test.jsonl"
text = "review"
label_names = ["neg", "pos"]
"""


@pytest.fixture
def stream_dir(tmp_path):
    import random

    rng = random.Random(0)
    words = ["red", "blue", "w0", "w1", "w2", "w3"]
    with open(tmp_path / "tickets_train.csv", "w") as f, open(tmp_path / "tickets_test.csv", "w") as g:
        f.write("subject,body,category\n")
        g.write("subject,body,category\n")
        for i in range(300):
            ws = [rng.choice(words) for _ in range(6)]
            (f if i < 240 else g).write(f"{ws[0]},{' '.join(ws[1:])},{'bug' if 'red' in ws else 'question'}\n")
    for split, n in (("train", 240), ("test", 60)):
        with open(tmp_path / f"reviews_{split}.jsonl", "w") as f:
            for _ in range(n):
                ws = [rng.choice(words) for _ in range(6)]
                f.write(json.dumps({"review": " ".join(ws), "label": int("blue" in ws)}) + "\n")
    (tmp_path / "stream.toml").write_text(GOOD)
    return tmp_path


def test_csv_and_jsonl_tasks_run_end_to_end(stream_dir, tiny_model, capsys):
    out = stream_dir / "runs"
    rc = main(["run", "--stream", str(stream_dir / "stream.toml"), "--model", str(tiny_model),
               "--max-length", "16", "--batch-size", "16", "--lr", "3e-3", "--epochs", "2",
               "--output-dir", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    (path,) = out.glob("*.json")
    record = json.loads(path.read_text())
    assert record["tasks"] == ["tickets", "reviews"] and record["run"]["stream"] == "support"
    assert record["run"]["stream_file"] == "stream.toml"  # given absolute: its file name alone
    # the default --val-size holds out a fifth of each task's 240 train rows for validation
    assert [t["train_examples"] for t in record["task_info"]] == [192, 192]
    assert [t["validation_examples"] for t in record["task_info"]] == [48, 48]
    assert record["R"][0][0] > 0.5


def test_yaml_is_read_too(stream_dir):
    import yaml

    data = {"name": "y", "tasks": [{"name": "sst2"}, {"name": "reviews2", "train": "reviews_train.jsonl",
                                                        "test": "reviews_test.jsonl", "text": "review",
                                                        "label_names": ["neg", "pos"]}]}
    (stream_dir / "s.yaml").write_text(yaml.safe_dump(data))
    stream = load_stream_file(stream_dir / "s.yaml")
    assert stream.tasks == ("sst2", "reviews2")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s.replace('name = "support"', 'name = "support"\ncolour = "red"'), "unknown key 'colour'"),
        (lambda s: s.replace('label = "category"', 'labels = "category"'), "unknown key 'labels'"),
        (lambda s: s.replace("tickets_test.csv", "missing.csv"), "test file 'missing.csv' does not exist"),
        (lambda s: s.replace('text = "review"\n', ""), "missing 'text'"),
        (lambda s: s.replace('name = "reviews"', 'name = "sst2"'), "taken by a built-in task"),
        (lambda s: s.replace('name = "reviews"', 'name = "tickets"'), "appears twice"),
        (lambda s: s + "\n[[tasks]]\nname = 'x'\ndataset = 'a/b'\ntrain = 'tickets_train.csv'\n",
         "either 'dataset'"),
        (lambda s: s.replace("max_train = 0", "max_train = -3"), "max_train must be an integer >= 0"),
        (lambda s: "tasks = [", "cannot parse it"),
        (lambda s: 'name = "empty"', r"non-empty list of \[\[tasks\]\]"),
    ],
)
def test_each_bad_stream_file_gives_one_clear_error(stream_dir, mutate, message):
    (stream_dir / "bad.toml").write_text(mutate(GOOD))
    with pytest.raises(UsageError, match=message):
        load_stream_file(stream_dir / "bad.toml")


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("category", "feature", "label 'feature' in its train split is not one of the label names"),
        ("body", None, "column 'body' not found"),
    ],
)
def test_bad_data_in_a_stream_file_is_one_line_at_run_time(stream_dir, tiny_model, capsys, column, value, message):
    import csv

    rows = list(csv.DictReader(open(stream_dir / "tickets_train.csv")))
    if value is None:
        for r in rows:
            del r[column]
    else:
        rows[3][column] = value
    with open(stream_dir / "tickets_train.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    rc = main(["run", "--stream", str(stream_dir / "stream.toml"), "--model", str(tiny_model),
               "--max-length", "32", "--output-dir", str(stream_dir / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1
    assert not (stream_dir / "o").exists()


def test_overlapping_train_and_test_rows_are_warned(stream_dir, tiny_model, capsys):
    lines = open(stream_dir / "reviews_train.jsonl").read().splitlines()
    with open(stream_dir / "reviews_test.jsonl", "a") as f:
        f.write("\n".join(lines[:5]) + "\n")
    main(["run", "--stream", str(stream_dir / "stream.toml"), "--model", str(tiny_model),
          "--max-length", "16", "--output-dir", str(stream_dir / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert "warning: task 'reviews':" in err and "test examples also occur in its train sample" in err


def test_per_task_caps_from_the_file_and_the_command_line(stream_dir, tiny_model, capsys):
    from benchmark.runconfig import RunConfig, resolve

    capped = GOOD.replace('label_names = ["bug", "question"]', 'label_names = ["bug", "question"]\nmax_train = 50')
    (stream_dir / "capped.toml").write_text(capped)
    stream = str(stream_dir / "capped.toml")

    def caps(**kw):
        r = resolve(RunConfig(stream=stream, **kw))
        return [r.caps(t) for t in ("tickets", "reviews")]

    assert caps() == [(50, None), (None, None)]  # the file's per-task cap over its default (0 = all)
    assert caps(max_train=100) == [(100, None), (100, None)]  # a default on the command line beats the file
    assert caps(max_train_by_task={"reviews": 30}) == [(50, None), (30, None)]
    assert caps(max_train=100, max_train_by_task={"tickets": 0}, max_eval_by_task={"reviews": 20}) == [
        (None, None), (100, 20)]
    with pytest.raises(UsageError, match="--max-train sst2=...: 'sst2' is not a task of this run"):
        caps(max_train_by_task={"sst2": 10})
    # the same caps give the same run id, however they were written
    a = resolve(RunConfig(stream=stream, max_train_by_task={"tickets": 50})).run_id
    assert a == resolve(RunConfig(stream=stream)).run_id
    assert a != resolve(RunConfig(stream=stream, max_train_by_task={"tickets": 40})).run_id

    out = stream_dir / "runs"
    rc = main(["run", "--stream", stream, "--model", str(tiny_model), "--max-length", "16",
               "--max-train", "reviews=64", "--max-eval", "30,tickets=20", "--output-dir", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    (path,) = out.glob("*.json")
    record = json.loads(path.read_text())
    assert [(t["train_examples"], t["test_examples"]) for t in record["task_info"]] == [(50, 20), (64, 30)]
    run = record["run"]
    assert (run["max_train"], run["max_train_by_task"]) == (None, {"tickets": 50, "reviews": 64})
    assert (run["max_eval"], run["max_eval_by_task"]) == (30, {"tickets": 20})


@pytest.mark.parametrize("spec, message", [
    ("rte=-1", "'rte=-1' is not a cap"), ("many", "'many' is not a cap"), ("=5", "'=5' is not a cap"),
    ("10,20", "gives two default caps"),
])
def test_a_bad_cap_is_one_line(spec, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--max-train", spec])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and err.count("\n") == 1


def test_cap_specs_parse():
    from benchmark.runconfig import cap_spec

    assert cap_spec("500") == 500
    assert cap_spec("1000,rte=250, cola=0") == (1000, {"rte": 250, "cola": 0})
    assert cap_spec("rte=250") == (None, {"rte": 250})
