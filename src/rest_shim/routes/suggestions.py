"""What GitLab's code suggestion routes (/v2/code/completions, /v2/code/generations) share: the
router's editor state for GitLab's `current_file`, and GitLab's answer for the router's."""

from __future__ import annotations

import time
from collections.abc import Sequence

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.languages import language_of
from aigw_common.platforms import platform_name
from aigw_prompts.trimming import estimated_tokens
from rest_shim.routes.suggestions_schema import (
    Choice,
    ContextItem,
    CurrentFile,
    SuggestionModel,
    SuggestionsResponse,
    TokensConsumption,
)


def code_context(current_file: CurrentFile) -> router_service_pb2.CodeContext:
    """The router's editor state for GitLab's `current_file`."""
    return router_service_pb2.CodeContext(
        file_name=current_file.file_name,
        language=language_of(current_file.file_name, current_file.language_identifier),
        content_above_cursor=current_file.content_above_cursor,
        content_below_cursor=current_file.content_below_cursor,
    )


def suggestions_response(
    answer: router_service_pb2.CompleteResponse, lang: str, context: Sequence[ContextItem]
) -> SuggestionsResponse:
    """GitLab's SuggestionsResponse for the router's answer; an empty text means no choice (and
    no token metadata, as GitLab's)."""
    usage = None
    if answer.text:
        usage = TokensConsumption(
            input_tokens=answer.usage.input_tokens,
            output_tokens=answer.usage.output_tokens,
            max_output_tokens_used=answer.finish_reason == common_pb2.FINISH_REASON_LENGTH,
            context_tokens_sent=sum(estimated_tokens(item.content) for item in context),
            context_tokens_used=0,
        )
    return SuggestionsResponse(
        created=int(time.time()),
        model=SuggestionModel(
            engine=platform_name(answer.served_by.platform),
            name=answer.served_by.model,
            lang=lang,
            tokens_consumption_metadata=usage,
        ),
        choices=[Choice(text=answer.text)] if answer.text else [],
    )


def on_next_line(content_above_cursor: str, text: str) -> str:
    """`text` starting on a new line when the cursor's line is not empty, as GitLab's gateway
    answers a whole (not streamed) generation: the IDE inserts the block below that line."""
    if text and not content_above_cursor.endswith("\n") and not text.startswith("\n"):
        return "\n" + text
    return text
