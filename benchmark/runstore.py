"""The run store: checkpoints without pickle, safe names and confined paths, a lock per run id.

A checkpoint of phase p is two files in `checkpoints/<run_id>/`:
    phase-<p>.safetensors   every tensor (the model's state_dict under "model/", the strategy's
                            tensors under "state/<n>")
    phase-<p>.json          everything else: the strategy state's structure with references to
                            those tensors, the model's extras (regression target statistics,
                            shared-output offsets, requires_grad flags), and the sha256 of the
                            .safetensors file
The run JSON names the checkpoint's .json file and its sha256, so the pair (run JSON, checkpoint)
becomes visible in one atomic `os.replace` of the run JSON. Loading parses JSON and safetensors
only: nothing in a checkpoint can run code. Strategy state of a type this module does not know is
refused when the checkpoint is written, never pickled.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.errors import RunInProgress, UsageError
from benchmark.paths import SAFE_NAME, check_name, confined, data_file  # noqa: F401 (their home was here)

FORMAT = "cmtbench-checkpoint"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".bin")


# -- names and paths: benchmark/paths.py (no torch there: streams resolve without it) ---------------
# -- files ---------------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic(path: Path, write) -> None:
    """Write through a temporary file in the same folder, fsync, `os.replace`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- strategy state: an explicit codec ------------------------------------------------------------
def _known_classes() -> dict[str, type]:
    """Examples, and the classes strategies marked `@checkpointable` (benchmark/api.py)."""
    from benchmark.api import CHECKPOINT_CLASSES
    from benchmark.data import Examples

    return {**CHECKPOINT_CLASSES, "Examples": Examples}


class _Encoder:
    """Python values -> JSON with tensors replaced by references into a flat tensor dict."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.model = model
        self.known = {cls: name for name, cls in _known_classes().items()}

    def tensor(self, t: torch.Tensor) -> str:
        key = f"state/{len(self.tensors)}"
        self.tensors[key] = t
        return key

    def encode(self, obj: Any, where: str) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"__t": "float", "v": repr(obj)}
        if isinstance(obj, torch.nn.Parameter):
            return {"__t": "tensor", "key": self.tensor(obj.detach()), "param": True,
                    "requires_grad": obj.requires_grad, "cuda": obj.is_cuda}
        if isinstance(obj, torch.Tensor):
            return {"__t": "tensor", "key": self.tensor(obj.detach()), "requires_grad": obj.requires_grad,
                    "cuda": obj.is_cuda}
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                raise UsageError(f"cannot checkpoint strategy state {where}: a numpy array of objects")
            return {"__t": "ndarray", "key": self.tensor(torch.from_numpy(np.ascontiguousarray(obj)))}
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), where)
        if isinstance(obj, (list, tuple)):
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
            return items if isinstance(obj, list) else {"__t": "tuple", "items": items}
        if isinstance(obj, dict):
            for k in obj:
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise UsageError(f"cannot checkpoint strategy state {where}: a dict key of type "
                                     f"{type(k).__name__}")
            return {"__t": "dict", "items": [[k, self.encode(v, f"{where}[{k!r}]")] for k, v in obj.items()]}
        if isinstance(obj, torch.nn.Module):
            return self.module(obj, where)
        name = self.known.get(type(obj))
        if name == "Examples":
            return {"__t": "Examples", "input_ids": self.ragged(obj.input_ids),
                    "token_type_ids": None if obj.token_type_ids is None else self.ragged(obj.token_type_ids),
                    "labels": self.encode(obj.labels, f"{where}.labels")}
        if name is not None:
            return {"__t": name, "vars": self.encode(dict(vars(obj)), f"{where}.vars")}
        raise UsageError(f"cannot checkpoint strategy state {where}: type {type(obj).__module__}."
                         f"{type(obj).__qualname__} is not one the checkpoint format knows (tensors, "
                         "numpy arrays, numbers, strings, lists, tuples, dicts, Examples, a copy of the "
                         "model, classes marked @checkpointable); it is never pickled")

    def ragged(self, rows: list[list[int]]) -> dict:
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
        flat = torch.tensor([x for r in rows for x in r], dtype=torch.int64)
        return {"__t": "ragged", "lengths": self.tensor(lengths), "values": self.tensor(flat)}

    def module(self, module: torch.nn.Module, where: str) -> dict:
        """A copy of the model (LwF's teacher): its state_dict, restored into a copy of the model."""
        from benchmark.model import MultiTaskModel

        if not isinstance(module, MultiTaskModel):
            raise UsageError(f"cannot checkpoint strategy state {where}: a {type(module).__name__} module "
                             "(only copies of the model are supported)")
        if list(module.state_dict()) != list(self.model.state_dict()):
            raise UsageError(f"cannot checkpoint strategy state {where}: a model copy whose structure "
                             "differs from the model's")
        prefix = f"state/{len(self.tensors)}/"
        for k, v in module.state_dict().items():
            self.tensors[prefix + k] = v.detach()
        return {"__t": "model_copy", "prefix": prefix, "training": module.training,
                "requires_grad": {n: p.requires_grad for n, p in module.named_parameters()},
                "extras": model_extras(module)}


class _Decoder:
    def __init__(self, tensors: dict[str, torch.Tensor], device: torch.device, model: torch.nn.Module) -> None:
        self.tensors, self.device, self.model = tensors, device, model
        self.known = _known_classes()

    def tensor(self, key: Any) -> torch.Tensor:
        if not isinstance(key, str) or key not in self.tensors:
            raise ValueError("a tensor reference names no tensor of the checkpoint")
        return self.tensors[key]

    def decode(self, obj: Any) -> Any:
        if obj is None or isinstance(obj, (bool, str, int, float)):
            return obj
        if isinstance(obj, list):
            return [self.decode(v) for v in obj]
        if not isinstance(obj, dict):
            raise ValueError("unexpected value in the strategy state")
        tag = obj.get("__t")
        if tag == "float":
            return float(obj["v"])  # 'nan', 'inf', '-inf'
        if tag == "tensor":
            t = self.tensor(obj["key"]).clone()
            if obj.get("cuda") and self.device.type == "cuda":
                t = t.to(self.device)
            if obj.get("param"):
                return torch.nn.Parameter(t, requires_grad=bool(obj.get("requires_grad")))
            return t.requires_grad_(bool(obj.get("requires_grad")))
        if tag == "ndarray":
            return self.tensor(obj["key"]).numpy().copy()
        if tag == "tuple":
            return tuple(self.decode(v) for v in obj["items"])
        if tag == "dict":
            return {k: self.decode(v) for k, v in obj["items"]}
        if tag == "ragged":
            lengths = self.tensor(obj["lengths"]).tolist()
            values = self.tensor(obj["values"]).tolist()
            out, start = [], 0
            for n in lengths:
                out.append(values[start : start + n])
                start += n
            return out
        if tag == "Examples":
            tt = obj["token_type_ids"]
            return self.known["Examples"](self.decode(obj["input_ids"]), None if tt is None else self.decode(tt),
                                          self.decode(obj["labels"]))
        if tag == "model_copy":
            return self.model_copy(obj)
        if tag in self.known:
            cls = self.known[tag]
            instance = cls.__new__(cls)
            instance.__dict__.update(self.decode(obj["vars"]))
            return instance
        raise ValueError(f"unknown tag {tag!r} in the strategy state")

    def model_copy(self, obj: dict) -> torch.nn.Module:
        prefix = obj["prefix"]
        state = {k[len(prefix):]: v for k, v in self.tensors.items() if k.startswith(prefix)}
        copy_ = copy.deepcopy(self.model)
        load_model_state(copy_, state, {"requires_grad": obj["requires_grad"], "training": obj["training"],
                                        **obj["extras"]})
        return copy_


# -- the model's state beyond its state_dict -----------------------------------------------------
def model_extras(model: torch.nn.Module) -> dict:
    return {
        "target_stats": [[i, list(v)] for i, v in getattr(model, "target_stats", {}).items()],
        "offsets": [[i, v] for i, v in getattr(model, "offsets", {}).items()],
    }


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], meta: dict) -> None:
    """Strictly load `state` into `model` (every key must match) and restore the extras."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        what = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
        raise UsageError(f"the checkpoint does not fit the model this configuration builds ({what}, "
                         f"{len(missing)} missing, {len(unexpected)} unexpected)")
    bad = next((k for k, v in state.items() if v.shape != own[k].shape), None)
    if bad is not None:
        raise UsageError(f"the checkpoint does not fit the model this configuration builds ({bad!r} has "
                         f"shape {tuple(state[bad].shape)}, the model {tuple(own[bad].shape)})")
    model.load_state_dict(state, strict=True)
    flags = meta.get("requires_grad", {})
    for n, p in model.named_parameters():
        if n in flags:
            p.requires_grad_(bool(flags[n]))
    if "target_stats" in meta and hasattr(model, "target_stats"):
        model.target_stats.clear()
        model.target_stats.update({int(i): (float(m), float(s)) for i, (m, s) in meta["target_stats"]})
    if "offsets" in meta and hasattr(model, "offsets"):
        model.offsets.clear()
        model.offsets.update({int(i): int(o) for i, o in meta["offsets"]})
    model.train(bool(meta.get("training", model.training)))


# -- saving and loading --------------------------------------------------------------------------
def _storable(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, one storage each (safetensors refuses shared or partial storages)."""
    out, seen = {}, set()
    for k, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen or t.untyped_storage().nbytes() != t.nbytes or t.storage_offset():
            t = t.clone()
        seen.add(t.untyped_storage().data_ptr())
        out[k] = t
    return out


def save_checkpoint(folder: Path, phase: int, run_id: str, model: torch.nn.Module, state: dict[str, Any]) -> dict:
    """Write phase `phase`'s checkpoint into `folder`; returns {"file", "sha256"} of its .json
    (relative to the folder's parent's parent, the output folder) for the run JSON."""
    from safetensors.torch import save_file

    encoder = _Encoder(model)
    encoded = {k: encoder.encode(v, k) for k, v in state.items()}  # refuses unknown types first
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()} | encoder.tensors
    folder.mkdir(parents=True, exist_ok=True)
    st = folder / f"phase-{phase}.safetensors"
    _atomic(st, lambda tmp: save_file(_storable(tensors), tmp))
    meta = {
        "format": FORMAT, "version": FORMAT_VERSION, "run_id": run_id, "phase": phase,
        "tensors": st.name, "tensors_sha256": sha256(st),
        "model": {"training": model.training,
                  "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
                  **model_extras(model)},
        "strategy": encoded,
    }
    js = folder / f"phase-{phase}.json"
    _atomic(js, lambda tmp: Path(tmp).write_text(json.dumps(meta, allow_nan=False)))
    return {"file": f"{folder.parent.name}/{folder.name}/{js.name}", "sha256": sha256(js), "phase": phase}


def load_checkpoint(out_dir: Path, ref: Any, run_id: str, phase: int, model: torch.nn.Module,
                    device: torch.device) -> dict[str, Any]:
    """Check the checkpoint the run JSON names, load it into `model`, return the strategy state."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    fix = "delete the run JSON to start the run again"
    if not isinstance(ref, dict) or not isinstance(ref.get("file"), str) or not isinstance(ref.get("sha256"), str):
        raise UsageError(f"cannot resume {run_id}: the run JSON names no checkpoint; {fix}")
    parts = Path(ref["file"]).parts
    if len(parts) != 3 or parts[0] != "checkpoints" or parts[1] != run_id or parts[2] != f"phase-{phase}.json":
        raise UsageError(f"cannot resume {run_id}: the run JSON names an unexpected checkpoint; {fix}")
    js = confined(out_dir, *parts)
    if not js.is_file():
        raise UsageError(f"cannot resume {run_id}: its checkpoint {ref['file']} is missing; {fix}")
    if sha256(js) != ref["sha256"]:
        raise UsageError(f"cannot resume {run_id}: checkpoint {ref['file']} does not match the hash in the "
                         f"run JSON; {fix}")
    try:
        meta = json.loads(js.read_text())
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            raise ValueError("not a cmtbench checkpoint of this version")
        if meta.get("run_id") != run_id or meta.get("phase") != phase or meta.get("tensors") != f"phase-{phase}.safetensors":
            raise ValueError("it belongs to another run or phase")
        st = js.with_name(meta["tensors"])
        if not st.is_file() or sha256(st) != meta["tensors_sha256"]:
            raise ValueError(f"its tensors {st.name} are missing or do not match their hash")
        tensors = load_file(st)
    except (ValueError, KeyError, TypeError, SafetensorError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot resume {run_id}: checkpoint {ref['file']} is unreadable ({exc}); {fix}") from None
    load_model_state(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}, meta["model"])
    try:
        decoder = _Decoder(tensors, device, model)
        return {k: decoder.decode(v) for k, v in meta["strategy"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot resume {run_id}: the strategy state in {ref['file']} is unreadable "
                         f"({exc}); {fix}") from None


def refuse_old_checkpoint(out_dir: Path, run_id: str) -> None:
    """A checkpoint of the old format (a pickle) is never loaded."""
    for suffix in PICKLE_SUFFIXES:
        old = out_dir / "checkpoints" / f"{run_id}{suffix}"
        if old.exists():
            raise UsageError(f"cannot resume {run_id}: checkpoints/{old.name} is an old-format pickle "
                             "checkpoint, which is never loaded (it could run code); delete it and the run "
                             "JSON, and rerun")


def clean_checkpoints(folder: Path, keep: str | None) -> None:
    """Remove the phase files and temporary files in `folder` other than checkpoint `keep`
    (a phase-<p>.json name; None: remove all, and the folder when empty)."""
    if not folder.is_dir():
        return
    keep_names = set() if keep is None else {keep, keep.replace(".json", ".safetensors")}
    for f in folder.iterdir():
        if f.name not in keep_names and (f.name.startswith("phase-") or f.name.endswith(".tmp")):
            f.unlink(missing_ok=True)
    if keep is None:
        try:
            folder.rmdir()
        except OSError:
            pass


# -- the lock ------------------------------------------------------------------------------------
class RunLock:
    """An exclusive lock per run id (filelock); the owner's process id sits beside it."""

    def __init__(self, out_dir: Path, run_id: str) -> None:
        folder = out_dir / "checkpoints"
        self.path = folder / f".{run_id}.lock"
        self.owner = folder / f".{run_id}.owner"
        self.run_id = run_id
        self.lock = None

    def _refuse(self) -> None:
        try:
            pid = self.owner.read_text().strip() or "unknown"
        except OSError:
            pid = "unknown"
        pid = pid if pid.isdigit() else "unknown"
        raise RunInProgress(f"run {self.run_id} is in progress in process {pid} (it holds "
                            f"checkpoints/{self.path.name}); wait for it, or stop it and rerun with --resume")

    def probe(self) -> None:
        """Refuse when another process holds the lock (without creating anything)."""
        import filelock

        if not self.path.exists():
            return
        probe = filelock.FileLock(str(self.path))
        try:
            probe.acquire(timeout=0)
        except filelock.Timeout:
            self._refuse()
        else:
            probe.release()

    def acquire(self) -> None:
        import filelock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self.path))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            self._refuse()
        self.lock = lock
        self.owner.write_text(str(os.getpid()))

    def release(self) -> None:
        if self.lock is not None:
            self.owner.unlink(missing_ok=True)
            self.lock.release()
            self.lock = None


# -- what a resumed run must share with the run it continues ----------------------------------------
# run-record settings that change the numbers: RunConfig's recorded identity fields (the run id is
# a hash of them; compared one by one so that a refusal can say which differs)
def _settings() -> list[str]:
    from benchmark.runconfig import identity_fields, recorded_fields

    return [k for k in recorded_fields() if k in identity_fields()]


def _plain(value: Any) -> Any:
    """As it reads back from JSON (tuples are lists, keys are strings)."""
    return json.loads(json.dumps(value, default=str))


def recorded_model(model: str) -> str:
    """The model as a run record keeps it: a name, Hub id or relative folder as given; an absolute
    (or home-based) folder by its name alone, so no record holds a path of the machine."""
    return Path(model).name if model.startswith(("/", "~")) else model


def settings_of(resolved) -> dict:
    """A resolved run's settings as its run record will hold them."""
    recorded = resolved.recorded()
    return {k: recorded[k] for k in _settings()}


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def setting_differences(old: dict, new: dict) -> list[str]:
    """'key (old -> new)' for each setting both runs record and that differs; strategy settings
    one by one."""
    out = []
    for key in _settings():
        if key not in old or key not in new:
            continue
        a, b = _plain(old[key]), _plain(new[key])
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{k} ({_short(a.get(k))} -> {_short(b.get(k))})"
                    for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        else:
            out.append(f"{key} ({_short(a)} -> {_short(b)})")
    return out


def resume_mismatch(stored: dict, fresh: dict) -> str | None:
    """Why the run `fresh` (a new record of this configuration and data) cannot continue the
    stored record, or None: other tasks, other settings, other data (task fingerprints), or other
    releases of the libraries that compute the numbers (the record keeps one set of versions, so
    its phases must all come from it)."""
    if stored["tasks"] != fresh["tasks"]:
        return f"its tasks differ ({','.join(stored['tasks'])} -> {','.join(fresh['tasks'])})"
    diffs = setting_differences(stored["run"], fresh["run"])
    if diffs:
        return f"its settings differ: {', '.join(diffs[:4])}{' ...' if len(diffs) > 4 else ''}"
    old, new = stored["run"].get("versions") or {}, fresh["run"].get("versions") or {}
    changed = [f"{k} {old[k]} -> {new[k]}" for k in sorted(set(old) & set(new) - {"cmtbench"}) if old[k] != new[k]]
    if changed:
        return (f"its finished phases ran with other library versions ({', '.join(changed)}); install "
                f"those (pip install -c constraints.txt ...) or delete the run to start it anew")
    for old, new in zip(stored.get("task_info") or [], fresh["task_info"]):
        if old.get("fingerprint") and old["fingerprint"] != new["fingerprint"]:
            counts = [f"{k.split('_')[0]} {old.get(k)} -> {new.get(k)}"
                      for k in ("train_examples", "validation_examples", "test_examples") if old.get(k) != new.get(k)]
            detail = ", ".join(counts) if counts else "the same counts, other examples"
            return f"the data of task {new['name']!r} differs from the data it was run on ({detail})"
    return None


def near_misses(out_dir: Path, settings: dict) -> list[tuple[str, list[str]]]:
    """Runs in `out_dir` with the same strategy, stream and seed as `settings` but other settings:
    (file name, differences), for a --resume that finds no run of its own."""
    from benchmark.results import read_run

    found = []
    for path in sorted(Path(out_dir).glob("*.json")) if Path(out_dir).is_dir() else []:
        try:
            run = read_run(path)["run"]
        except (OSError, ValueError):
            continue
        if all(run.get(k) == settings[k] for k in ("strategy", "stream", "seed")):
            diffs = setting_differences(run, settings)
            if diffs:
                found.append((path.name, diffs))
    return found
