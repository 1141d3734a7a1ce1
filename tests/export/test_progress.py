from __future__ import annotations

import io

from generator.export.progress import Progress, human_bytes


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=False)
    progress.start(2)
    progress.add_bytes(1536)
    progress.step("a (ACI)")
    progress.error("boom")
    assert out.getvalue() == ("gen-iac export: [1/2] a (ACI) (1.5 KB so far)\n"
                              "gen-iac export: error: boom\n")


def test_bar_on_a_terminal_counts_services_and_bytes() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=True)
    progress.start(2)
    progress.step("a (ACI)")
    progress.add_bytes(3 * 1024 * 1024)
    progress.step("b (AKS)")
    progress.finish()
    text = out.getvalue()
    assert "\r" in text and text.endswith("\n")
    assert "[" + "#" * 24 + "] 2/2 services, 3.0 MB b (AKS)" in text


def test_quiet_keeps_errors_only() -> None:
    out = io.StringIO()
    progress = Progress(out, quiet=True, tty=True)
    progress.start(1)
    progress.info("hello")
    progress.add_bytes(10)
    progress.step("a")
    progress.error("bad")
    progress.finish()
    assert out.getvalue() == "gen-iac export: error: bad\n"


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1024, 5 * 1024**3)] == [
        "0 B", "1023 B", "1.0 KB", "5.0 GB"]
