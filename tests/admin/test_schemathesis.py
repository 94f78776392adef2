"""schemathesis against `/openapi.json`: no 5xx, and every answer matches the document.

schemathesis (from PyPI) runs as a child process against the live admin API, once with each
role's token, with a fixed seed and a bounded number of examples per operation, so it ends in
seconds. Set MEDIATOR_FUZZ_EXAMPLES to run longer before a release.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.admin.conftest import Admin

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SEED = 20261207
EXAMPLES = int(os.environ.get("MEDIATOR_FUZZ_EXAMPLES", "15"))
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance"
)


def _st() -> str:
    found = Path(sys.executable).with_name("st")
    if found.exists():
        return str(found)
    on_path = shutil.which("st")
    if on_path is None:
        pytest.fail("schemathesis is not installed: pip install -e '.[test]'")
    return on_path


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_schemathesis_finds_no_server_error_and_no_answer_off_the_schema(
    admin: Admin, role: str, tmp_path: Path
) -> None:
    print(f"schemathesis seed {SEED}, {EXAMPLES} examples per operation")
    token = admin.headers(role)["Authorization"]
    process = await asyncio.create_subprocess_exec(
        _st(), "run", f"{admin.url}/openapi.json",
        "--header", f"Authorization: {token}",
        "--checks", CHECKS,
        "--max-examples", str(EXAMPLES),
        "--seed", str(SEED),
        "--phases", "examples,coverage,fuzzing",
        "--request-timeout", "10",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )  # fmt: skip
    async with asyncio.timeout(120):
        output, _ = await process.communicate()
    text = output.decode(errors="replace")
    print(text[-2500:])
    assert process.returncode == 0, text[-6000:]
    assert "No issues found" in text or "passed" in text, text[-3000:]
