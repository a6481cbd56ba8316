"""The OpenAI-compatible API (`/v1/chat/completions`, `/v1/completions`, `/v1/models`) over the
router, so tools that speak OpenAI's API (and the official SDK) work against aigw."""
