"""Command line: segment a folder of images in batch, or open napari with the widget.

    napari-kmeans-segment IMAGE [IMAGE ...] -k K [--model model.json] -o OUTDIR
    napari-kmeans-segment demo [--sample coffee]

Each image is a transaction: every output is planned and checked before any work, written
to temporary files, and moved into place only when all of that image's outputs succeeded.
"""

from __future__ import annotations

import sys

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
        plan = make_plan(args)
        for note in plan.notes:
            console.say(note)
        if plan.problems:
            for problem in plan.problems:
                console.say(problem)
            console.say(f"refused: nothing was written ({len(plan.problems)} problem(s) above).")
            return EXIT_USAGE
        return run(plan, args, console)
    except CliError as e:
        console.say(str(e))
        return EXIT_USAGE
    except KeyboardInterrupt:
        console.say("interrupted; outputs of the image being processed were not written.")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
