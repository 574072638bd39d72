"""Cluster actions of the dock widget: hide/show, merge/undo, extract, export, models.

They read and write the cluster state where it lives, in the clusters Labels layer
(names in ``features``, hidden clusters as alpha 0 in its colormap).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from napari.layers import Image, Labels
from napari.utils.notifications import show_info, show_warning

from . import _core as core
from ._layers import (
    MARK,
    Source,
    assign_colormap,
    centre_colours,
    hidden_labels,
    label_colormap,
    output_name,
    restamp,
    write_layer,
)


class ClusterActions:
    """Mixin for :class:`KMeansWidget`: the scripting API behind the cluster panel."""

    # ---------------------------------------------------------------------------------
    # cluster state (lives in the clusters layer)
    # ---------------------------------------------------------------------------------
    def set_clusters_layer(self, layer: Labels):
        old = self._clusters_layer
        if old is not None:
            old.events.colormap.disconnect(self._on_colormap)
        self._clusters_layer = layer
        layer.events.colormap.connect(self._on_colormap)
        self._on_colormap()

    def _on_colormap(self, event=None):
        self.panel.refresh()
        self._update_masked()

    def _require_clusters(self) -> Labels:
        layer = self._clusters_layer
        if layer is None or layer not in self._viewer.layers:
            raise ValueError("Run k-means first: there is no clusters layer yet.")
        return layer

    def _check_labels(self, labels) -> list[int]:
        index = self._require_clusters().features["index"].astype(int).tolist()
        labels = [int(v) for v in labels]
        for v in labels:
            if v not in index:
                raise ValueError(f"No cluster {v}: the clusters are {index}.")
        return labels

    def set_cluster_visible(self, label: int, visible: bool):
        """Show or hide one cluster (alpha in the clusters layer's colormap)."""
        layer = self._require_clusters()
        (label,) = self._check_labels([label])
        cd = {k: np.array(v, float) for k, v in layer.colormap.color_dict.items()}
        cd[label][3] = 1.0 if visible else 0.0
        self._set_colormap(layer, cd)

    def set_clusters_visible(self, visible: dict[int, bool]):
        layer = self._require_clusters()
        self._check_labels(visible)
        cd = {k: np.array(v, float) for k, v in layer.colormap.color_dict.items()}
        for lab, vis in visible.items():
            cd[int(lab)][3] = 1.0 if vis else 0.0
        self._set_colormap(layer, cd)

    def _set_colormap(self, layer, color_dict):
        from napari.utils.colormaps import DirectLabelColormap

        assign_colormap(layer, DirectLabelColormap(color_dict=color_dict))

    def hidden_clusters(self) -> list[int]:
        return hidden_labels(self._require_clusters())

    def _update_masked(self):
        layer = self._clusters_layer
        src = self._source_layer
        if layer is None or src is None or src not in self._viewer.layers \
                or src.multiscale or layer not in self._viewer.layers:
            return
        hidden = hidden_labels(layer)
        name = output_name(src.name, "masked")
        if not hidden and name not in self._viewer.layers:
            return
        data = src.data
        if isinstance(data, np.ndarray) and isinstance(layer.data, np.ndarray):
            masked = core.mask_clusters(data, layer.data, hidden, rgb=src.rgb)
        else:
            import dask.array as da

            sel = da.isin(da.asarray(layer.data), hidden)
            masked = da.where(sel[..., None] if src.rgb else sel, 0, da.asarray(data))
        meta = dict(name=name, rgb=src.rgb, scale=src.scale, translate=src.translate,
                    contrast_limits=list(src.contrast_limits),
                    metadata={MARK: {"kind": "masked", "source": src.name}})
        if not src.rgb:
            meta["colormap"] = src.colormap.name
        _, note = write_layer(self._viewer, masked, meta, "image")
        if note:
            show_warning(note)

    def merge_clusters(self, labels):
        """Merge clusters into the lowest label of the group (undo with :meth:`undo`)."""
        layer = self._require_clusters()
        group = self._check_labels(labels)
        f = layer.features
        centre_cols = [c for c in f.columns if c.startswith("center_")]
        new_labels, index, centers, counts = core.merge_clusters(
            np.asarray(layer.data), group, f["index"].to_numpy(), f[centre_cols].to_numpy(),
            f["count"].to_numpy())
        recolored = self._recolored_layer()
        self._undo.append({
            "labels": layer.data, "colormap": layer.colormap, "features": f.copy(),
            "recolored": None if recolored is None else recolored.data,
            "metadata": {k: (dict(v) if isinstance(v, dict) else v)
                         for k, v in layer.metadata.items()},
        })
        target = min(group)
        row = int(np.flatnonzero(index == target)[0])
        names = dict(zip(f["index"].astype(int), f["name"]))
        import pandas as pd

        table = core.cluster_table(index, counts, centers, [names[int(i)] for i in index],
                                   [c[len("center_"):] for c in centre_cols])
        hidden = set(hidden_labels(layer)) - set(group[1:])
        src = self._source_for_colours()
        colours = centre_colours(centers, src) if src is not None else np.ones((len(index), 4))
        layer.data = new_labels
        layer.features = pd.DataFrame(table)
        # the saved model merges the same clusters, so applying it reproduces this layer
        md = {k: (dict(v) if isinstance(v, dict) else v) for k, v in layer.metadata.items()}
        if "model" in md[MARK]:
            model = core.KMeansModel.from_dict(md[MARK]["model"])
            md[MARK]["model"] = model.merged(group, centers[row]).to_dict()
        layer.metadata = md
        restamp(layer)
        assign_colormap(layer, label_colormap(index, colours, hidden))
        if recolored is not None and isinstance(recolored.data, np.ndarray):
            from ._core.result import to_dtype

            data = recolored.data.copy()
            sel = np.isin(new_labels, [target])
            value = to_dtype(centers[row], data.dtype)
            data[sel] = value if data.ndim > new_labels.ndim else value[0]
            recolored.data = data
            restamp(recolored)
        show_info(f"Merged clusters {group} into {target}.")

    def undo(self):
        """Undo the last merge."""
        if not self._undo:
            raise ValueError("Nothing to undo.")
        layer = self._require_clusters()
        state = self._undo.pop()
        layer.data = state["labels"]
        layer.features = state["features"]
        layer.metadata = state["metadata"]
        restamp(layer)
        assign_colormap(layer, state["colormap"])
        rec = self._recolored_layer()
        if rec is not None and state["recolored"] is not None:
            rec.data = state["recolored"]
            restamp(rec)

    def _recolored_layer(self):
        layer = self._require_clusters()
        name = output_name(layer.metadata[MARK]["source"], "recolored")
        if name in self._viewer.layers and MARK in self._viewer.layers[name].metadata:
            return self._viewer.layers[name]
        return None

    def _source_for_colours(self):
        src = self._source_layer
        if src is None or src not in self._viewer.layers:
            return None
        return Source(name=src.name, data=None, rgb=src.rgb, scale=(), translate=(),
                      contrast_limits=[tuple(src.contrast_limits)], colormaps=[src.colormap])

    def extract_cluster(self, label: int, objects: bool = False, min_size: int = 0) -> Labels:
        """Add one cluster as a new Labels layer (a mask, or its connected objects)."""
        layer = self._require_clusters()
        (label,) = self._check_labels([label])
        data = core.extract_cluster(np.asarray(layer.data), label, objects=objects,
                                    min_size=min_size)
        src = layer.metadata[MARK]["source"]
        name = output_name(src, f"cluster {label}" + (" objects" if objects else ""))
        meta = dict(name=name, scale=tuple(layer.scale), translate=tuple(layer.translate),
                    metadata={MARK: {"kind": "extract", "source": src, "label": label,
                                     "objects": objects, "min_size": min_size}})
        new, note = write_layer(self._viewer, data, meta, "labels")
        if note:
            show_warning(note)
        n = int(data.max())
        show_info(f"Cluster {label}: {n} object(s) in '{new.name}'." if objects
                  else f"Cluster {label} extracted to '{new.name}'.")
        return new

    def export_table(self, path) -> Path:
        """Write the cluster table (with a 'visible' column) as CSV."""
        layer = self._require_clusters()
        path = Path(path)
        f = layer.features.copy()
        hidden = set(hidden_labels(layer))
        f["visible"] = [int(i) not in hidden for i in f["index"]]
        with open(path, "w", newline="") as fh:
            f.to_csv(fh, index=False, quoting=csv.QUOTE_MINIMAL)
        return path

    def rename_cluster(self, label: int, name: str):
        layer = self._require_clusters()
        (label,) = self._check_labels([label])
        f = layer.features.copy()
        f.loc[f["index"] == label, "name"] = str(name)
        layer.features = f
        self.panel.refresh()

    # ---------------------------------------------------------------------------------
    # models
    # ---------------------------------------------------------------------------------
    def current_model(self) -> core.KMeansModel:
        layer = self._require_clusters()
        return core.KMeansModel.from_dict(layer.metadata[MARK]["model"])

    def save_model(self, path) -> Path:
        return self.current_model().save(path)

    def load_model(self, path) -> core.KMeansModel:
        self._loaded_model = core.load_model(path)
        return self._loaded_model

    def apply_model(self, layer: Image | None = None, model: core.KMeansModel | None = None):
        """Label ``layer`` (default: the chosen image) with a loaded or the current model,
        in a worker like Run. Returns the worker (None if nothing started)."""
        model = model or getattr(self, "_loaded_model", None) or self.current_model()
        layer = layer or self.image_layer.value
        if layer is None:
            raise ValueError("Choose an image layer to apply the model to.")
        if self._worker is not None:
            show_info("A k-means run is already in progress; wait for it or press Cancel.")
            return None
        data, rgb = layer.data, bool(layer.rgb)
        src = Source(name=layer.name, data=data, rgb=rgb,
                     scale=tuple(layer.scale), translate=tuple(layer.translate),
                     contrast_limits=[tuple(layer.contrast_limits)], colormaps=[layer.colormap])

        def compute(progress, cancel):
            return model.apply(np.asarray(data), rgb=rgb, progress=progress, cancel=cancel)

        def done(seg):
            self._write_result(seg, layer, src, {"model": model.to_dict()})

        return self._start(compute, done, f"Applying the model to {layer.name}")

    def python_code(self) -> str:
        """The Python call that reproduces the last run (also in the layer's metadata)."""
        return self._require_clusters().metadata[MARK].get("code", "")

