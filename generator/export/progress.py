"""What the export tells the person running it: a bar on a terminal, plain lines otherwise.

Everything goes to stderr (stdout stays free for pipes); --quiet keeps errors only. No
message ever carries a key: callers pass names and counts, never payload values.
"""

from __future__ import annotations

from typing import TextIO

from generator.console import safe

PREFIX = "gen-iac export"


class Progress:
    def __init__(
        self,
        stream: TextIO,
        quiet: bool = False,
        tty: bool | None = None,
        prefix: str = PREFIX,
        count_bytes: bool = True,  # the export counts downloaded bytes; verify does not
    ) -> None:
        self.prefix = prefix
        self.count_bytes = count_bytes
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty() if tty is None else tty
        self.total = 0
        self.done = 0
        self.bytes = 0
        self._bar_shown = False

    def info(self, text: str) -> None:
        if not self.quiet:
            self._line(f"{self.prefix}: {text}")

    def error(self, text: str) -> None:
        self._line(f"{self.prefix}: error: {text}")

    def start(self, total: int) -> None:
        self.total, self.done, self.bytes = total, 0, 0
        self._draw("")

    def add_bytes(self, count: int) -> None:
        """Downloaded bytes (called on the thread that draws)."""
        if count:
            self.bytes += count
            if self.tty:
                self._draw("")

    def step(self, label: str) -> None:
        """One service finished."""
        self.done += 1
        if self.tty:
            self._draw(label)
        else:
            so_far = f" ({human_bytes(self.bytes)} so far)" if self.count_bytes else ""
            self.info(f"[{self.done}/{self.total}] {label}{so_far}")

    def finish(self) -> None:
        if self._bar_shown:
            self.stream.write("\n")
            self.stream.flush()
            self._bar_shown = False

    def _draw(self, label: str) -> None:
        if self.quiet or not self.tty or self.total == 0:
            return
        width = 24
        filled = width * self.done // self.total
        bar = "#" * filled + "." * (width - filled)
        so_far = f", {human_bytes(self.bytes)}" if self.count_bytes else ""
        self.stream.write(f"\r\x1b[K{self.prefix} [{bar}] {self.done}/{self.total} services"
                          f"{so_far} {label[:40]}")
        self.stream.flush()
        self._bar_shown = True

    def _line(self, text: str) -> None:
        if self._bar_shown:  # keep the bar on its own line, below the message
            self.stream.write("\r\x1b[K")
        self.stream.write(safe(text) + "\n")  # names come from Azure: data, not commands
        self.stream.flush()
        if self._bar_shown:
            self._draw("")


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
