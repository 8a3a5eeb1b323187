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


def test_the_comparison_commands_parse():
    """The commands that put a new strategy beside the reference runs use flags that exist (the
    runs themselves take hours, so only the parsing is checked)."""
    import shlex

    from benchmark.__main__ import build_parser

    text = DOC.read_text().split("## Comparing it with the reference results", 1)[1]
    block = re.findall(r"```bash\n(.*?)```", text, re.S)[0].replace("\\\n", " ")
    commands = [line for line in block.splitlines() if line.startswith("python -m benchmark ")]
    assert [c.split()[3] for c in commands] == ["tune", "sweep", "leaderboard"]
    for command in commands:
        args = build_parser().parse_args(shlex.split(command)[3:])  # exits 2 on an unknown flag
        assert args.func.__name__ == f"cmd_{command.split()[3]}"
