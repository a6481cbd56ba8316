"""Writes a tiny random-weight Llama model that `vllm serve` loads, from nothing but local text.

Run with the vLLM environment's python (it has torch, transformers and tokenizers):

    python tests/vllm/tiny_model.py OUT_DIR

No model hub: the tokenizer is a byte-level BPE trained on Python's own standard library
sources, its vocabulary as large as real code models' (so the special-token ids the prompt
templates use, e.g. Code Llama's 32010, are valid), and the weights are random. What the model
says is noise; what matters is that vLLM serves it exactly as it serves a real one.
"""

from __future__ import annotations

import json
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

VOCAB_SIZE = 32_768
# vLLM serves max_position_embeddings as max_model_len when started with default settings.
CONTEXT_TOKENS = 2048
# The text markers of every family's prompt layout: whole tokens, as in the real tokenizers.
SPECIAL_TOKENS = [
    "<s>",
    "</s>",
    "<unk>",
    "[INST]",
    "[/INST]",
    "[PREFIX]",
    "[SUFFIX]",
    "[MIDDLE]",
    "<PRE>",
    "<SUF>",
    "<MID>",
    "<EOT>",
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    "<|file_separator|>",
    # DeepSeek Coder's markers use the full-width bar on purpose.
    "<\uff5cfim\u2581begin\uff5c>",
    "<\uff5cfim\u2581hole\uff5c>",
    "<\uff5cfim\u2581end\uff5c>",
    "<|EOT|>",
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
]
# A plain chat layout: vLLM's chat route needs one, the model cannot tell the difference.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}"
    "<|end_header_id|>\n{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n{% endif %}"
)
_MAX_CORPUS_BYTES = 6_000_000


def _corpus() -> Iterator[str]:
    """Python's standard library sources: local, plentiful, and code."""
    root = Path(sysconfig.get_paths()["stdlib"])
    total = 0
    for path in sorted(root.rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        total += len(text)
        yield text
        if total >= _MAX_CORPUS_BYTES:
            return


def write_tokenizer(out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    size = tokenizer.get_vocab_size()
    if size < VOCAB_SIZE:
        # A small corpus may not yield every merge: fill up with placeholder tokens so that
        # every id the model can produce decodes.
        tokenizer.add_tokens([f"<filler_{i}>" for i in range(VOCAB_SIZE - size)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        additional_special_tokens=SPECIAL_TOKENS[3:],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)


def write_model(out: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        # vLLM's CPU attention kernels need a head size of 32, 64, 80, 96, 112, 128 or more.
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=CONTEXT_TOKENS,
        bos_token_id=SPECIAL_TOKENS.index("<s>"),
        eos_token_id=SPECIAL_TOKENS.index("</s>"),
        tie_word_embeddings=True,
        torch_dtype="bfloat16",
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)


def main(argv: list[str]) -> int:
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    write_tokenizer(out)
    write_model(out)
    (out / "aigw_tiny_model.json").write_text(
        json.dumps({"vocab_size": VOCAB_SIZE, "context_tokens": CONTEXT_TOKENS}) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
