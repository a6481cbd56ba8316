"""What GitLab's code suggestion routes (/v2/code/completions, /v2/code/generations) share: the
router's editor state for GitLab's `current_file`, and GitLab's answer for the router's."""

from __future__ import annotations

import time

from aigw.router.v1 import router_service_pb2
from aigw_common.languages import language_of
from aigw_common.platforms import platform_name
from rest_shim.routes.suggestions_schema import (
    Choice,
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
    answer: router_service_pb2.CompleteResponse, lang: str
) -> SuggestionsResponse:
    """GitLab's SuggestionsResponse for the router's answer; an empty text means no choice."""
    return SuggestionsResponse(
        created=int(time.time()),
        model=SuggestionModel(
            engine=platform_name(answer.served_by.platform),
            name=answer.served_by.model,
            lang=lang,
            tokens_consumption_metadata=TokensConsumption(
                input_tokens=answer.usage.input_tokens, output_tokens=answer.usage.output_tokens
            ),
        ),
        choices=[Choice(text=answer.text)] if answer.text else [],
    )
