"""The committed generated code must be exactly what scripts/gen_protos.py makes from proto/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    committed = ROOT / "src" / "aigw"
    fresh = tmp_path / "aigw"

    def files(root: Path) -> dict[str, bytes]:
        return {
            str(path.relative_to(root)): path.read_bytes()
            for path in root.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }

    committed_files, fresh_files = files(committed), files(fresh)
    assert sorted(committed_files) == sorted(fresh_files), "run `make proto` and commit"
    stale = [name for name in fresh_files if fresh_files[name] != committed_files[name]]
    assert not stale, f"stale generated files (run `make proto` and commit): {stale}"
