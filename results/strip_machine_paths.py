"""One-off: rewrite absolute machine paths in committed run records to the relative form the
runner now records (benchmark/runner.py): `data_source` "data-dir:<mirror>,..." (or "hub",
"files"), and `stream_file` / `model_path` as their file names. Textual and per field, so no other
byte of a record (scores included) changes. Usage: python results/strip_machine_paths.py [DIR]"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from benchmark.tasks import TASKS


def data_source(record: dict) -> str:
    sources = []
    for name in record["tasks"]:
        spec = TASKS.get(name) if name in TASKS else None
        s = ("files" if spec is not None and spec.data_files is not None
             else f"data-dir:{spec.mirror}" if spec is not None and spec.mirror else "hub")
        if s not in sources:
            sources.append(s)
    return ",".join(sources)


def fix(path: Path) -> bool:
    text = path.read_text()
    record = json.loads(text)
    run = record.get("run", {})
    new = text
    value = run.get("data_source")
    if isinstance(value, str) and value.startswith("/"):
        new = new.replace(f'"data_source": {json.dumps(value)}', f'"data_source": {json.dumps(data_source(record))}', 1)
    for key in ("stream_file", "model_path"):
        value = run.get(key)
        if isinstance(value, str) and value.startswith("/"):
            new = new.replace(f'"{key}": {json.dumps(value)}', f'"{key}": {json.dumps(Path(value).name)}', 1)
    if new == text:
        return False
    before, after = json.loads(text), json.loads(new)
    for key in ("data_source", "stream_file", "model_path"):
        before["run"].pop(key, None), after["run"].pop(key, None)
    assert before == after, path  # nothing else changed
    path.write_text(new)
    return True


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "runs")
    changed = [p for p in sorted(root.rglob("*.json")) if fix(p)]
    print(f"{len(changed)} run records rewritten")
    left = [p for p in root.rglob("*.json") if re.search(r'"/(work|home|Users|tmp)/', p.read_text())]
    print("absolute paths left in:", *left) if left else print("no absolute paths left")
