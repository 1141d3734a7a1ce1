from __future__ import annotations

import io

from generator.export.progress import Progress


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=False)
    progress.start(2)
    progress.step("a (ACI)")
    progress.error("boom")
    assert out.getvalue() == "gen-iac export: [1/2] a (ACI)\ngen-iac export: error: boom\n"


def test_bar_on_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=True)
    progress.start(2)
    progress.step("a (ACI)")
    progress.step("b (AKS)")
    progress.finish()
    text = out.getvalue()
    assert "\r" in text and "[" + "#" * 24 + "] 2/2 b (AKS)" in text and text.endswith("\n")


def test_quiet_keeps_errors_only() -> None:
    out = io.StringIO()
    progress = Progress(out, quiet=True, tty=True)
    progress.start(1)
    progress.info("hello")
    progress.step("a")
    progress.error("bad")
    progress.finish()
    assert out.getvalue() == "gen-iac export: error: bad\n"
