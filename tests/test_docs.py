"""The example in docs/adding-a-strategy.md runs as written, through the CLI's --import."""

import json
import re
import sys
from pathlib import Path

from benchmark.__main__ import main
from strategies.base import STRATEGIES

DOC = Path(__file__).resolve().parent.parent / "docs" / "adding-a-strategy.md"


def test_example_strategy_runs(tmp_path, monkeypatch, tiny_model, synthetic_tasks, capsys):
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]
    assert len(code.strip().splitlines()) < 40
    (tmp_path / "my_strategies.py").write_text(code)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "my_strategies", raising=False)
    try:
        assert main(["list", "--import", "my_strategies", "--strategy", "l2-anchor"]) == 0
        assert "strength" in capsys.readouterr().out
        out = tmp_path / "runs"
        rc = main(["run", "--import", "my_strategies", "--strategy", "l2-anchor", "--set", "strength=10",
                   "--tasks", "syn_red,syn_blue", "--model", str(tiny_model), "--max-length", "32",
                   "--batch-size", "16", "--lr", "3e-3", "--output-dir", str(out), "--quiet"])
        assert rc == 0
        (path,) = out.glob("*.json")
        record = json.loads(path.read_text())
        backbone = record["run"]["backbone_params"]
        assert [p["state_floats"] for p in record["phases"]] == [backbone, backbone]
        assert record["run"]["strategy_config"]["strength"] == 10.0
    finally:
        STRATEGIES.remove("l2-anchor")
