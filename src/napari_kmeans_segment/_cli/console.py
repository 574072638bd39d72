"""What the command line prints: one progress line that messages never share, and the
core's advice translated into the command line's own flags."""

from __future__ import annotations

import re
import sys
from typing import TextIO

PROG = "napari-kmeans-segment"


class CliError(Exception):
    """A problem the person can fix before anything runs: printed as one line, exit status 2."""


class Console:
    """Writes a single updating progress line (``\\r``) and whole-line messages to stderr.

    A message printed while a progress line is showing starts on a new line, so the two are
    never glued together.
    """

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self._open = False
        self._width = 0

    def progress(self, text: str) -> None:
        """Replace the progress line with ``text``."""
        text = printable(text)
        pad = max(self._width - len(text), 0)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)
        self._open = True

    def say(self, text: str) -> None:
        """Print ``text`` on its own line (after ending a progress line, if one is showing)."""
        self.end_line()
        self.stream.write(f"{PROG}: {printable(text)}\n")
        self.stream.flush()

    def end_line(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
            self._width = 0


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(text: str) -> str:
    """``text`` with control characters written as escapes (a file named "a\\nb.png" must not
    break a message into two lines or move the cursor)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def bar(done: int, total: int, width: int = 20) -> str:
    filled = width * done // max(total, 1)
    return f"[{'#' * filled}{' ' * (width - filled)}]"


# The core speaks Python (keyword arguments); the command line speaks flags.
_WHOLE_SENTENCES = [
    (
        re.compile(r"Pass rgb=False for a grayscale image\.?"),
        "Use --channel-axis N to say which axis holds the channels, or --channel-axis none "
        "for a grayscale image or stack.",
    ),
    (
        re.compile(r"Load the image \(np\.asarray\) or a region of it first\.?"),
        "Leave out that option for large (lazily read) inputs.",
    ),
]
_WORDS = [
    (re.compile(r"\bn_clusters=(\S+?)([:;,.]?\s|$)"), r"-k \1\2"),
    (re.compile(r"\bn_clusters\b"), "-k"),
    (re.compile(r"\bsample_size=None(?: \(the exact recipe\))?"), "--exact"),
    (re.compile(r"\bchannel_axis=(\S+?)([:;,.]?\s|$)"), r"--channel-axis \1\2"),
    (re.compile(r"\bchannel_axis\b"), "--channel-axis"),
    (re.compile(r"\bcolor_space='?(\w+)'?"), r"--color-space \1"),
    (re.compile(r"\bstain_vectors='?(\w+)'?"), r"--stain-vectors \1"),
    (re.compile(r"\bnormalize=True\b"), "--normalize"),
    (re.compile(r"\bmax_iter=(\S+?)([:;,.]?\s|$)"), r"--max-iter \1\2"),
    (re.compile(r"\battempts=(\S+?)([:;,.]?\s|$)"), r"--attempts \1\2"),
    (re.compile(r"\bepsilon=(\S+?)([:;,.]?\s|$)"), r"--epsilon \1\2"),
    (re.compile(r"\binit='?([\w+-]+)'?"), r"--init \1"),
    (re.compile(r"\bseed=(\S+?)([:;,.]?\s|$)"), r"--seed \1\2"),
    (re.compile(r"\bspatial_weight=(\S+?)([:;,.]?\s|$)"), r"--spatial-weight \1\2"),
    (re.compile(r"\btexture_sigma=(\S+?)([:;,.]?\s|$)"), r"--texture-sigma \1\2"),
    (re.compile(r"\bper_plane=True\b"), "--per-plane"),
    (re.compile(r"\brgb=True needs"), "An RGB image needs"),
    (re.compile(r"\brgb=(True|False)\b"), "the channel layout (--channel-axis)"),
]


def cli_words(message: str) -> str:
    """The core's message with its keyword arguments replaced by this command's flags."""
    for pattern, text in _WHOLE_SENTENCES:
        message = pattern.sub(text, message)
    for pattern, repl in _WORDS:
        message = pattern.sub(repl, message)
    return message
