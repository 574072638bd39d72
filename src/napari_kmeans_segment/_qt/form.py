"""The dock's form: the parameter widgets, and reading them (with the layers) on the GUI thread."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Select,
    SpinBox,
    create_widget,
)
from napari.layers import Image, Labels, Shapes

from .._core.features import COLOR_SPACES
from .._core.options import DEFAULTS, INITS, MODES, sample_size_for_mode
from .._layers import MARK, Source, unwrap

if TYPE_CHECKING:
    import napari


class KMeansForm(Container):
    """The parameters of a run; ``capture()`` reads them and the chosen layers."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.image_layer: ComboBox = create_widget(  # type: ignore[assignment]
            annotation=Image, name="image_layer", label="image")
        d = DEFAULTS  # the one definition of every default (core options)
        self.n_clusters = SpinBox(name="n_clusters", label="clusters (K)", min=2, max=255,
                                  value=d.n_clusters)
        self.mode = ComboBox(name="mode", choices=list(MODES), value=d.mode,
                             tooltip="fast: fit on a sample, refine on all pixels. "
                             "exact: the tutorial's cv2.kmeans on every pixel (slow).")
        self.attempts = SpinBox(name="attempts", min=1, max=100, value=d.attempts)
        self.max_iter = SpinBox(name="max_iter", label="max iterations", min=1, max=10_000,
                                value=d.max_iter)
        self.epsilon = FloatSpinBox(name="epsilon", min=0.0, max=1e6, step=0.05, value=d.epsilon)
        self.init = ComboBox(name="init", choices=list(INITS), value=d.init)
        self.seed = SpinBox(name="seed", min=-1, max=2**31 - 2, value=-1,
                            tooltip="-1 (shown as 'random') draws a new seed each run; the seed "
                            "used is stored in the output layers' metadata.")
        self.seed.native.setSpecialValueText("random")
        self.advanced = CheckBox(name="advanced", text="advanced options", value=False)
        self.color_space = ComboBox(name="color_space", label="colour space",
                                    choices=list(COLOR_SPACES), value=d.color_space)
        self.normalize = CheckBox(name="normalize", text="normalize features", value=d.normalize)
        self.spatial_weight = FloatSpinBox(name="spatial_weight", label="position weight",
                                           min=0.0, max=10.0, step=0.1, value=d.spatial_weight)
        self.texture_sigma = FloatSpinBox(name="texture_sigma", label="texture scale (px)",
                                          min=0.0, max=100.0, step=1.0, value=d.texture_sigma)
        self.per_plane = CheckBox(name="per_plane", text="cluster each plane on its own",
                                  value=d.per_plane)
        self.mask_layer = ComboBox(name="mask_layer", label="mask", choices=self._mask_choices)
        self.channel_layers = Select(name="channel_layers", label="more channels",
                                     choices=self._channel_choices)
        self._advanced_box = Container(widgets=[
            self.color_space, self.normalize, self.spatial_weight, self.texture_sigma,
            self.per_plane, self.mask_layer, self.channel_layers,
        ])
        self._advanced_box.visible = False
        self.advanced.changed.connect(lambda v: setattr(self._advanced_box, "visible", v))
        self.extend([
            self.image_layer, self.n_clusters, self.mode, self.attempts, self.max_iter,
            self.epsilon, self.init, self.seed, self.advanced, self._advanced_box,
        ])

    @property
    def parameter_widgets(self) -> list[Any]:
        """Widgets whose change alters the result (the live preview follows them)."""
        return [self.image_layer, self.n_clusters, self.mode, self.attempts, self.max_iter,
                self.epsilon, self.init, self.seed, self.color_space, self.normalize,
                self.spatial_weight, self.texture_sigma, self.mask_layer]

    def _mask_choices(self, _w: Any = None) -> list[tuple[str, Any]]:
        layers = [ly for ly in self.viewer.layers if isinstance(ly, Labels | Shapes)
                  and MARK not in ly.metadata]
        return [("none", None)] + [(ly.name, ly) for ly in layers]

    def _channel_choices(self, _w: Any = None) -> list[tuple[str, Any]]:
        src = self.image_layer.value if hasattr(self, "image_layer") else None
        return [(ly.name, ly) for ly in self.viewer.layers
                if isinstance(ly, Image) and ly is not src and not ly.rgb
                and MARK not in ly.metadata]

    def follow_active(self, event: Any = None) -> None:
        """Choose the image the person selected in the layer list."""
        active = unwrap(self.viewer.layers.selection.active)
        if isinstance(active, Image) and MARK not in active.metadata:
            self.image_layer.reset_choices()
            if active in self.image_layer.choices:
                self.image_layer.value = active

    def run_options(self) -> dict:
        seed = self.seed.value
        return dict(
            n_clusters=int(self.n_clusters.value),
            attempts=int(self.attempts.value),
            max_iter=int(self.max_iter.value),
            epsilon=float(self.epsilon.value),
            init=self.init.value,
            seed=None if seed < 0 else int(seed),
            sample_size=sample_size_for_mode(self.mode.value),
            color_space=self.color_space.value,
            normalize=bool(self.normalize.value),
            spatial_weight=float(self.spatial_weight.value),
            texture_sigma=float(self.texture_sigma.value),
            per_plane=bool(self.per_plane.value),
        )

    def capture(self) -> tuple[Image, Source, dict]:
        """(layer, Source, core keyword arguments); ValueError with advice when unusable."""
        layer = unwrap(self.image_layer.value)
        if layer is None or layer not in self.viewer.layers:
            raise ValueError("No image layer to segment: open an image (File > Open Sample > "
                             "K-means segmentation) and pick it in 'image'.")
        opts = self.run_options()
        src = Source.from_layers([layer, *map(unwrap, self.channel_layers.value or [])])
        mask_layer = self.mask_layer.value
        if mask_layer is not None:
            if layer.multiscale:
                raise ValueError("A mask is not supported for multiscale images.")
            spatial = layer.data.shape[:-1] if layer.rgb else layer.data.shape
            if isinstance(mask_layer, Shapes):
                mask = mask_layer.to_labels(labels_shape=spatial) != 0
            else:
                mask = np.asarray(mask_layer.data) != 0
            if mask.shape != tuple(spatial):
                raise ValueError(f"The mask layer has shape {mask.shape}, the image "
                                 f"{tuple(spatial)}; draw the mask on the image's grid.")
            opts["mask"] = mask
        opts["rgb"] = src.rgb
        opts["channel_axis"] = src.channel_axis
        return layer, src, opts


def python_call(src: Source, opts: dict) -> str:
    """The Python that reproduces a run from napari's console."""
    args = {k: v for k, v in opts.items() if k != "mask"}
    pieces = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return (f"{read_image_code(src)}\nseg = nks.segment(image, {pieces})")


def read_image_code(src: Source) -> str:
    """Python (for napari's console) that reads the image the way the widget did."""
    if src.channel_names:  # several channel layers, stacked as the last axis
        image = ("np.stack([viewer.layers[n].data for n in "
                 f"{src.channel_names!r}], axis=-1)")
    else:
        image = f"viewer.layers[{src.name!r}].data"
    return f"import numpy as np\nimport napari_kmeans_segment as nks\nimage = {image}"


def precheck(data: Any, opts: dict) -> None:
    """Cheap checks before starting a worker, so a bad input changes nothing."""
    from .._core.image import check_array_dtype

    check_array_dtype(np.empty(0, data.dtype))
    n_px = int(np.prod(data.shape[:-1] if (opts.get("rgb") or opts.get("channel_axis") is not None)
                       else data.shape))
    if n_px < opts["n_clusters"]:
        raise ValueError(f"The image has {n_px} pixel(s), fewer than K = {opts['n_clusters']}; "
                         "choose a smaller K or a larger image.")
