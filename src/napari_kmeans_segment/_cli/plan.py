"""The plan of a batch run: every input probed and every output path decided before any
work, and every reason to refuse the run collected at once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .args import IN_MEMORY_ONLY, check_labels_exist, check_options
from .console import CliError, cli_words
from .inputs import Source, probe


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


def make_plan(args) -> Plan:
    """Probe the inputs and decide every output; ``problems`` lists what refuses the run."""
    problems = check_options(args)
    model = None
    if args.model is not None:
        import napari_kmeans_segment as nks

        try:
            model = nks.load_model(args.model)
        except (ValueError, TypeError) as e:
            problems.append(f"--model: {e}")
    if model is not None and model.background and not args.background:
        args.background = tuple(model.background)  # the model's marks, unless --background says
    n_labels = args.n_clusters if model is None else model.labels[-1]
    if n_labels:
        problems += check_labels_exist(args, n_labels)
    sources = []
    for path in args.images:
        try:
            sources.append(probe(path, args.channel_axis, args.lazy))
        except CliError as e:
            problems.append(str(e))
    outdir = args.outdir if args.outdir is not None else Path(".")
    plan = Plan([], outdir, None, args.save_model, model, problems)
    for src in sources:
        plan.images.append(ImagePlan(src, _outputs(src, outdir, args)))
        whole = [flag for flag, given in IN_MEMORY_ONLY.items() if given(args)]
        if src.lazy and whole:
            problems.append(
                f"{src.path}: {', '.join(whole)} need{'s' if len(whole) == 1 else ''} the whole "
                f"image in memory; this input is read block by block. Leave out {', '.join(whole)}."
            )
        if src.lazy and (args.objects or args.background):
            plan.notes.append(
                f"{src.path}: objects are not counted for inputs read block by "
                "block (their summary cells stay empty)."
            )
    if not args.no_summary:
        plan.summary = args.summary if args.summary is not None else outdir / "summary.csv"
    if args.outdir is not None:
        bad_outdir = _check_outdir(outdir, args.images)
        # with an unusable folder, every output's own complaint would only repeat it
        problems += bad_outdir or _check_outputs(plan, args)
    return plan


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
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _inside(child: Path, parent: Path) -> bool:
    c, p = child.resolve(), parent.resolve()
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
        if not os.access(outdir, os.W_OK | os.X_OK):
            return [f"-o {outdir}: this folder is not writable."]
        return []
    parent = outdir.absolute().parent
    while not parent.exists() and not os.path.islink(parent):
        parent = parent.parent
    if not parent.is_dir():
        return [f"-o {outdir}: cannot be created, {parent} is not a folder."]
    if not os.access(parent, os.W_OK | os.X_OK):
        return [f"-o {outdir}: cannot be created, {parent} is not writable."]
    return []


def _check_outputs(plan: Plan, args) -> list[str]:
    """Outputs that collide, would touch an input, or exist without --overwrite."""
    problems = []
    inputs = list(args.images) + ([args.model] if args.model is not None else [])
    planned: list[tuple[Path, bool, str]] = []  # (path, is a folder, what writes it)
    for item in plan.images:
        for path in item.outputs.values():
            planned.append((path, path.suffix == ".zarr", str(item.source.path)))
    if plan.summary is not None:
        planned.append((plan.summary, False, "the summary"))
    if plan.save_model is not None:
        planned.append((plan.save_model, False, "--save-model"))
        folder = plan.save_model.absolute().parent
        if not folder.is_dir():
            problems.append(
                f"--save-model {plan.save_model}: the folder {folder} does not exist; create it first."
            )
        elif not os.access(folder, os.W_OK | os.X_OK):
            problems.append(f"--save-model {plan.save_model}: the folder {folder} is not writable.")
    if plan.summary is not None and args.summary is not None:
        folder = plan.summary.absolute().parent
        if folder != plan.outdir.absolute() and not folder.is_dir():
            problems.append(f"--summary {plan.summary}: the folder {folder} does not exist; create it first.")
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
        if os.path.lexists(path):
            if path.is_dir() != is_dir and not path.is_symlink():
                kind = "folder" if path.is_dir() else "file"
                problems.append(f"{path} exists and is a {kind}; move it away first.")
            elif not args.overwrite:
                problems.append(f"{path} exists; pass --overwrite to replace it.")
    return [cli_words(p) for p in problems]
