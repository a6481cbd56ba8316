"""Duo Chat's closed vocabularies, shared by the shim (GitLab's body, refused early with
FastAPI's errors) and the router (any gRPC caller): one list, so the two cannot drift."""

from __future__ import annotations

from typing import Literal, get_args

PageType = Literal["issue", "epic", "merge_request", "commit", "build"]
ContextCategory = Literal[
    "file",
    "snippet",
    "merge_request",
    "issue",
    "dependency",
    "local_git",
    "terminal",
    "repository",
    "directory",
]

PAGE_TYPES: frozenset[str] = frozenset(get_args(PageType))
CONTEXT_CATEGORIES: frozenset[str] = frozenset(get_args(ContextCategory))
