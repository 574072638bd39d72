"""Every word the dock shows: tooltips for each control and button, and status messages.

Written for someone who knows their images, not OpenCV: each term k-means borrows from OpenCV
(attempts, iterations, epsilon, k-means++, seed, compactness) is said in plain words first.
The dock applies them by name, e.g. ``button.setToolTip(tooltip("run"))`` or
``w.tooltip = tooltip(w.name)`` for magicgui widgets (rich text, so Qt wraps it), and
writes its status line with ``status("done", k=4, layer="coffee clusters", mode="fast", seconds=0.4)``.
The two modes are called "fast" and "exact" everywhere.
"""

from __future__ import annotations

import html
import re
import string

# Control names follow the dock's widget names (magicgui ``name=``); panel buttons and table
# columns are named for what they do. Extra keys cover controls being added (hed colour space,
# background marking, "use K = n", channel axis, the loaded model).
TOOLTIPS: dict[str, str] = {
    # -- the form, in task order ---------------------------------------------------------
    "image_layer": (
        "The image to segment. It follows the layer you select in the layer list. "
        "Your image is only read, never changed."
    ),
    "n_clusters": (
        "K: how many groups of similar colour (or intensity) to split the pixels into. "
        "Each group becomes one label in the '<image> clusters' layer. "
        "Not sure? Press Suggest K."
    ),
    "color_space": (
        "How colours are compared. rgb: as stored. lab: by how different they look to the "
        "eye (a good start for photographs). hsv: by hue, saturation and brightness, with hue "
        "on a circle so that reds near both ends stay together. hed: stain separation, the "
        "one to use for brightfield H&E or H-DAB slides. Colour images only."
    ),
    "hed": (
        "Stain separation for brightfield slides stained with H&E or H-DAB: each pixel is "
        "turned into how much haematoxylin (blue nuclei), eosin (pink) and DAB (brown) it "
        "holds, and the groups are made from those stain amounts rather than from raw colour."
    ),
    "channel_axis": (
        "For a single layer that holds several channels (for example a 3-channel "
        "fluorescence stack): the axis that holds the channels, so each pixel is grouped by "
        "all its channel values together. 'none' treats every value as a pixel of its own."
    ),
    "more_features": (
        "Optional: which channels and pixels to group, and what besides colour to group them "
        "by (position, texture). Closed, the image is grouped by colour alone."
    ),
    "channel_layers": (
        "Other image layers of the same size to group together with this image, each one "
        "as a channel (for example separate fluorescence channels). The list follows the "
        "image you pick."
    ),
    "mask_layer": (
        "Only group the pixels inside this Labels or Shapes layer (painted or drawn areas). "
        "Pixels outside get label 0, no group. Use it to leave out the glass around a slide "
        "or the rim of a dish."
    ),
    "normalize": (
        "Put every feature (each colour channel, and position or texture when used) on the "
        "same scale before grouping, so that none dominates only because its numbers are "
        "larger. Useful when channels have very different ranges."
    ),
    "spatial_weight": (
        "Also group pixels by where they are. 0: position is ignored. 1: position counts as "
        "much as colour. Higher values give compact, blob-like regions."
    ),
    "texture_sigma": (
        "Also group pixels by texture: how much the intensity varies within about this many "
        "pixels. 0 turns it off. Helps to tell smooth from grainy areas of the same colour."
    ),
    "per_plane": (
        "For stacks (z or time): find the groups in each plane on its own, then match the "
        "numbering between planes by colour. Off: one set of groups for the whole stack."
    ),
    "mode": (
        "fast: learns the groups from a random subset of the pixels, refines them on the "
        "whole image, then labels every pixel; practically the same result, many times "
        "sooner. exact: uses every pixel at every step, as plain OpenCV k-means does; slow "
        "on large images. Small images always use exact."
    ),
    "live_preview": (
        "Show a quick result on a smaller copy of the image while you change settings, in an "
        "'<image> preview' layer. Switching it off removes that layer. Press Run for the "
        "full result."
    ),
    "run": (
        "Group the pixels with these settings. Runs in the background (progress in the "
        "activity panel); the result goes to '<image> clusters' and '<image> recolored'."
    ),
    "cancel": "Stop the current run. Nothing is added or changed.",
    "suggest": (
        "Try K from 2 to 10 on a random subset of the pixels and plot, for each K, how well "
        "the groups are separated. K is only changed when you press 'use K = n'."
    ),
    "use_k": ("Set K to the value Suggest K found best separated. Nothing runs until you press Run."),
    "suggest_plot": (
        "For each K tried: the silhouette (left axis, solid line) says how well separated the "
        "groups are, from -1 to 1 (above 0.5 clearly separated, below 0.25 weakly); the "
        "compactness (right axis, dashed) is the total distance of the pixels to their "
        "group's colour, which always falls as K grows: look for where it bends. "
        "The dotted line marks the suggested K."
    ),
    "suggest_verdict": "What the Suggest K scores say, in a sentence or two.",
    "status": "What the plugin is doing, or what the last run or action did.",
    # -- how the k-means search runs (OpenCV's settings, folded away) -------------------------
    "search_settings": (
        "How hard the k-means search works: how many fresh starts, how many refinement steps, "
        "when to stop, how to pick the starting colours, and the random seed. The defaults "
        "suit most images."
    ),
    "advanced": (
        "Show the settings of the k-means search itself (fresh starts, refinement steps, "
        "stopping point, starting colours, random seed). The defaults suit most images."
    ),
    "attempts": (
        "How many times the search starts again from different starting colours; the start "
        "whose groups are tightest (pixels closest to their group's colour) is kept. More "
        "attempts give steadier results and take longer (the fast mode makes about K / 3 "
        "starts per attempt). OpenCV calls these attempts."
    ),
    "max_iter": (
        "Upper limit on refinement steps for each fresh start. Each step moves every group's colour to "
        "the average of its pixels and reassigns the pixels. Rarely needs changing."
    ),
    "epsilon": (
        "Stop refining once the group colours hardly move between two steps. The default "
        "0.2 suits 8-bit images (0-255); smaller is more precise and slower. Rarely needs "
        "changing (OpenCV calls it epsilon)."
    ),
    "init": (
        "How the starting colours are picked in the exact mode. random: random pixels. "
        "k-means++: picked to be spread apart, which often needs fewer refinement steps. "
        "The fast mode always spreads its starts apart (k-means++ on a summary of every "
        "pixel), so small groups of pixels still get a colour of their own."
    ),
    "seed": (
        "random: a new random start each run; the number used is saved with the result, so "
        "a run can be repeated. Type a number to get the same result every time for the same "
        "image and settings."
    ),
    # -- the clusters panel ---------------------------------------------------------------
    "table": (
        "One row per cluster. Untick 'show' to hide a cluster; double-click a name to rename "
        "it; click a column header to sort; right-click it to show more columns; select rows "
        "to merge, extract or mark them."
    ),
    "column_show": (
        "Untick to hide this cluster: it turns transparent in the clusters layer and black in "
        "'<image> masked'."
    ),
    "column_color": (
        "The colour this cluster is drawn with in the clusters layer, picked to stand out from "
        "the cluster's own average colour; the average is in the row's tooltip."
    ),
    "column_label": "The cluster's number in the clusters layer (0 means no cluster).",
    "column_name": "The cluster's name; double-click to rename it (e.g. 'nuclei', 'background').",
    "column_share": (
        "Share of the clustered pixels in this cluster, in percent (pixels left out of the "
        "clusters, such as a slide's glass, do not count: the column sums to 100)."
    ),
    "column_center": (
        "The cluster's average colour or intensity, in the image's own units, one value per channel."
    ),
    "show_all": "Show every cluster.",
    "hide_all": "Hide every cluster (then tick the ones you want to see).",
    "invert": "Show the hidden clusters and hide the shown ones.",
    "merge": (
        "Join the selected clusters into one; it keeps the lowest of their numbers. 'undo' takes it back."
    ),
    "undo": "Take back the last merge.",
    "background": (
        "Mark the selected cluster(s) as background, for example the bright glass of a "
        "slide. Background is left out of the foreground (a slide's tissue) whose shares the "
        "table reports."
    ),
    "extract": (
        "Copy the selected cluster into a new layer: a mask of it, or with 'as objects' one "
        "label per separate piece, ready to count and measure."
    ),
    "objects": (
        "When extracting, give each separate (touching) piece of the cluster its own label, "
        "dropping pieces smaller than 'min size'."
    ),
    "min_size": "When extracting as objects, pieces smaller than this many pixels are dropped.",
    "export": "Save the cluster table as a CSV file, to open in a spreadsheet.",
    "save_model": (
        "Save the clusters' colours (and any merges) to a file, to label other images with "
        "the same groups later."
    ),
    "load_model": ("Open a saved model. It is shown by name and used only when you press 'apply model'."),
    "model_menu": (
        "Save this result's clusters as a model file, load a saved one, or apply a model to "
        "the chosen image so the same groups mean the same thing across images."
    ),
    "loaded_model": "The saved model that 'apply model' will use; clear it to use this result's.",
    "clear_model": "Forget the loaded model; 'apply model' then uses the current result.",
    "apply_model": (
        "Label the chosen image with the loaded model (or with this result's groups), so the "
        "same groups mean the same thing across images."
    ),
    "copy_python": (
        "Copy the Python code that repeats this run to the clipboard, for napari's console or a script."
    ),
    # -- stains and measuring ----------------------------------------------------------------------
    "stain_vectors": (
        "With hed: which colours count as pure haematoxylin, eosin and DAB. fixed: the "
        "standard published stain colours (Ruifrok and Johnston), right for most slides. "
        "from the image: estimated from this slide's own stained pixels (after Macenko), "
        "which helps when its stains look unusual."
    ),
    "slide_box": (
        "With hed: how tissue is told from glass and how the DAB stain is scored. Zero in a number means "
        "automatic (from the slide's glass, or from the clusters)."
    ),
    "tissue": (
        "With hed: tell tissue from bare glass by how much light it absorbs (optical density), "
        "before clustering, so pale stroma counts as tissue; the glass is left out (label 0) and "
        "the stains are clustered within the tissue. Untick to cluster every pixel."
    ),
    "white_level": (
        "The brightness of bare glass on this scanner (8-bit: about 230-250). 'from the glass' "
        "finds it on each slide; give it for a region without glass."
    ),
    "tissue_od": (
        "How much light a pixel's neighbourhood must absorb to be tissue (mean optical "
        "density). 'auto': 0.012 (about 3% of the light), more on noisy glass."
    ),
    "dab_thresholds": (
        "DAB optical densities from which tissue is weak, moderate and strong (for the H-score "
        "and % positive). 0, 0, 0: derived from the clusters, then kept in the model."
    ),
    "measure": (
        "Open for the numbers: each cluster's area in pixels or in the image's units (set a "
        "pixel size when it has none), its share of the image and of the foreground (a "
        "slide's tissue) once background is marked; objects counted and exported; a map of "
        "how sure each pixel's cluster is."
    ),
    "pixel_size": (
        "The image has no pixel size, so areas are in pixels. Type the size of one pixel "
        "(e.g. 0.5 µm, from the microscope or scanner) and press 'set': it is written to the "
        "image's layer (its scale and units, so napari's scale bar agrees) and to the layers "
        "made from it, and areas are given in that unit."
    ),
    "see_through": (
        "Draw the clusters marked as background (tick them under 'measure') see-through in "
        "the clusters layer, so the image shows through them. On at first for stained slides "
        "(colour space hed) "
        "and for two clusters; your choice is kept for the next runs of this image."
    ),
    "measure_table": (
        "One row per cluster: its area in pixels and in the layer's units (from its scale), "
        "its share of the image, and its share of the foreground (the clusters not marked as "
        "background; a slide's tissue). Tick 'background' for glass or empty areas."
    ),
    "tissue_summary": (
        "How much of the image is foreground (the clusters not marked as background; called "
        "tissue for a stained slide), and its area."
    ),
    "column_background": (
        "The cluster's name, with a tick box: tick it to mark the cluster as background (glass, "
        "empty space): it is left out of the foreground (a slide's tissue). Clusters named "
        "'background' start ticked. In a narrow dock only the tick boxes are shown."
    ),
    "column_area_px": "The cluster's area in pixels.",
    "column_area": (
        "The cluster's area in the layer's units: its pixels times the pixel size given by "
        "the layer's scale (and its units, when set)."
    ),
    "column_image_share": (
        "Share of the whole image in this cluster, in percent (pixels left out of the clusters, "
        "such as a slide's glass, count too: the column then sums to less than 100)."
    ),
    "column_tissue_share": (
        "Share of the foreground (every cluster not marked as background; a slide's tissue) "
        "in this cluster, in percent; empty for background."
    ),
    "uncertainty": (
        "Add a map of how sure each pixel's cluster is, as the layer '<image> uncertainty' "
        "(added on top of the layer list and shown; untick its eye to see the clusters "
        "again). Runs in the background; press again to stop."
    ),
    "uncertainty_kind": (
        "What the uncertainty map shows. distance to centre: how far each pixel's colour is "
        "from its cluster's average colour (bright: unlike its cluster). margin to the next "
        "cluster: how much nearer it is to its own cluster's average than to the next one "
        "(dark: nearly in another cluster)."
    ),
    "smoothing": (
        "Spatially coherent clusters: each pixel also listens to its neighbours within about "
        "this distance (in the layer's scale units; pixels when it has none), so dim, noisy "
        "objects come out whole instead of speckled. 0 clusters every pixel alone; 1-2 pixels "
        "suit nuclei."
    ),
    "objects_source": (
        "Where 'count objects' takes its objects from: every cluster but the darkest (the "
        "background of a fluorescence image, so dim and bright nuclei count together), every "
        "cluster but the brightest (a white slide or page), or the clusters selected in the "
        "clusters table."
    ),
    "split": (
        "Cut touching objects apart where they narrow (a watershed on the distance to the "
        "background, flooded from each bulge), so two nuclei that touch count as two. Used by "
        "'count objects' and by 'extract' as objects."
    ),
    "count_objects": (
        "Find the objects (connected pieces, touching ones split if ticked, smaller than "
        "'min size' dropped), add them as a labels layer whose hover shows each one's "
        "measurements, and show how many there are. Press again to cancel."
    ),
    "object_counts": "How many objects the latest objects layer holds, and their median and mean area.",
    "export_objects": (
        "Save the measurements of the objects layer selected in the layer list (else the "
        "latest one) as a CSV file: one row per object with its area, position, bounding "
        "box, mean colour and cluster."
    ),
}

# Status line and notifications. Placeholders: name (image layer), layer (output layer), k,
# k_min, k_max, mode ("fast"/"exact"), seconds, reason, model, group, target, label, n, axis, path.
STATUS: dict[str, str] = {
    "ready": "Pick an image and K, then press Run.",
    "no_image": "Open an image first (File > Open Sample > napari-kmeans-segment), then pick it.",
    "running": "Grouping '{name}' into {k} clusters ({mode})…",
    "done": "{k} clusters in '{layer}' ({mode}, {seconds:.1f} s).",
    "planes_hint": "Its {n} planes (axis {axis}) were clustered together as one stack; if "
    "they are channels (e.g. fluorescence), choose 'channel axis' {axis} and Run again.",
    "first_run": "The first run in a new session takes a few seconds longer while napari "
    "prepares its label display.",
    "busy": "A run is already going; wait for it or press Cancel.",
    "cancelled": "Cancelled; nothing was added.",
    "failed": "Could not run: {reason}",
    "source_removed": "'{name}' was removed during the run; nothing was added.",
    "kept_edited": "'{layer}' was edited, so the result went to a new layer instead.",
    "suggest_running": "Trying K = {k_min} to {k_max}…",
    "suggest_step": "Trying K = {k}…",
    "suggest_done": "Best separated at K = {k}; press 'use K = {k}' to take it.",
    "suggest_cancelled": "Suggest K cancelled; K was not changed.",
    "suggest_other_image": "Suggest K finished for '{name}', but another image is chosen now; "
    "press Suggest K again for it.",
    "k_set": "K set to {k}; press Run.",
    "preview_running": "Preview on a smaller copy…",
    "preview_done": "Preview: {k} clusters on a smaller copy; press Run for the full image.",
    "preview_failed": "No preview: {reason}",
    "preview_off": "Preview off; the preview layer was removed.",
    "hidden": "{n} cluster(s) hidden; '{layer}' shows the image without them.",
    "merged": "Merged clusters {group} into cluster {target}.",
    "undone": "Merge taken back.",
    "nothing_to_undo": "Nothing to take back.",
    "extracted": "Cluster {label}: {n} piece(s) in '{layer}'.",
    "extracted_mask": "Cluster {label} copied to '{layer}'.",
    "background_marked": "Cluster {label} marked as background; it is left out of the foreground.",
    "exported": "Cluster table written to {path}.",
    "model_saved": "Model saved to {path}.",
    "model_loaded": "Model '{model}' loaded ({k} clusters); press 'apply model' to use it.",
    "apply_loaded": "Apply the loaded model '{model}' to the image.",
    "loaded_model_line": "Model '{model}': {k} clusters.",
    "loaded_model_full": "Loaded model '{model}' ({k} clusters): 'apply' uses it until you clear it "
    "or Run again.",
    "model_cleared": "Loaded model cleared; 'apply model' uses the current result.",
    "model_applied": "{model} applied: {k} clusters in '{layer}'.",
    "copied": "The Python code for this run is on the clipboard.",
}


# Today's widget and panel attribute names that differ from the keys above.
ALIASES: dict[str, str] = {
    "suggest_result": "suggest_verdict",
    "curve": "suggest_plot",
    "copy": "copy_python",
    "column_colour": "column_color",
    "column_centre": "column_center",
}


def tooltip(name: str, wrap: bool = True) -> str:
    """The tooltip for control ``name``; a ``_button``/``_btn`` suffix and the ALIASES of
    today's attribute names are accepted (``run_button``, ``merge_btn``, ``copy_btn``).

    Parameters
    ----------
    name : str
    wrap : bool
        Return it as Qt rich text (``<qt>...</qt>``, escaped), which Qt word-wraps; a plain
        text tooltip is shown as one line as wide as the text.

    Raises
    ------
    KeyError
        With the list of known names, if ``name`` has no tooltip.
    """
    key = name.removesuffix("_button").removesuffix("_btn")
    try:
        text = TOOLTIPS[ALIASES.get(key, key)]
    except KeyError:
        raise KeyError(f"No tooltip for {name!r}; known: {', '.join(sorted(TOOLTIPS))}.") from None
    return f"<qt>{html.escape(text, quote=False)}</qt>" if wrap else text


def status(key: str, **values: object) -> str:
    """The status message ``key`` with its placeholders filled from ``values``.

    Raises
    ------
    KeyError
        If ``key`` is unknown or a placeholder has no value.
    """
    if key not in STATUS:
        raise KeyError(f"No status message {key!r}; known: {', '.join(sorted(STATUS))}.")
    missing = placeholders(STATUS[key]) - set(values)
    if missing:
        raise KeyError(f"Status {key!r} needs {', '.join(sorted(missing))}.")
    return STATUS[key].format(**values)


def placeholders(text: str) -> set[str]:
    """Names of the ``{...}`` fields in ``text``."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def file_name(text: str) -> str:
    """A file name offered in a save dialog, from layer names: characters that are not
    allowed in file names (or would make a path) become "_"."""
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", text).strip() or "untitled"
