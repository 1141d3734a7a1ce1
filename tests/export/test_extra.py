"""The generator starts without the `export` extra; export says how to install it."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from generator.export import command

ROOT = Path(__file__).resolve().parents[2]


def test_help_and_import_do_not_load_the_sdk() -> None:
    code = (
        "import sys, contextlib, io\n"
        "import generator.export.command\n"
        "from generator.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help']); main(['export', '--help'])\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('azureml', 'azure', 'msrest')]\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_missing_extra_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "azureml.core", None)  # import azureml.core -> ImportError
    err = io.StringIO()
    status = command.main(["--subscription", "s", "--resource-group", "g", "--workspace", "w",
                           "--out", str(tmp_path / "snap")], stream=err)
    assert status == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "pip install 'gen-iac[export]'" in lines[0]
    assert not (tmp_path / "snap").exists()


def test_help_is_for_newcomers(capsys: pytest.CaptureFixture[str]) -> None:
    assert command.main(["--help"]) == 0
    text = capsys.readouterr().out
    for words in ("az login", "keys.json", "exit status", "gen-iac[export]", "--with-keys"):
        assert words in text
