"""The log scan that runs over the whole test run finds what it is meant to find."""

from __future__ import annotations

from pathlib import Path

import jwt

from auth_svc.signing_key import SigningKey
from tests.leak_scan import remember, scan, secrets_in_files


def test_the_scan_finds_tokens_keys_api_keys_and_known_secrets(tmp_path: Path) -> None:
    key = SigningKey.generate("EdDSA")
    token = jwt.encode({"sub": "someone", "scopes": ["x"]}, key.private_key, algorithm="EdDSA")
    credential = remember("a-remembered-credential-value")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "admin.token").write_text("admin-token-from-a-file\n")
    # Not named *.log: the session-wide scan would (rightly) find these planted secrets.
    log = tmp_path / "planted-service-log.txt"
    lines = [
        "clean line",
        f'{{"message": "issued", "token": "{token}"}}',
        key.to_pem().decode().splitlines()[0],
        "calling the model with sk-live-abcdef123",
        f"credential={credential}",
        "admin admin-token-from-a-file",
        '{"token": "**********"}',
    ]
    log.write_text("\n".join(lines) + "\n")

    findings = scan([log], secrets_in_files(tmp_path))

    assert [(finding.line_number, finding.what) for finding in findings] == [
        (2, "a JWT"),
        (3, "a PEM private key"),
        (4, "a test API key"),
        (5, "a known secret"),
        (6, "a known secret"),
    ]
    assert all(token not in str(finding) for finding in findings)
