"""Progressive Prompts (Razdaibiedina et al., ICLR 2023, "Progressive Prompts: Continual Learning
for Language Models"): a soft prompt P_t of `prompt_length` vectors is learned for each task and
prepended to the input embeddings together with the frozen prompts of the earlier tasks,

    input of task t = [P_t; P_{t-1}; ...; P_1; E(x)]      (newest first, as the released code)

The backbone is frozen throughout; P_t and task t's head train in its phase, then freeze. Task t
is scored with [P_t; ...; P_1], which no later task changes: no forgetting by construction, and
each new prompt reads the earlier ones (forward transfer). Per task the parameters added are
exactly prompt_length x hidden (the prompt) plus the head.

The prompt is a peft `PromptEmbedding` (initialised from randomly sampled vocabulary embeddings,
as the paper's code does); peft's prompt-tuning model wrappers prepend one prompt per call and
cannot concatenate frozen ones, so the prepending is a forward pre-hook on the encoder. Pooling
reads the text positions only (the prompt positions are removed from the encoder's output).
Needs the optional extra: pip install 'cmtbench[peft]'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from benchmark.errors import UsageError
from strategies._patching import PATCHES, PatchStrategy, TaskHook, import_peft
from strategies.base import SearchSpace, StrategyConfig, register

INITS = {"vocab": "SAMPLE_VOCAB", "random": "RANDOM"}


@dataclass
class ProgressivePromptsConfig(StrategyConfig):
    search_space: ClassVar[SearchSpace] = {"lr": ("log", 1e-3, 0.3), "prompt_length": ("choice", [5, 10, 20])}

    # the paper's 0.3 is for T5's embedding scale (AdamW); BERT-sized embeddings are ~50x smaller
    lr: float = field(default=1e-2, metadata={"help": "AdamW learning rate of the prompt and the head "
                                                      "(the paper: 0.3 on T5)"})
    weight_decay: float = field(default=1e-5, metadata={"help": "AdamW weight decay (the paper's 1e-5)"})
    prompt_length: int = field(default=10, metadata={"help": "soft-prompt vectors per task (the paper's 10)"})
    init: str = field(default="vocab", metadata={
        "help": "prompt initialisation: vocab (embeddings of random vocabulary tokens, the paper's) "
                "or random (normal)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.prompt_length < 1:
            raise UsageError(f"prompt_length must be >= 1, not {self.prompt_length}")
        if self.init not in INITS:
            raise UsageError(f"init must be one of {', '.join(INITS)}, not {self.init!r}")


def progressive_prompt(model: nn.Module, task: int | None) -> torch.Tensor | None:
    """[P_task; ...; P_1]: the prompts of `task` and every earlier task that has one, newest first."""
    if task is None:
        return None
    patches = getattr(model, PATCHES)
    own = [patches[str(t)]["prompt"].embedding.weight for t in range(task, -1, -1) if str(t) in patches]
    return torch.cat(own) if own else None


class PromptHook(TaskHook):
    """Prepends the running task's progressive prompt to the encoder's input (`before`, a forward
    pre-hook) and removes its positions from the output (`after`, a forward hook)."""

    transient = ("prepended",)

    def before(self, module: nn.Module, args: tuple, kwargs: dict[str, Any]):
        prompt = progressive_prompt(self.model, self.model.active_task)
        self.prepended = 0 if prompt is None else prompt.shape[0]
        if prompt is None:
            return None
        embeds = module.get_input_embeddings()(kwargs.pop("input_ids"))
        rows, n = embeds.shape[0], prompt.shape[0]
        kwargs["inputs_embeds"] = torch.cat([prompt.to(embeds.dtype).expand(rows, -1, -1), embeds], 1)
        mask = kwargs["attention_mask"]
        kwargs["attention_mask"] = torch.cat([mask.new_ones(rows, n), mask], 1)
        if kwargs.get("token_type_ids") is not None:
            kwargs["token_type_ids"] = torch.cat([kwargs["token_type_ids"].new_zeros(rows, n),
                                                  kwargs["token_type_ids"]], 1)
        return args, kwargs

    def after(self, module: nn.Module, args: tuple, output: Any) -> Any:
        if self.prepended:
            output.last_hidden_state = output.last_hidden_state[:, self.prepended:]
        return output


@register("progressive-prompts")
class ProgressivePrompts(PatchStrategy):
    """Frozen backbone; a soft prompt per task, concatenated with the frozen earlier prompts."""

    Config = ProgressivePromptsConfig

    def setup(self, model, ctx) -> None:
        import_peft(self.name)
        super().setup(model, ctx)
        # every prompt of the stream plus the longest input must fit the position embeddings
        longest = max((len(x) for t in ctx.tasks for ex in (t.train, t.validation, t.test)
                       if ex is not None for x in ex.input_ids), default=0)
        need = self.config.prompt_length * len(ctx.tasks) + longest
        limit = getattr(model.encoder.config, "max_position_embeddings", None)
        if limit is not None and need > limit:
            raise UsageError(f"progressive-prompts: {len(ctx.tasks)} prompts of {self.config.prompt_length} "
                             f"vectors and inputs of up to {longest} tokens need {need} positions, the model "
                             f"has {limit}: lower --set prompt_length or --max-length")

    def install(self, model) -> None:
        hook = PromptHook(model)
        model.encoder.register_forward_pre_hook(hook.before, with_kwargs=True)
        model.encoder.register_forward_hook(hook.after)

    def make_patch(self, task: int) -> nn.ModuleDict:
        peft = import_peft(self.name)
        words = self.model.encoder.get_input_embeddings()
        config = peft.PromptTuningConfig(
            task_type="FEATURE_EXTRACTION", num_virtual_tokens=self.config.prompt_length,
            token_dim=words.embedding_dim, num_transformer_submodules=1,
            prompt_tuning_init=INITS[self.config.init])
        prompt = peft.tuners.prompt_tuning.PromptEmbedding(config, words).to(words.weight.device)
        return nn.ModuleDict({"prompt": prompt})
