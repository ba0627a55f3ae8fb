"""The token file's rules (cli.auth_token), on files of every shape: what is kept of the
text, what is refused and what only warns. The commands using it run in
tests/e2e/test_auth_token_file.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from devagent.cli.auth_token import TokenError, read_token_file


def write(tmp_path: Path, data: bytes, mode: int = 0o600) -> str:
    path = tmp_path / "token"
    path.write_bytes(data)
    path.chmod(mode)
    return str(path)


@pytest.mark.parametrize(
    ("data", "token"),
    [(b"abc\n", "abc"), (b"abc", "abc"), (b"abc\r\n", "abc"), ("kéy-Ω\n".encode(), "kéy-Ω"),
     (b"a b\tc\n", "a b\tc"), ("nbsp\u00a0\n".encode(), "nbsp\u00a0")],
)  # fmt: skip
def test_one_trailing_newline_is_dropped(tmp_path: Path, data: bytes, token: str) -> None:
    assert read_token_file(write(tmp_path, data)) == token


@pytest.mark.parametrize(
    ("data", "says"),
    [(b"", "empty"), (b"\r\n", "empty"), (b"abc\n\n", "more than one line"),
     (b"a\rb", "more than one line"), (b"abc \n", "white space"), (b"\tabc", "white space"),
     (b"a\x7fb", "control characters"), (b"\xff\xfe", "not UTF-8"),
     (b"x" * 4097, "longer than 4096 bytes")],
)  # fmt: skip
def test_unusable_contents_are_refused(tmp_path: Path, data: bytes, says: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(TokenError, match=says) as refused:
        read_token_file(path, "env DEVAGENT_AUTH_TOKEN_FILE")
    assert refused.value.format_message().startswith(f"env DEVAGENT_AUTH_TOKEN_FILE {path}: ")
    assert refused.value.exit_code == 2


@pytest.mark.parametrize(
    ("mode", "can"),
    [(0o600, None), (0o640, None), (0o660, None), (0o644, "read"), (0o622, "replace"),
     (0o666, "read and replace")],
)  # fmt: skip
def test_files_others_can_use_warn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: int, can: str | None
) -> None:
    path = write(tmp_path, b"abc\n", mode)
    assert read_token_file(path) == "abc"
    err = capsys.readouterr().err
    if can is None:
        assert err == ""
    else:
        assert err == (f"phydev: warning: --auth-token-file {path}: every local user can "
                       f"{can} it (mode {mode:04o}): chmod o-rw {path}\n")  # fmt: skip
