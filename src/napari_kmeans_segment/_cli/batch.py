"""Running a plan: one transaction per image, a progress line, exit status 0/1."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .args import EXIT_FAILED, EXIT_OK, fit_options
from .console import CliError, Console, bar, cli_words
from .inputs import Source, read_array
from .outputs import (
    Transaction,
    finite_range,
    png_pixels,
    remove,
    write_model,
    write_png,
    write_table,
    write_tiff,
)
from .plan import ImagePlan, Plan
from .summary import failed_row, image_row, image_warnings, interrupted_row, write_summary


def run(plan: Plan, args, console: Console) -> int:
    """Segment every planned image; a failure skips that image's outputs, not the others'."""
    lazy_env = None
    if any(item.source.lazy for item in plan.images):
        from .wsi import LazyEnv, process_lazy

        lazy_env = LazyEnv(args.scheduler, console)  # an unreachable scheduler refuses the run
    created: list[Path] = []
    lock = None
    try:
        created = _make_folder(plan.outdir)
        lock = _lock(plan, args, console)
    except BaseException:
        if lock is not None:
            lock.release()
        _remove_folders(created)
        if lazy_env is not None:
            lazy_env.close()
        raise
    model = plan.model
    # inputs --skip-unreadable left out: failed rows, so the summary lists every input
    rows: list[dict] = [failed_row(str(path), why) for path, why in plan.skipped]
    failed = len(plan.skipped)
    summary_failed = False
    n = len(plan.images)
    i = 0
    try:
        for i, item in enumerate(plan.images):
            name = item.source.path.name
            console.progress(f"{bar(i, n)} {i}/{n} {name}")
            try:
                with Transaction() as tx:
                    if lazy_env is not None and item.source.lazy:
                        seg_model, row = process_lazy(
                            item, model, args, tx, console, lazy_env, prefix=f"{bar(i, n)} {i}/{n} {name}"
                        )
                    else:
                        seg_model, row = _process(
                            item, model, args, tx, console, prefix=f"{bar(i, n)} {i}/{n} {name}"
                        )
                    fitted_now = model is None and plan.save_model is not None
                    if plan.save_model is not None and model is None:
                        # --background is kept in the model: --model then measures the same tissue
                        # (or the clusters a hed fit names "background", as in the dock)
                        marks = args.background or seg_model.default_background()
                        seg_model = seg_model.named(background=marks)
                        write_model(tx.temp(plan.save_model), seg_model)
                    tx.commit()
                if fitted_now:
                    model = seg_model  # the same classes for every following image
                rows.append(row)
            except Exception as e:  # noqa: BLE001 - one image's failure must not stop the batch
                failed += 1
                if isinstance(e, CliError):  # already names the file
                    msg = str(e).removeprefix(f"{item.source.path}: ")
                elif isinstance(e, ValueError | TypeError):
                    msg = cli_words(str(e))
                else:
                    msg = _describe(e)
                msg = " ".join(msg.split())  # one line, whatever the exception held
                console.say(f"{item.source.path}: {msg}")
                rows.append(failed_row(str(item.source.path), msg))
        console.progress(f"{bar(n, n)} {n}/{n} done")
        console.end_line()
        if plan.summary is not None and len(rows) > failed:
            summary_failed = not _summary(plan.summary, rows, console)
    except KeyboardInterrupt:
        # Ctrl+C or SIGTERM in a long batch: the images done so far are written; the summary
        # lists them, and the rest as not processed, so the person knows where it stopped
        console.end_line()
        if plan.summary is not None and len(rows) > failed:
            left = [str(item.source.path) for item in plan.images[i:]]
            if _summary(plan.summary, rows + [interrupted_row(name) for name in left], console):
                console.say(
                    f"{plan.summary}: lists the {len(rows) - failed} image(s) done before the interruption."
                )
        raise
    finally:
        if lock is not None:
            lock.release()
        if lazy_env is not None:
            lazy_env.close()
        if len(rows) == failed:  # nothing written: leave no empty folders either
            _remove_folders(created)
    return EXIT_FAILED if failed or summary_failed else EXIT_OK


def _summary(path: Path, rows: list[dict], console: Console) -> bool:
    """Write summary.csv; on a full or read-only disk say what is missing. Whether it was written."""
    try:
        with Transaction() as tx:
            write_summary(path, rows, tx)
            tx.commit()
    except OSError as e:  # a full disk: the images are written, say what is missing
        console.say(
            f"{path}: the summary could not be written ({e.strerror or e}); the images' outputs were written."
        )
        return False
    return True


def _lock(plan: Plan, args, console: Console):
    """Take the output folder's lock, then check the outputs again: a run that ended while
    this one was planning may have written them."""
    from .lock import FolderLock
    from .plan import check_outputs

    lock = FolderLock(plan.outdir)
    if lock.took_over and lock.took_over.get("pid"):
        info = lock.took_over
        console.say(
            f"-o {plan.outdir}: took over the lock left by a run that ended "
            f"(pid {info.get('pid')} on {info.get('host', 'an unknown host')})."
        )
    problems = check_outputs(plan, args)
    if problems:
        lock.release()
        for problem in problems:
            console.say(problem)
        raise CliError(f"refused: nothing was written ({len(problems)} problem(s) above).")
    return lock


def _remove_folders(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            break


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        where = f" ({e.filename})" if e.filename else ""
        return f"could not read or write a file: {e.strerror}{where}."
    if isinstance(e, MemoryError):
        return "not enough memory for this image; try --lazy (TIFF) or a smaller image."
    return f"{type(e).__name__}: {e}"


def _make_folder(outdir: Path) -> list[Path]:
    """Create ``outdir`` (and missing parents); return the folders created, outermost first."""
    missing = []
    p = outdir.absolute()
    while not p.exists():
        missing.append(p)
        p = p.parent
    missing.reverse()
    for folder in missing:
        try:
            os.mkdir(folder)
        except OSError as e:
            from .console import CliError

            for made in reversed(missing[: missing.index(folder)]):
                remove(made)
            raise CliError(f"-o {outdir}: could not create {folder}: {e.strerror}.") from None
    return missing


def _process(item: ImagePlan, model, args, tx: Transaction, console: Console, prefix: str):
    """Read, segment and write one image held in memory. Returns (model, summary row)."""
    import napari_kmeans_segment as nks
    from napari_kmeans_segment._core.measure.slide_stains import stained_background
    from napari_kmeans_segment._core.measure.uncertainty import unlike_model

    def progress(fraction: float, message: str) -> None:
        console.progress(f"{prefix}: {int(100 * fraction)}% {message}")

    src = item.source
    img = read_array(src)
    if model is not None:
        slide = dict(white_level=args.white_level, dab_thresholds=args.dab_thresholds)
        seg = model.apply(
            img,
            rgb=src.rgb,
            channel_axis=src.channel_axis,
            progress=progress,
            **slide if model.measures_stains else {},
        )
    else:
        seg = nks.segment(
            img, rgb=src.rgb, channel_axis=src.channel_axis, progress=progress, **fit_options(args).to_dict()
        )
    labels = np.asarray(seg.labels)
    write_tiff(tx.temp(item.outputs["labels"]), labels)
    if "recolored" in item.outputs:
        _write_recolored(item.outputs["recolored"], np.asarray(seg.recolored), img, src, tx)
    write_table(tx.temp(item.outputs["clusters"]), seg.table())
    counts = np.bincount(labels.ravel(), minlength=int(labels.max(initial=0)) + 1)
    names = dict(zip((int(i) for i in seg.index), seg.default_names()))
    background = tuple(args.background) or tuple(seg.default_background())
    notes = [stained_background(img, labels, background, names)] if background and src.rgb else []
    if model is not None:  # the same classes on another image: do they describe it?
        _, far = unlike_model(model, img, src.path.name, rgb=src.rgb, channel_axis=src.channel_axis)
        notes += [far] if far else []
    # every warning on the terminal too, not only in summary.csv's warning column
    for note in image_warnings(seg.stains, notes):
        console.say(f"{src.path}: {note}")
    foreground = nks.foreground_labels(seg, args.objects_of.replace("-", " ")) if args.objects_of else ()
    row = image_row(
        str(src.path),
        counts,
        labels,
        args,
        background,
        foreground,
        names=names,
        stains=seg.stains,
        notes=notes,
        index=seg.model.labels,
    )
    return seg.model, row


def _write_recolored(path: Path, rec: np.ndarray, img: np.ndarray, src: Source, tx) -> None:
    if path.suffix == ".png":
        write_png(tx.temp(path), png_pixels(rec, finite_range(img)))
    else:  # TIFF holds stacks and any number of channels in the image's own type
        write_tiff(tx.temp(path), rec, rgb=src.rgb)
