"""Chat messages shaped for a family's chat template.

Mistral-family templates accept only alternating user/assistant turns starting with the user
("Only user and assistant roles are supported!"): their system text is merged into the first user
turn as `{system}\\n\\n{user}`, exactly as mistral_common does, and consecutive turns of one role
are joined. Other families get their system messages joined into one leading system message
(some providers accept only one).
"""

from __future__ import annotations

from aigw.common.v1 import common_pb2


def map_messages(
    messages: list[common_pb2.Message], *, system_role: bool
) -> list[common_pb2.Message]:
    """`messages` as a family with (or without) a system role needs them."""
    system = "\n\n".join(m.content for m in messages if m.role == common_pb2.ROLE_SYSTEM)
    if system_role:
        rest = [m for m in messages if m.role != common_pb2.ROLE_SYSTEM]
        if not system:
            return rest
        return [common_pb2.Message(role=common_pb2.ROLE_SYSTEM, content=system), *rest]
    turns: list[common_pb2.Message] = []
    for message in messages:
        if message.role == common_pb2.ROLE_SYSTEM:
            continue
        if turns and turns[-1].role == message.role:
            turns[-1] = common_pb2.Message(
                role=message.role, content=f"{turns[-1].content}\n\n{message.content}"
            )
        else:
            turns.append(common_pb2.Message(role=message.role, content=message.content))
    if not turns or turns[0].role != common_pb2.ROLE_USER:
        turns.insert(0, common_pb2.Message(role=common_pb2.ROLE_USER, content=system))
    elif system:
        turns[0] = common_pb2.Message(
            role=common_pb2.ROLE_USER, content=f"{system}\n\n{turns[0].content}"
        )
    return turns
