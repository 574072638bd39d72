"""Command line: segment a folder of images in batch, or open napari with the widget.

    napari-kmeans-segment IMAGE [IMAGE ...] -k K [--model model.json] -o OUTDIR
    napari-kmeans-segment demo [--sample coffee]

Each image is a transaction: every output is planned and checked before any work, written
to temporary files, and moved into place only when all of that image's outputs succeeded.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager

from .args import EXIT_USAGE, build_parser, parse
from .console import CliError, Console

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status
    (0 ok, 1 some images failed, 2 usage error or refused plan: nothing written)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["demo"]:
        from .demo import demo_main

        return demo_main(argv[1:])
    console = Console()
    from .._core.versions import check_installed

    try:
        check_installed()
    except ImportError as e:
        console.say(str(e))
        return EXIT_USAGE
    try:
        args = parse(argv)
    except SystemExit as e:  # argparse printed the usage message
        return EXIT_USAGE if e.code else 0
    except CliError as e:
        console.say(str(e))
        return EXIT_USAGE
    from .batch import run
    from .plan import make_plan

    try:
        with _terminate_as_interrupt():
            return _run(args, console, make_plan, run)
    except CliError as e:
        console.say(str(e))
        return EXIT_USAGE
    except Terminated:
        console.say("terminated; outputs of the image being processed were not written.")
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        console.say("interrupted; outputs of the image being processed were not written.")
        return 130


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwinds like Ctrl+C so every transaction removes its temporaries."""


@contextmanager
def _terminate_as_interrupt():
    """While the batch runs, SIGTERM raises :class:`Terminated` in the main thread (its default
    action killed the process and left .tmp files and .ome.zarr.tmp folders behind)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def handler(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args, console: Console, make_plan, run) -> int:
    plan = make_plan(args)
    for note in plan.notes:
        console.say(note)
    if plan.problems:
        for problem in plan.problems:
            console.say(problem)
        console.say(f"refused: nothing was written ({len(plan.problems)} problem(s) above).")
        return EXIT_USAGE
    return run(plan, args, console)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
