"""Tiny models and synthetic tasks for tests and quick experiments (no download, seconds to train).

    folder = make_tiny_model(tmp_path / "tiny")                  # a random 2-layer BERT + tokenizer
    spec = make_synthetic_task(tmp_path, "red", rule=lambda w: int("red" in w))
    TASKS.add(spec.name, spec)
    run(RunConfig(strategy="finetune", tasks=["red"], model=str(folder), ...))
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from benchmark.tasks import TaskSpec

COLOURS = ("red", "blue", "green", "yellow")
WORDS = tuple(f"w{i}" for i in range(40)) + COLOURS
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def make_tiny_model(folder: str | Path, hidden: int = 32, layers: int = 2, seed: int = 0,
                    dropout: float = 0.1) -> Path:
    """Save a randomly initialised BERT and a whole-word tokenizer over WORDS into `folder`
    (`dropout`: of the encoder and, by default, of the heads; 0 makes training deterministic
    whatever the batch is split into)."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = Path(folder)
    if (folder / "config.json").exists():
        return folder
    vocab = {t: i for i, t in enumerate(SPECIAL + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=64,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    fast.save_pretrained(folder)
    BertModel(config).save_pretrained(folder)
    return folder


def make_synthetic_task(
    folder: str | Path,
    name: str,
    rule: Callable[[list[str]], float],
    n_train: int = 400,
    n_test: int = 100,
    regression: bool = False,
    num_labels: int = 2,
    seed: int = 0,
    words: tuple[str, ...] = WORDS,
) -> TaskSpec:
    """A task of random word sequences labelled by `rule(words)`, written as JSON-lines files."""
    import json

    rng = random.Random(f"{name}-{seed}")
    folder = Path(folder) / name
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, n in (("train", n_train), ("test", n_test)):
        path = folder / f"{split}.jsonl"
        with path.open("w") as f:
            for _ in range(n):
                ws = [rng.choice(words) for _ in range(rng.randint(3, 12))]
                f.write(json.dumps({"text": " ".join(ws), "label": rule(ws)}) + "\n")
        files[split] = str(path)
    labels = () if regression else tuple(f"c{i}" for i in range(num_labels))
    metrics = ("pearson", "spearman") if regression else ("accuracy",)
    return TaskSpec(name, dataset="json", text_fields=("text",), label_names=labels,
                    regression=regression, test_split="test", metrics=metrics, main=metrics,
                    data_files=files, description=f"synthetic task {name}")
