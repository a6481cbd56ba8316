"""CPU per token verification with and without the verified-token cache, in process.

    python -m bench.token_cache [--verifications 3000]

Signs one RS256 token with a fresh key store and verifies it repeatedly with the cache off
(AIGW_AUTH__VERIFIED_TOKEN_CACHE_SIZE=0) and on (the default), printing CPU µs per verify.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from aigw_common.settings import AuthSettings
from aigw_common.token_verifier import TokenVerifier
from auth_svc.keys import KeyStore
from auth_svc.tokens import TokenIssuer


async def run(verifications: int) -> None:
    with tempfile.TemporaryDirectory() as keys_dir:
        store = KeyStore.load_or_create(Path(keys_dir), "RS256")
        for size in (0, AuthSettings().verified_token_cache_size):
            auth = AuthSettings(verified_token_cache_size=size)
            verifier = TokenVerifier(store, auth)
            token = TokenIssuer(store, auth).issue("bench", ["code_suggestions"]).token
            await verifier.verify(token)
            started = time.process_time()
            for _ in range(verifications):
                await verifier.verify(token)
            spent_us = (time.process_time() - started) / verifications * 1e6
            print(f"cache size {size}: {spent_us:.1f} µs CPU per verify")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--verifications", type=int, default=3000)
    asyncio.run(run(parser.parse_args().verifications))


if __name__ == "__main__":
    main()
