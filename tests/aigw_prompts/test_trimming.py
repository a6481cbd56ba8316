from __future__ import annotations

from aigw.router.v1 import router_service_pb2
from aigw_common import catalog
from aigw_prompts import prepare
from aigw_prompts.trimming import Budget, budget_for, fit, keep_head, keep_tail


def test_cuts_fall_on_line_boundaries_and_keep_the_text_nearest_the_cursor() -> None:
    assert keep_tail("aaa\nbbb\nccc", 5) == "ccc"
    assert keep_tail("aaa\nbbb\nccc", 4) == "ccc"
    assert keep_tail("aaa\nbbb\nccc", 2) == ""
    assert keep_head("aaa\nbbb\nccc", 5) == "aaa\n"
    assert keep_head("aaa\nbbb\nccc", 4) == "aaa\n"
    assert keep_head("aaa\nbbb\nccc", 2) == ""
    assert keep_tail("short", 100) == "short"


def test_room_the_suffix_does_not_use_goes_to_the_prefix() -> None:
    prefix, suffix = fit("a\n" * 50, "b\n", Budget(prefix_chars=10, suffix_chars=10))
    assert suffix == "b\n"
    assert len(prefix) == 18


def test_a_smaller_context_window_means_a_smaller_budget() -> None:
    small = budget_for(8000, 128, max_input_chars=1_000_000, suffix_share=0.2)
    large = budget_for(32000, 128, max_input_chars=1_000_000, suffix_share=0.2)
    assert small.prefix_chars + small.suffix_chars < large.prefix_chars + large.suffix_chars
    capped = budget_for(32000, 128, max_input_chars=1000, suffix_share=0.2)
    assert (capped.prefix_chars, capped.suffix_chars) == (800, 200)


def test_long_editor_text_is_trimmed_to_the_familys_budget() -> None:
    above = "".join(f"line {i}\n" for i in range(9000)) + "    "
    below = "".join(f"after {i}\n" for i in range(9000))
    completion = router_service_pb2.Completion(
        feature="code_completions",
        code=router_service_pb2.CodeContext(
            file_name="a.py", content_above_cursor=above, content_below_cursor=below
        ),
    )
    prompt = prepare(catalog.FEATURES["code_completions"], completion, "codegemma").generation
    prefix, _, rest = prompt.prompt.removeprefix("<|fim_prefix|>").partition("<|fim_suffix|>")
    suffix = rest.removesuffix("<|fim_middle|>")
    # CodeGemma's 8000-token window: (8000 - 128 - 256) tokens * 3 characters.
    assert len(prefix) + len(suffix) <= (8000 - 128 - 256) * 3
    assert prefix.endswith("line 8999\n    ")
    assert prefix.startswith("line ")
    assert suffix.startswith("after 0\n")
    assert suffix.endswith("\n")
    assert len(prefix) < len(above)
    assert len(suffix) < len(below)
