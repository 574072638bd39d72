"""The plan of a batch run: every input probed and every output path decided before any
work, and every reason to refuse the run collected at once."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .args import IN_MEMORY_ONLY, check_labels_exist, check_options, drop_repeats, max_pixels
from .console import CliError, cli_words
from .inputs import Source, probe

# Block-by-block inputs holding more blocks than this, at the largest block size, are refused:
# 250,000 blocks of 8192 x 8192 pixels are 1.7e13 pixels, far beyond any slide.
MAX_LAZY_BLOCKS = 250_000


@dataclass
class ImagePlan:
    source: Source
    outputs: dict[str, Path]  # role ("labels", "recolored", "clusters") -> final path


@dataclass
class Plan:
    images: list[ImagePlan]
    outdir: Path
    summary: Path | None
    save_model: Path | None
    model: object | None  # the loaded --model
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (input, why) with --skip-unreadable


def make_plan(args) -> Plan:
    """Probe the inputs and decide every output; ``problems`` lists what refuses the run.

    Every input is probed, whatever the others hold, so all problems are listed at once.
    With ``--skip-unreadable`` an input that cannot be read is a note and a failed summary
    row (``skipped``) instead of a problem.
    """
    problems = check_options(args)
    notes = drop_repeats(args)
    model = None
    if args.model is not None:
        import napari_kmeans_segment as nks

        try:
            model = nks.load_model(args.model)
        except (ValueError, TypeError) as e:
            problems.append(f"--model: {e}")
    given = [
        f for f, v in (("--white-level", args.white_level), ("--dab-thresholds", args.dab_thresholds)) if v
    ]
    if model is not None and given and not model.measures_stains:
        problems.append(
            f"{' and '.join(given)}: the model does not measure stains (it was not fitted with "
            "--color-space hed and tissue detection)."
        )
    if model is not None and model.background and not args.background:
        args.background = tuple(model.background)  # the model's marks, unless --background says
    if model is not None:
        problems += check_labels_exist(args, model.labels)
    elif args.n_clusters and args.n_clusters > 0:
        problems += check_labels_exist(args, list(range(1, args.n_clusters + 1)))
    sources = []
    skipped: list[tuple[Path, str]] = []
    limit = _max_pixels(args)
    for path in args.images:
        try:
            sources.append(probe(path, args.channel_axis, args.lazy, limit))
        except CliError as e:
            if getattr(args, "skip_unreadable", False):
                skipped.append((path, str(e).removeprefix(f"{path}: ")))
                notes.append(f"{e} Skipped (--skip-unreadable).")
            else:
                problems.append(str(e))
    outdir = args.outdir if args.outdir is not None else Path(".")
    plan = Plan([], outdir, None, args.save_model, model, problems, notes, skipped)
    if skipped and not sources:
        problems.append("no input can be read; nothing to do.")
    for src in sources:
        plan.images.append(ImagePlan(src, _outputs(src, outdir, args)))
        too_big = _beyond_blocks(src)
        if too_big:
            problems.append(too_big)
        whole = [flag for flag, given in IN_MEMORY_ONLY.items() if given(args)]
        if src.lazy and whole:
            problems.append(
                f"{src.path}: {', '.join(whole)} need{'s' if len(whole) == 1 else ''} the whole "
                f"image in memory; this input is read block by block. Leave out {', '.join(whole)}."
            )
        if src.lazy and (args.objects or args.objects_of or args.background):
            plan.notes.append(
                f"{src.path}: objects are not counted for inputs read block by "
                "block (their summary cells stay empty)."
            )
    if not args.no_summary:
        plan.summary = args.summary if args.summary is not None else outdir / "summary.csv"
    if args.outdir is not None:
        bad_outdir = _check_outdir(outdir, args.images)
        # with an unusable folder, every output's own complaint would only repeat it
        problems += bad_outdir or check_outputs(plan, args)
    return plan


def _beyond_blocks(src: Source) -> str | None:
    """Why a block-by-block input cannot be processed at all: more blocks of the largest size
    than any run could schedule (a damaged store claiming 10^12 x 10^12 pixels)."""
    if not src.lazy or src.shape is None:
        return None
    from .blocks import MAX_BLOCK_SIDE, block_chunks, channel_dim_of, n_blocks

    chunks = block_chunks(src.shape, src.store_chunks or src.shape, channel_dim_of(src), MAX_BLOCK_SIDE)
    n = n_blocks(src.shape, chunks)
    if n <= MAX_LAZY_BLOCKS:
        return None
    return (
        f"{src.path}: shape {src.shape} makes {n:,} blocks even of {MAX_BLOCK_SIDE} pixels a side, "
        f"more than {MAX_LAZY_BLOCKS:,}; is its metadata damaged? Crop it or process a region."
    )


def _max_pixels(args) -> int | None:
    try:
        return max_pixels(args)
    except ValueError:  # check_options said so
        return None


def _outputs(src: Source, outdir: Path, args) -> dict[str, Path]:
    stem = src.stem
    if src.lazy:
        out = {"labels": outdir / f"{stem}_labels.ome.zarr"}
        if args.recolored:
            out["recolored"] = outdir / f"{stem}_recolored.ome.zarr"
    else:
        out = {"labels": outdir / f"{stem}_labels.tif"}
        if args.recolored is not False:
            ext = "png" if src.png_recolored else "tif"
            out["recolored"] = outdir / f"{stem}_recolored.{ext}"
    out["clusters"] = outdir / f"{stem}_clusters.csv"
    return out


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` are one file: same path, a link to it or a hard link."""
    try:
        if os.path.samefile(a, b):  # st_dev + st_ino: catches hard links and symlinks
            return True
    except (OSError, ValueError):
        pass
    return _real(a) == _real(b)


def _real(p: Path) -> Path:
    """The path with links resolved as far as they go (Path.resolve raises on a link loop
    under Python 3.11; os.path.realpath stops there)."""
    return Path(os.path.realpath(p))


def _inside(child: Path, parent: Path) -> bool:
    c, p = _real(child), _real(parent)
    return p == c or p in c.parents


def _check_outdir(outdir: Path, inputs: list[Path]) -> list[str]:
    if os.path.islink(outdir) and not outdir.exists():
        return [
            f"-o {outdir}: a broken link (to {os.readlink(outdir)}, which does not exist); "
            "create that folder or choose another -o."
        ]
    if outdir.exists() and not outdir.is_dir():
        return [f"-o {outdir}: a file, not a folder."]
    for src in inputs:
        if src.is_dir() and os.path.lexists(src) and _inside(outdir, src):
            return [f"-o {outdir}: inside the input {src}; choose a folder outside it."]
    if outdir.is_dir():
        why = not_writable(outdir)
        return [f"-o {outdir}: this folder is not writable ({why})."] if why else []
    parent = outdir.absolute().parent
    while not parent.exists() and not os.path.islink(parent):
        parent = parent.parent
    if not parent.is_dir():
        return [f"-o {outdir}: cannot be created, {parent} is not a folder."]
    why = not_writable(parent)
    if why:
        return [f"-o {outdir}: cannot be created, {parent} is not writable ({why})."]
    return []


def not_writable(folder: Path) -> str | None:
    """Why a file cannot be created in ``folder`` (None when it can).

    A real file is created and removed: permission bits say nothing for root, nor about a
    read-only mount or a file system such as /proc.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=".napari-kmeans-segment-check.", suffix=".tmp", dir=folder)
    except OSError as e:
        return e.strerror or type(e).__name__
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    return None


def _check_folder(flag: str, path: Path, outdir: Path) -> str | None:
    """The folder of ``flag``'s file ``path`` must exist (unless it is -o, made by the run)
    and take new files."""
    folder = path.absolute().parent
    if folder == outdir.absolute():
        return None  # checked (and created) as -o
    if not folder.is_dir():
        return f"{flag} {path}: the folder {folder} does not exist; create it first."
    why = not_writable(folder)
    return f"{flag} {path}: the folder {folder} is not writable ({why})." if why else None


_FILE_FLAGS = {"--summary": "summary.csv", "--save-model": "model.json"}  # flags naming one file


def check_outputs(plan: Plan, args) -> list[str]:
    """Outputs that collide, would touch an input, or exist without --overwrite."""
    problems = []
    inputs = list(args.images) + ([args.model] if args.model is not None else [])
    planned: list[tuple[Path, bool, str]] = []  # (path, is a folder, what writes it)
    for item in plan.images:
        for path in item.outputs.values():
            planned.append((path, path.suffix == ".zarr", str(item.source.path)))
    if plan.summary is not None:
        planned.append((plan.summary, False, "--summary"))
    if plan.save_model is not None:
        planned.append((plan.save_model, False, "--save-model"))
    # every folder a file goes into, up front: the summary's used to fail after the images
    for flag, file in (("--save-model", plan.save_model), ("--summary", plan.summary)):
        problem = None if file is None else _check_folder(flag, file, plan.outdir)
        if problem:
            problems.append(problem)
    seen: dict[Path, str] = {}
    for path, is_dir, who in planned:
        key = path.absolute()
        if key in seen:
            problems.append(
                f"{who} and {seen[key]} would both write {path}; give the inputs "
                "different names or write them to different folders."
            )
            continue
        seen[key] = who
        hit = next(
            (
                src
                for src in inputs
                if same_file(path, src)
                or (os.path.lexists(src) and (_inside(src, path) or _inside(path, src)))
            ),
            None,
        )
        if hit is not None:
            problems.append(
                f"{path} would overwrite the input {hit}; refusing (even with "
                "--overwrite). Choose another output folder or name."
            )
            continue
        if len(os.fsencode(path.name)) > 255:  # most file systems' limit, met after the work
            problems.append(f"{path}: the output's name would be too long; rename the input {who}.")
            continue
        if os.path.lexists(path):
            if path.is_dir() != is_dir and not path.is_symlink():
                if who in _FILE_FLAGS:  # a folder given where a file name belongs
                    example = path / _FILE_FLAGS[who]
                    problems.append(f"{who}: {path} is a folder; give a file name, e.g. {example}.")
                    continue
                kind = "folder" if path.is_dir() else "file"
                problems.append(f"{path} exists and is a {kind}; move it away first.")
            elif not args.overwrite:
                problems.append(f"{path} exists; pass --overwrite to replace it.")
    return [cli_words(p) for p in problems]
