"""The event loop every aigw process runs on: uvloop where it is installed (Linux and macOS).

uvloop's loop does the same work as asyncio's with less CPU per socket event, which is most of
what a relaying service does. Called once by each service's `python -m` entry point, before
anything creates a loop.
"""

from __future__ import annotations

import asyncio


def use_uvloop() -> bool:
    """Make new event loops uvloop's; False (asyncio's own loop stays) where it is missing."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
