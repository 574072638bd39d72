"""The dock's form: the controls in task order, and reading them (with the layers) on the GUI
thread.

Layout, top to bottom (the dock adds the cluster panel below)::

    image              the layer to segment (never scrolls out of view)
    [scrolls when the screen is short]
      clusters (K)     [K]  [Suggest K]
      colour space
      > channels, mask and more features     (folded)
      > k-means search: starts, steps, seed  (folded; OpenCV's criteria)
      Suggest K's plot, its verdict and [use K = n]   (after Suggest K)
    [live preview] [Run] [Cancel]
    status line (wraps)

Every control's tooltip and every status message comes from :mod:`.texts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    Select,
    SpinBox,
    create_widget,
)
from napari.layers import Image, Labels, Shapes
from qtpy.QtCore import QEvent, QObject, QSize, Qt
from qtpy.QtWidgets import QComboBox, QLabel, QScrollArea, QSizePolicy, QWidget

from .._core.features import COLOR_SPACES
from .._core.options import DEFAULTS, INITS, MODES, Options, sample_size_for_mode
from .._core.options import names as option_names
from .._layers import MARK, Source, unwrap
from .expander import Expander
from .stain_choice import stain_vectors_widget
from .texts import tooltip

if TYPE_CHECKING:
    import napari

MIN_FORM_HEIGHT = 80  # px the form keeps on a short screen (it scrolls below that)


class FormScroll(QScrollArea):
    """Scrolls the form vertically; asks for the form's full height but can shrink to
    :data:`MIN_FORM_HEIGHT`, so the cluster table below keeps its rows and the window never
    grows past the screen."""

    def __init__(self, content: Any):
        super().__init__()
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        content.installEventFilter(self)
        self.keep_in_view: Any = None  # a widget kept in view when the area's height changes
        bar = self.verticalScrollBar()
        if bar is not None:  # the person scrolls: the view is theirs again
            bar.sliderPressed.connect(self.release)

    def show_widget(self, widget: Any) -> None:
        """Scroll ``widget`` into view, and keep it there while the area is resized (a Run
        that fills the table below shrinks it) until the person scrolls."""
        self.keep_in_view = widget
        self.ensureWidgetVisible(widget, 0, 4)

    def release(self) -> None:
        self.keep_in_view = None

    def wheelEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self.release()
        super().wheelEvent(event)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self.keep_in_view is not None and self.keep_in_view.isVisible():
            self.ensureWidgetVisible(self.keep_in_view, 0, 4)

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
        """The form changed size (a section opened, Suggest K's plot appeared): ask the dock
        to lay out again (a scroll area does not pass its content's size on by itself)."""
        if obj is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()
        return super().eventFilter(obj, event)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        inner = self.widget()
        h = inner.sizeHint().height() if inner is not None else 0
        return QSize(super().sizeHint().width(), h + 2 * self.frameWidth())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        inner = self.widget()
        w = inner.minimumSizeHint().width() if inner is not None else 0
        bar = self.verticalScrollBar()
        return QSize(w + (bar.sizeHint().width() if bar is not None else 0), MIN_FORM_HEIGHT)


class LabelAligner(QObject):
    """Gives the labels of widgets in different containers one width, so their inputs line
    up; again whenever the form is shown or restyled (napari's theme sets the font)."""

    def __init__(self, root: QWidget, widgets: list[Any]):
        super().__init__(root)
        # magicgui keeps a widget's label in a private wrapper: without it (another magicgui),
        # the labels are simply not aligned
        wrappers = [getattr(w, "_labeled_widget", lambda: None)() for w in widgets]
        self.labels = [lw.native.findChild(QLabel) for lw in wrappers if lw is not None]
        root.installEventFilter(self)
        self.align()

    def align(self) -> None:
        labels = [lb for lb in self.labels if lb is not None]
        for lb in labels:
            lb.setMinimumWidth(0)
        widest = max((lb.sizeHint().width() for lb in labels), default=0)
        for lb in labels:
            lb.setMinimumWidth(widest)

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
        if event.type() in (QEvent.Type.Show, QEvent.Type.StyleChange, QEvent.Type.FontChange):
            self.align()
        return False


def _tipped(widget: Any, key: str | None = None) -> Any:
    """Give a magicgui widget its tooltip (before it is put in a container, which copies it
    onto the label in front of it)."""
    widget.tooltip = tooltip(key or widget.name)
    native = widget.native
    if isinstance(native, QComboBox):  # a long layer name must not widen the dock
        native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        native.setMinimumContentsLength(8)
    return widget


class KMeansForm(Container):
    """The parameters of a run, Run/Cancel and the status line; ``capture()`` reads them and
    the chosen layers."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=False)
        self.viewer = viewer
        d = DEFAULTS  # the one definition of every default (core options)
        t = _tipped
        self.image_layer: ComboBox = t(create_widget(annotation=Image, name="image_layer", label="image"))
        self.n_clusters = t(
            SpinBox(name="n_clusters", label="clusters (K)", min=2, max=255, value=d.n_clusters)
        )
        self.suggest_button = t(PushButton(name="suggest_button", text="Suggest K"), "suggest")
        self.color_space = t(
            ComboBox(
                name="color_space", label="colour space", choices=list(COLOR_SPACES), value=d.color_space
            )
        )
        self.stain_vectors = stain_vectors_widget(self.color_space)  # shown with "hed"
        # channels, mask and extra features
        self.channel_axis = t(
            ComboBox(name="channel_axis", label="channel axis", choices=self._axis_choices, value=None)
        )
        self.channel_layers = t(
            Select(name="channel_layers", label="more channels", choices=self._channel_choices)
        )
        self.channel_layers.native.setMaximumHeight(4 * self.channel_layers.native.fontMetrics().height() + 8)
        self.mask_layer = t(ComboBox(name="mask_layer", label="mask", choices=self._mask_choices))
        self.normalize = t(CheckBox(name="normalize", text="put features on one scale", value=d.normalize))
        self.spatial_weight = t(
            FloatSpinBox(
                name="spatial_weight",
                label="position weight",
                min=0.0,
                max=10.0,
                step=0.1,
                value=d.spatial_weight,
            )
        )
        self.texture_sigma = t(
            FloatSpinBox(
                name="texture_sigma",
                label="texture scale (px)",
                min=0.0,
                max=100.0,
                step=1.0,
                value=d.texture_sigma,
            )
        )
        self.per_plane = t(
            CheckBox(name="per_plane", text="cluster each plane on its own", value=d.per_plane)
        )
        # the k-means search (OpenCV's criteria)
        self.mode = t(ComboBox(name="mode", label="speed", choices=list(MODES), value=d.mode))
        self.attempts = t(SpinBox(name="attempts", label="fresh starts", min=1, max=100, value=d.attempts))
        self.max_iter = t(
            SpinBox(name="max_iter", label="steps per start", min=1, max=10_000, value=d.max_iter)
        )
        self.epsilon = t(
            FloatSpinBox(
                name="epsilon", label="stop below (epsilon)", min=0.0, max=1e6, step=0.05, value=d.epsilon
            )
        )
        self.init = t(ComboBox(name="init", label="starting colours", choices=list(INITS), value=d.init))
        # a float spin box because magicgui's integer one (superqt's) cannot show "random"
        # for -1 (issue 13); no decimals, so it reads and steps as a whole number
        self.seed = t(FloatSpinBox(name="seed", label="random seed", min=-1, max=2**31 - 2, step=1, value=-1))
        self.seed.native.setDecimals(0)
        self.seed.native.setSpecialValueText("random")  # -1 draws a new seed each run
        # Suggest K's answer (the plot is made on first use: importing matplotlib is slow)
        self.suggest_result = t(Label(name="suggest_result", value=""), "suggest_verdict")
        self.use_k_button = t(PushButton(name="use_k_button", text="use K", visible=False), "use_k")
        # Run
        self.live_preview = t(CheckBox(name="live_preview", text="live preview", value=False))
        self.run_button = t(PushButton(name="run_button", text="Run"), "run")
        self.cancel_button = t(PushButton(name="cancel_button", text="Cancel", enabled=False), "cancel")
        self.status = t(Label(name="status", value=""), "status")

        k_row = Container(
            name="k_row",
            label="clusters (K)",
            layout="horizontal",
            labels=False,
            widgets=[self.n_clusters, self.suggest_button],
            tooltip=tooltip("n_clusters"),
        )
        k_row.margins = (0, 0, 0, 0)
        # the image stays above the scrolling settings: Suggest K's plot, kept in view in a
        # short form, must not hide which image the settings (and its answer) are for
        image_row = Container(name="image_row", widgets=[self.image_layer])
        image_row.margins = (0, 0, 4, 0)
        basics = Container(name="basics", widgets=[k_row, self.color_space, self.stain_vectors])
        basics.margins = (0, 0, 0, 0)
        self.features_box = Expander(
            "channels, mask and more features",
            [
                self.channel_axis,
                self.channel_layers,
                self.mask_layer,
                self.normalize,
                self.spatial_weight,
                self.texture_sigma,
                self.per_plane,
            ],
            name="features_box",
            tooltip=tooltip("more_features"),
        )
        self.search_box = Expander(
            "k-means search: starts, steps, seed",
            [self.mode, self.attempts, self.max_iter, self.epsilon, self.init, self.seed],
            name="search_box",
            tooltip=tooltip("search_settings"),
        )
        self.suggest_box = Container(
            name="suggest_box", labels=False, widgets=[self.suggest_result, self.use_k_button]
        )
        self.suggest_box.margins = (0, 0, 0, 0)
        self.suggest_box.visible = False
        self.settings = Container(
            name="settings",
            labels=False,
            widgets=[basics, self.features_box, self.search_box, self.suggest_box],
        )
        self.settings.margins = (0, 0, 4, 0)
        run_row = Container(
            name="run_row",
            layout="horizontal",
            labels=False,
            widgets=[self.live_preview, self.run_button, self.cancel_button],
        )
        run_row.margins = (0, 0, 0, 0)
        self.extend([image_row, run_row, self.status])
        self.scroll = FormScroll(self.settings.native)
        self.native.layout().insertWidget(1, self.scroll)
        self._aligner = LabelAligner(
            self.native, [self.image_layer, k_row, self.color_space, self.stain_vectors]
        )
        for label in (self.status, self.suggest_result):
            label.native.setWordWrap(True)  # long text wraps instead of widening the dock
            label.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.image_layer.changed.connect(self._on_image_changed)

    def reset_choices(self, *_: Any) -> None:
        """Refresh the layer choices (napari calls this when layers change); the settings
        live in a scroll area, outside this container's own children."""
        super().reset_choices()
        if hasattr(self, "settings"):
            self.settings.reset_choices()

    @property
    def parameter_widgets(self) -> list[Any]:
        """Widgets whose change alters the result (the live preview follows them)."""
        return [
            self.image_layer,
            self.n_clusters,
            self.mode,
            self.attempts,
            self.max_iter,
            self.epsilon,
            self.init,
            self.seed,
            self.color_space,
            self.stain_vectors,
            self.normalize,
            self.spatial_weight,
            self.texture_sigma,
            self.mask_layer,
            self.channel_axis,
            self.channel_layers,
        ]

    # -- choices that follow the image ------------------------------------------------------
    def _image(self) -> Any:
        return unwrap(self.image_layer.value) if hasattr(self, "image_layer") else None

    def _on_image_changed(self, _: Any = None) -> None:
        """Another image: offer its own channel axes and the layers that fit it as channels."""
        self.channel_axis.reset_choices()
        self.channel_axis.value = None  # a stack's first axis may be z: never guess
        self.channel_layers.reset_choices()

    def _mask_choices(self, _w: Any = None) -> list[tuple[str, Any]]:
        layers = [
            ly for ly in self.viewer.layers if isinstance(ly, Labels | Shapes) and MARK not in ly.metadata
        ]
        return [("none", None)] + [(ly.name, ly) for ly in layers]

    def _channel_choices(self, _w: Any = None) -> list[tuple[str, Any]]:
        """Other single-channel images of the image's shape (never the image itself)."""
        src = self._image()
        if src is None or src.rgb or src.multiscale:
            return []
        shape = tuple(src.data.shape)
        return [
            (ly.name, ly)
            for ly in self.viewer.layers
            if isinstance(ly, Image)
            and unwrap(ly) is not src
            and not ly.rgb
            and not ly.multiscale
            and tuple(ly.data.shape) == shape
            and MARK not in ly.metadata
        ]

    def _axis_choices(self, _w: Any = None) -> list[tuple[str, Any]]:
        """'none', or each axis of a single non-RGB layer with at least three axes."""
        src = self._image()
        choices: list[tuple[str, Any]] = [("none", None)]
        if src is None or src.rgb:
            return choices
        shape = tuple((src.data[0] if src.multiscale else src.data).shape)
        if len(shape) < 3:
            return choices
        return choices + [(f"axis {i} ({n} values)", i) for i, n in enumerate(shape)]

    def follow_active(self, event: Any = None) -> None:
        """Choose the image the person selected in the layer list."""
        active = unwrap(self.viewer.layers.selection.active)
        if isinstance(active, Image) and MARK not in active.metadata:
            self.image_layer.reset_choices()
            if active in self.image_layer.choices:
                self.image_layer.value = active

    # -- reading the form -------------------------------------------------------------------
    def option_control(self, name: str) -> Any:
        """The control of the field ``name`` of :class:`Options`: the form's widget of that
        name (``mode`` for ``sample_size``)."""
        return getattr(self, OTHER_CONTROL.get(name, name))

    def run_options(self) -> Options:
        """The :class:`Options` the controls show (checked by the core when it runs)."""
        values = {name: self.option_control(name).value for name in option_names()}
        seed = int(round(values["seed"]))
        values["seed"] = None if seed < 0 else seed  # -1 shows "random": a new seed each run
        values["sample_size"] = sample_size_for_mode(values["sample_size"])
        if values["color_space"] != "hed":  # the choice is hidden, and refused, without hed
            values["stain_vectors"] = DEFAULTS.stain_vectors
        return Options(**values)

    def capture(self) -> tuple[Image, Source, Options, np.ndarray | None]:
        """(layer, Source, options, mask or None); ValueError with advice when unusable."""
        layer = self._image()
        if layer is None or layer not in self.viewer.layers:
            raise ValueError(
                "No image layer to segment: open an image (File > Open Sample > "
                "napari-kmeans-segment) and pick it in 'image'."
            )
        opts = self.run_options()
        extra = [unwrap(ly) for ly in self.channel_layers.value or []]
        extra = [ly for ly in extra if ly is not layer and ly in self.viewer.layers]
        src = Source.from_layers([layer, *extra], channel_axis=self.channel_axis.value)
        mask_layer = self.mask_layer.value
        mask = None
        if mask_layer is not None:
            if layer.multiscale:
                raise ValueError("A mask is not supported for multiscale images.")
            spatial = src.spatial_shape
            if isinstance(mask_layer, Shapes):
                mask = mask_layer.to_labels(labels_shape=spatial) != 0
            else:
                mask = np.asarray(mask_layer.data) != 0
            if mask.shape != tuple(spatial):
                raise ValueError(
                    f"The mask layer has shape {mask.shape}, the image "
                    f"{tuple(spatial)}; draw the mask on the image's grid."
                )
        return layer, src, opts, mask


#: Fields of :class:`Options` whose control has another name; every other field's control
#: is the form's widget named as the field.
OTHER_CONTROL = {"sample_size": "mode"}


def python_call(src: Source, opts: Options) -> str:
    """The Python that reproduces a run from napari's console: K, the options that differ
    from the defaults, and how the image's axes were read."""
    args = [repr(opts.n_clusters)]
    args += [f"{k}={v!r}" for k, v in opts.changed().items() if k != "n_clusters"]
    args.append(f"rgb={src.rgb!r}")
    if src.channel_axis is not None:
        args.append(f"channel_axis={src.channel_axis!r}")
    return f"{read_image_code(src)}\nseg = nks.segment(image, {', '.join(args)})"


def read_image_code(src: Source) -> str:
    """Python (for napari's console) that reads the image the way the widget did."""
    if src.channel_names:  # several channel layers, stacked as the last axis
        image = f"np.stack([viewer.layers[n].data for n in {src.channel_names!r}], axis=-1)"
    else:
        image = f"viewer.layers[{src.name!r}].data"
    return f"import numpy as np\nimport napari_kmeans_segment as nks\nimage = {image}"


def precheck(src: Source, opts: Options) -> None:
    """Cheap checks before starting a worker, so a bad input changes nothing."""
    from .._core.image import check_array_dtype

    data = src.data
    check_array_dtype(np.empty(0, data.dtype))
    shape = list(data.shape)
    if src.rgb:
        shape.pop(-1)
    elif src.channel_axis is not None:
        shape.pop(src.channel_axis)
    n_px = int(np.prod(shape))
    if n_px < opts.n_clusters:
        raise ValueError(
            f"The image has {n_px} pixel(s), fewer than K = {opts.n_clusters}; "
            "choose a smaller K or a larger image."
        )
