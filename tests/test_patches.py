"""Frozen-backbone per-task patches: zero forgetting by construction, exact parameter accounting
(closed forms from the model config, tiny and BERT-base), routing by task id, forward transfer
through the unpatched backbone, and --resume."""

from __future__ import annotations

import random
import sys

import pytest
import torch
from conftest import interrupt_in_phase

from benchmark.config import build_config
from benchmark.data import collate
from benchmark.errors import UsageError
from benchmark.model import MultiTaskModel, added_params, param_snapshot
from benchmark.results import format_summary, read_run
from benchmark.runconfig import RunConfig, resolve
from benchmark.runner import Runner, run
from strategies.base import STRATEGIES

TASKS = ["syn_red", "syn_count", "syn_blue"]  # classification, regression, classification
# small patches for the tiny model (hidden 32); the BERT-base test below uses the defaults
CASES = {
    "head-only": {},
    "bitfit": {},
    "scale-bias": {},
    "adapters": {"size": "8"},
    "pals": {"hidden_size": "8", "num_heads": "2"},
    "pals-shared": {"hidden_size": "8", "num_heads": "2", "share": "tasks"},
    "lora": {"r": "4"},
    "ia3": {},
    "ln-tuning": {},
}


def strategy_of(case: str) -> str:
    return case.removesuffix("-shared")


def closed_form(name: str, c, s: dict[str, str], first: bool) -> int:
    """Patch parameters one task adds, from the config's numbers (H hidden, L layers, I inner)."""
    H, L, I = c.hidden_size, c.num_hidden_layers, c.intermediate_size  # noqa: E741
    layer_norms = (2 * L + 1) * 2 * H  # gain + bias: the embeddings' LayerNorm and two per layer
    linear_biases = L * (5 * H + I)  # query, key, value, attention output, output: H; intermediate: I
    if name == "head-only":
        return 0
    if name == "bitfit":
        return linear_biases + layer_norms // 2
    if name == "scale-bias":
        return layer_norms + (linear_biases if s.get("linear_biases") == "true" else 0)
    if name == "adapters":
        m = int(s.get("size", 64))
        per_layer = 2 if s.get("placement", "houlsby") == "houlsby" else 1
        return per_layer * L * (2 * H * m + H + m) + (layer_norms if s.get("layer_norm", "true") == "true" else 0)
    if name == "pals":
        d = int(s["hidden_size"])
        projections = (H * d + d) + (d * H + H)
        return L * 3 * (d * d + d) + (projections if first or s.get("share", "layers") == "layers" else 0)
    if name == "lora":
        return L * 2 * int(s.get("r", 8)) * (H + H)  # query and value, H -> H each
    if name == "ia3":
        return L * (2 * H + I)
    if name == "ln-tuning":
        return layer_norms
    raise KeyError(name)


def stream_config(tiny_model, out, case: str, **overrides) -> RunConfig:
    kwargs = dict(strategy=strategy_of(case), tasks=TASKS, model=str(tiny_model), seed=0, epochs=1,
                  batch_size=16, max_length=32, max_train=96, max_eval=0, fwt=True, output_dir=str(out),
                  progress=False, val_size=0, strategy_config={"lr": "3e-3", **CASES[case]})
    kwargs.update(overrides)
    return RunConfig(**kwargs)


def task_outputs(model: MultiTaskModel, ctx, task, rows: list[int]) -> torch.Tensor:
    """The head's outputs for some test examples of `task`, in evaluation mode."""
    model.eval()
    with torch.inference_mode():
        ((_, _, out),) = model.outputs(collate([(task, task.test, rows)], ctx.pad_id))
    return out


ROWS = list(range(32))


@pytest.fixture(scope="module")
def streams(tiny_model, synthetic_tasks, tmp_path_factory):
    """case -> the Runner after a whole 3-task stream with --fwt (each case runs once per module),
    with `runner.right_after[task]`: the task's outputs right after its own training phase."""
    done: dict[str, Runner] = {}

    def get(case: str) -> Runner:
        if case not in done:
            cls = STRATEGIES.get(strategy_of(case))
            original, right_after = cls.after_task, {}

            def after_task(self, phase):
                original(self, phase)
                for t in phase.tasks:  # evaluation mode: no dropout, so no random numbers drawn
                    right_after[t.index] = task_outputs(self.model, self.ctx, t, ROWS)

            runner = Runner(stream_config(tiny_model, tmp_path_factory.mktemp(case), case))
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(cls, "after_task", after_task)
                runner.record = runner.run()
            runner.right_after = right_after
            done[case] = runner
        return done[case]

    return get


@pytest.mark.parametrize("case", list(CASES))
def test_stream_forgets_nothing_and_accounts_exactly(case, streams, tiny_model):
    runner = streams(case)
    record, model = runner.record, runner.model
    R, b = record["R"], record["b"]
    assert record["status"] == "complete"
    for j in range(3):
        # tasks not trained yet are scored through the unpatched backbone: exactly the score before training
        assert [R[i][j] for i in range(j)] == [b[j]] * j
        # and a trained task's score never moves again
        assert [R[i][j] for i in range(j, 3)] == [R[j][j]] * (3 - j)

    # every pretrained tensor is bit-identical and frozen (peft moves some under `base_layer`)
    from transformers import AutoModel

    pretrained = AutoModel.from_pretrained(tiny_model, add_pooling_layer=False)
    now = {n.replace(".base_layer", ""): p for n, p in model.encoder.named_parameters()}
    for name, p in pretrained.named_parameters():
        assert torch.equal(now[name], p), name
        assert not now[name].requires_grad, name

    c, hidden = pretrained.config, pretrained.config.hidden_size
    phases = record["phases"]
    expected = [closed_form(strategy_of(case), c, CASES[case], first=(t == 0)) for t in range(3)]
    assert [p["patch_params"] for p in phases] == expected
    assert [p["head_params"] for p in phases] == [2 * hidden + 2, hidden + 1, 2 * hidden + 2]
    # exactly the current task's head and patch receive gradients: every one of their parameters,
    # nothing of the backbone nor of earlier tasks
    assert [p["trainable_params"] for p in phases] == [p["head_params"] + p["patch_params"] for p in phases]
    assert record["cost"]["patch_params"] == sum(expected)
    summary = format_summary(record)
    assert f"patches {sum(expected):,}" in summary and "per task" in summary


@pytest.mark.parametrize("case", list(CASES))
def test_each_task_is_served_by_its_own_patch(case, streams):
    runner = streams(case)
    model, ctx, tasks = runner.model, runner.ctx, runner.tasks
    # after the whole stream, in any order of tasks: the outputs each task had right after training
    for seed in (1, 2):
        for t in random.Random(seed).sample(tasks, len(tasks)):
            assert torch.equal(task_outputs(model, ctx, t, ROWS), runner.right_after[t.index]), t.name

    # a batch mixing every task routes each example through its own task's patch
    mixed = collate([(t, t.test, ROWS[:8]) for t in tasks], ctx.pad_id)
    with torch.inference_mode():
        for tid, _rows, out in model.outputs(mixed):
            assert torch.allclose(out, runner.right_after[tid][:8], atol=1e-5), tid

    if case != "head-only":  # the patches are applied: without them every task's outputs change
        model.route_by_task = False  # no active task, so no patch
        try:
            assert all(not torch.equal(task_outputs(model, ctx, t, ROWS), runner.right_after[t.index]) for t in tasks)
        finally:
            model.route_by_task = True


@pytest.mark.parametrize("case", list(CASES))
def test_resume_after_an_interruption_gives_the_same_R(case, streams, tiny_model, tmp_path, monkeypatch):
    full = streams(case).record
    cls = STRATEGIES.get(strategy_of(case))
    original = interrupt_in_phase(monkeypatch, cls)
    with pytest.raises(KeyboardInterrupt):
        run(stream_config(tiny_model, tmp_path, case))
    monkeypatch.setattr(cls, "after_task", original)
    partial = read_run(Runner(stream_config(tiny_model, tmp_path, case)).path)
    assert partial["status"] == "interrupted" and len(partial["R"]) == 1
    resumed = run(stream_config(tiny_model, tmp_path, case, resume=True))
    assert resumed["status"] == "complete"
    assert resumed["R"] == full["R"] and resumed["b"] == full["b"]
    assert [p["patch_params"] for p in resumed["phases"]] == [p["patch_params"] for p in full["phases"]]


def test_hand_written_layer_norm_patches_match_peft(streams):
    # scale-bias (hand-written hooks) and ln-tuning (peft) patch the same parameters the same way
    assert streams("scale-bias").record["R"] == streams("ln-tuning").record["R"]


BERT_BASE_DEFAULTS = {
    "head-only": {}, "bitfit": {}, "scale-bias": {}, "adapters": {},
    "pals": {"hidden_size": "204"},  # what hidden_size=0 picks for H = 768 (checked below)
    "lora": {}, "ia3": {}, "ln-tuning": {},
}
BERT_BASE_VARIANTS = [
    ("scale-bias", {"linear_biases": "true"}),
    ("adapters", {"placement": "pfeiffer", "size": "16", "layer_norm": "false"}),
    ("pals", {"hidden_size": "204", "share": "tasks"}),
    ("lora", {"r": "4"}),
]


def bert_base() -> MultiTaskModel:
    """BERT-base shapes on the meta device: no weights, no download, no memory."""
    from transformers import BertConfig, BertModel

    with torch.device("meta"):
        return MultiTaskModel(BertModel(BertConfig(), add_pooling_layer=False))


def patch_counts(model: MultiTaskModel, name: str, settings: dict[str, str], tasks: int = 2) -> list[int]:
    cls = STRATEGIES.get(name)
    strategy = cls(build_config(cls.Config, settings))
    strategy.setup(model, None)
    counts = []
    for t in range(tasks):
        before = param_snapshot(model)
        strategy.add_patch(t)
        heads, patches = added_params(before, param_snapshot(model))
        assert heads == 0
        counts.append(patches)
    return counts


@pytest.mark.parametrize("name,settings", list(BERT_BASE_DEFAULTS.items()) + BERT_BASE_VARIANTS)
def test_bert_base_patch_sizes_match_the_closed_forms(name, settings):
    model = bert_base()
    c = model.encoder.config
    assert (c.hidden_size, c.num_hidden_layers, c.intermediate_size) == (768, 12, 3072)
    assert patch_counts(model, name, settings) == [closed_form(name, c, settings, first) for first in (True, False)]


def test_bert_base_sizes_agree_with_the_papers():
    backbone = sum(p.numel() for p in bert_base().parameters())
    per_task = {name: patch_counts(bert_base(), name, {}, tasks=1)[0] for name in ("bitfit", "adapters", "pals", "lora")}
    assert per_task["bitfit"] == 102_144  # "about 0.1M" (Ben Zaken et al.: 0.08% of BERT-base)
    assert 0.020 < per_task["adapters"] / backbone < 0.023  # m = 64 with LayerNorms: 2.2% per task
    assert round(1 + 8 * per_task["pals"] / backbone, 2) == 1.13  # the paper's 1.13x for 8 tasks, d = 204
    assert per_task["lora"] == 294_912  # r = 8 on query and value
    size = STRATEGIES.get("pals").Config().size
    assert (size(768), size(384), size(32)) == (204, 102, 6)  # hidden_size=0: the paper's ratio


def test_settings_are_checked():
    for name, settings, message in [
        ("pals", {"hidden_size": "10"}, "multiple of num_heads"),
        ("adapters", {"size": "0"}, "size must be"),
        ("adapters", {"placement": "middle"}, "placement must be"),
        ("lora", {"r": "0"}, "r must be"),
        ("lora", {"target_modules": " "}, "target_modules"),
    ]:
        with pytest.raises(UsageError, match=message):
            build_config(STRATEGIES.get(name).Config, settings)
    model = bert_base()
    with pytest.raises(UsageError, match="lora: "):  # peft's own complaint, as a usage error
        patch_counts(model, "lora", {"target_modules": "no_such_module"}, tasks=1)


def test_peft_strategies_name_the_extra_when_peft_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` now raises ImportError
    for name in ("lora", "ia3", "ln-tuning"):
        with pytest.raises(UsageError, match=r"pip install 'cmtbench\[peft\]'"):
            STRATEGIES.get(name)().setup(bert_base(), None)


def test_patches_need_the_task_id(make_config):
    # class- and domain-incremental runs give no task id at test time, so no patch to choose
    for name in ("bitfit", "pals", "lora"):
        with pytest.raises(UsageError, match="does not support the class-incremental scenario"):
            resolve(make_config(strategy=name, tasks=["syn_red", "syn_blue"], scenario="class-incremental"))



# -- PALs' backbone: trained with the PALs in a multi-task phase, as in Stickland & Murray -------
def pals_backbones(cfg, monkeypatch) -> tuple[dict, list[dict[str, torch.Tensor]]]:
    """The run record and a copy of the backbone's tensors after each phase."""
    cls, after = STRATEGIES.get("pals"), []
    original = cls.after_task

    def after_task(self, phase):
        original(self, phase)
        after.append({n: p.detach().clone() for n, p in self.model.backbone_parameters()})

    monkeypatch.setattr(cls, "after_task", after_task)
    return run(cfg), after


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[n], b[n]) for n in a)


SMALL_PALS = {"lr": "3e-3", "hidden_size": "8", "num_heads": "2"}


@pytest.mark.parametrize("mode", ["multi-task", "never"])
def test_pals_train_the_backbone_in_a_multi_task_phase_only(mode, make_small_config, tiny_model, monkeypatch):
    from transformers import AutoModel

    pretrained = {f"encoder.{n}": p for n, p in AutoModel.from_pretrained(tiny_model, add_pooling_layer=False).named_parameters()}
    cfg = make_small_config(strategy="pals", tasks=["small_count", "small_red", "small_blue"], mtl_tasks=2,
                            strategy_config={**SMALL_PALS, "train_backbone": mode})
    record, backbones = pals_backbones(cfg, monkeypatch)
    phases = record["phases"]
    added = [p["head_params"] + p["patch_params"] for p in phases]
    assert len(backbones) == 2 and same(backbones[0], backbones[1])  # a phase of one task: frozen
    if mode == "never":
        assert same(backbones[0], pretrained)
        assert [p["trainable_params"] for p in phases] == added
    else:  # the two-task phase trains every backbone tensor with both tasks' PALs and heads
        assert not same(backbones[0], pretrained)
        assert [p["trainable_params"] for p in phases] == [added[0] + record["run"]["backbone_params"], added[1]]
    # the added parameters are PALs and heads either way: the backbone is not counted as new
    assert [p["patch_params"] for p in phases] == [2 * closed_form("pals", _tiny_config(tiny_model), SMALL_PALS, True),
                                                   closed_form("pals", _tiny_config(tiny_model), SMALL_PALS, True)]


def test_pals_train_backbone_always_moves_it_in_every_phase(make_small_config, monkeypatch):
    cfg = make_small_config(strategy="pals", strategy_config={**SMALL_PALS, "train_backbone": "always"})
    record, backbones = pals_backbones(cfg, monkeypatch)
    assert not same(backbones[0], backbones[1])
    backbone = record["run"]["backbone_params"]
    assert [p["trainable_params"] for p in record["phases"]] == [
        p["head_params"] + p["patch_params"] + backbone for p in record["phases"]]


def _tiny_config(tiny_model):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(tiny_model)
