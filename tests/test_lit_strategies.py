"""The strategies from the text continual-learning literature, each checked for the property it
exists for: Progressive Prompts keeps the backbone and every earlier prompt bit-identical and adds
exactly a prompt (and a head) per task; O-LoRA's new LoRA reads a subspace orthogonal to the
earlier ones' while all of them act; MbPA++ adapts locally at test time and leaves the stored
weights unchanged after each query."""

import dataclasses

import numpy as np
import pytest
import torch

from benchmark.errors import UsageError
from benchmark.model import load_pretrained
from benchmark.runner import Runner

pytestmark = pytest.mark.usefixtures("cached_loading")


def trained(config) -> tuple[dict, Runner]:
    runner = Runner(config)
    return runner.run(), runner


# -- progressive prompts --------------------------------------------------------------------
def test_progressive_prompts_freeze_the_backbone_and_earlier_prompts(make_small_config, tiny_model, monkeypatch):
    from strategies.progressive_prompts import ProgressivePrompts

    seen = {}
    original = ProgressivePrompts.after_task

    def keep(self, phase):  # each prompt as its phase left it
        original(self, phase)
        seen[f"after{phase.index}"] = {k: p["prompt"].embedding.weight.detach().clone()
                                       for k, p in self.model.patches.items()}

    monkeypatch.setattr(ProgressivePrompts, "after_task", keep)
    cfg = make_small_config(strategy="progressive-prompts", tasks=["small_red", "small_blue"], epochs=2,
                            strategy_config={"lr": "3e-2", "prompt_length": "4"})
    record, runner = trained(cfg)
    model = runner.model
    _, pretrained = load_pretrained(str(tiny_model))
    for (name, p), (_, q) in zip(model.encoder.named_parameters(), pretrained.named_parameters()):
        assert torch.equal(p, q), f"backbone weight {name} changed"
    first = seen["after0"]["0"]
    assert torch.equal(first, model.patches["0"]["prompt"].embedding.weight)  # bit-identical after task 2
    assert not torch.equal(seen["after1"]["1"], first)  # the second task learned its own prompt
    hidden = model.hidden_size
    for phase in record["phases"]:  # exactly the prompt plus a 2-class head per task
        assert phase["patch_params"] == 4 * hidden and phase["head_params"] == hidden * 2 + 2
        assert phase["trainable_params"] == phase["params_added"]
    assert record["R"][1][0] == record["R"][0][0]  # the first task is scored as it was learned


def test_progressive_prompts_prepend_newest_first_and_strip_prompt_positions(make_small_config):
    from strategies.progressive_prompts import progressive_prompt

    _, runner = trained(make_small_config(strategy="progressive-prompts", tasks=["small_red", "small_blue"],
                                          strategy_config={"prompt_length": "3"}))
    model = runner.model
    prompt = progressive_prompt(model, 1)
    assert prompt.shape == (6, model.hidden_size)
    assert torch.equal(prompt[:3], model.patches["1"]["prompt"].embedding.weight)  # P_2 first
    assert progressive_prompt(model, 0).shape[0] == 3
    batch = runner.ctx.collate([(runner.tasks[1], runner.tasks[1].test, [0, 1])])
    model.eval()
    with torch.no_grad():
        pooled = model.encode(batch)  # pooled over the text positions: one row per example
    assert pooled.shape == (2, model.hidden_size) and torch.isfinite(pooled).all()


def test_progressive_prompts_refuse_a_stream_longer_than_the_positions(make_small_config):
    cfg = make_small_config(strategy="progressive-prompts", strategy_config={"prompt_length": "30"})
    with pytest.raises(UsageError, match="positions"):
        Runner(cfg).run()


# -- O-LoRA ---------------------------------------------------------------------------------
def overlap(encoder, a: str, b: str) -> float:
    """The largest |cosine| between a row of one LoRA's A and a row of the other's, over layers."""
    from strategies.o_lora import lora_layers

    worst = 0.0
    for layer in lora_layers(encoder):
        x = torch.nn.functional.normalize(layer.lora_A[a].weight, dim=1)
        y = torch.nn.functional.normalize(layer.lora_A[b].weight, dim=1)
        worst = max(worst, float((x @ y.T).abs().max()))
    return worst


def test_o_lora_keeps_the_new_subspace_orthogonal_and_every_lora_active(make_small_config):
    def run_with(orth: str):
        # 36 steps at a large rate: AdamW steps of ~lr let the L1 penalty drive the overlaps down
        # to the order of lr (max |cos| 0.08 here, 0.73 without the penalty)
        cfg = make_small_config(strategy="o-lora", tasks=["small_red", "small_blue"], epochs=12,
                                strategy_config={"lr": "5e-2", "orth_lambda": orth})
        return trained(cfg)

    record, runner = run_with("1")
    _, free = run_with("0")
    penalised, unpenalised = overlap(runner.model.encoder, "task0", "task1"), overlap(free.model.encoder, "task0", "task1")
    assert penalised < 0.15 and unpenalised > 0.4, (penalised, unpenalised)
    from strategies.o_lora import lora_layers

    layer = lora_layers(runner.model.encoder)[0]
    assert sorted(layer.active_adapters) == ["task0", "task1"]  # both act on every input
    assert not any(p.requires_grad for p in runner.model.parameters())  # all frozen after training
    phase = record["phases"][1]
    assert phase["trainable_params"] == phase["params_added"]  # only the new LoRA and head trained


# -- MbPA++ ---------------------------------------------------------------------------------
def test_mbpa_local_adaptation_leaves_the_stored_weights_unchanged_after_each_query(make_small_config, monkeypatch):
    from strategies.mbpa import MbPA

    cfg = make_small_config(strategy="mbpa", tasks=["small_red", "small_blue"],
                            strategy_config={"lr": "3e-3", "adapt_steps": "2", "neighbours": "4",
                                             "adapt_lr": "1e-1"})
    record, runner = trained(cfg)
    strategy, model = runner.strategy, runner.model
    # every training example is in memory, keyed by the frozen pretrained encoder
    assert len(strategy.memory_) == 96 and strategy.keys_.shape == (96, model.hidden_size)
    assert torch.equal(strategy.keys(strategy.memory_.tasks[0]), strategy.keys_[:48])
    for phase in record["phases"]:  # its test-time cost, apart from training
        assert phase["local_adaptation_queries"] > 0 and phase["local_adaptation_steps"] == 2 * phase[
            "local_adaptation_queries"] and phase["local_adaptation_s"] <= phase["eval_time_s"]

    stored = {k: v.clone() for k, v in model.state_dict().items()}
    keys = strategy.keys_.clone()
    shifts = []
    original = MbPA.query

    def checked(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        shifts.append(self.last_shift)
        for name, value in self.model.state_dict().items():
            assert torch.equal(value, stored[name]), f"{name} changed after a query"
        return out

    monkeypatch.setattr(MbPA, "query", checked)
    task = dataclasses.replace(runner.tasks[1], test=runner.tasks[1].test.subset(range(6)))
    preds = strategy.predict(model, task, runner.ctx, "test")
    assert len(shifts) == len(task.test) and min(shifts) > 0  # each query did move the weights
    assert torch.equal(strategy.keys_, keys)
    assert preds.shape == (len(task.test),)


def test_mbpa_heads_adaptation_encodes_the_memory_once_and_steps_as_if_it_ran_the_encoder(make_small_config,
                                                                                         monkeypatch):
    """adapt=heads reuses the memory's encodings: same adapted heads and predictions as running the
    (fixed) encoder inside every step, with far fewer encoder calls."""
    from strategies.mbpa import MbPA

    cfg = make_small_config(strategy="mbpa", tasks=["small_red", "small_blue"],
                            strategy_config={"lr": "3e-3", "adapt_steps": "5", "neighbours": "8",
                                             "adapt_lr": "1e-1", "adapt": "heads"})
    record, runner = trained(cfg)
    strategy, model = runner.strategy, runner.model
    task = dataclasses.replace(runner.tasks[1], test=runner.tasks[1].test.subset(range(8)))
    stored = {k: v.clone() for k, v in model.state_dict().items()}
    calls, shifts = [], []
    encode, query = type(model).encode, MbPA.query

    def counted(self, batch):
        calls.append(len(batch))
        return encode(self, batch)

    def shifted(self, *args, **kwargs):
        out = query(self, *args, **kwargs)
        shifts.append(self.last_shift)
        return out

    monkeypatch.setattr(type(model), "encode", counted)
    monkeypatch.setattr(MbPA, "query", shifted)
    strategy._pooled = None
    cached = strategy.predict(model, task, runner.ctx, "test")
    cached_calls, cached_shifts = sum(calls), list(shifts)
    calls.clear(), shifts.clear()
    monkeypatch.setattr(MbPA, "neighbours_pooled", lambda self, *a: None)  # the encoder inside each step
    direct = strategy.predict(model, task, runner.ctx, "test")
    assert np.array_equal(cached, direct)
    assert np.allclose(cached_shifts, shifts, rtol=1e-4, atol=1e-9) and min(shifts) > 0
    # the memory once (96 rows) plus each query and its keys, against K rows x L steps per query
    assert cached_calls < sum(calls) / 2, (cached_calls, sum(calls))
    for name, value in model.state_dict().items():
        assert torch.equal(value, stored[name]), f"{name} changed"
