"""The dock's form: the controls in task order, and reading them (with the layers) on the GUI
thread.

Layout, top to bottom (the dock adds the cluster panel at the bottom of the page)::

    image              the layer to segment           } never scroll out of view: what an
    clusters (K)  [K] [Suggest K] [use K = n]         } answer is about, and the value
                                                       } 'use K = n' changes
    [one page; it scrolls as a whole only when the window is too short (see .scroll)]
      [the form; it scrolls on its own when the page is squeezed]
        colour space (and stain vectors with hed)
        > stains: tissue, white level, DAB bins (folded; with hed)
        > channels, mask and more features     (folded)
        > k-means search: starts, steps, seed  (folded; OpenCV's criteria)
        Suggest K's plot and its verdict       (after Suggest K)
      [live preview] [Run] [Cancel]
      status line (wraps)
      the cluster panel (the dock's)

Rows of buttons wrap rather than cut their words (:class:`~.flow.FlowLayout`); labels in
one group share a width so their inputs start at one x. Every control's tooltip and every
status message comes from :mod:`.texts`.
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
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QAbstractSpinBox, QComboBox, QLabel, QSizePolicy, QVBoxLayout, QWidget

from .._core.features.features import COLOR_SPACES
from .._core.options import DEFAULTS, INITS, MODES, Options, sample_size_for_mode
from .._core.options import names as option_names
from .._session.layers import MARK, Source, unwrap
from .expander import Expander
from .flow import flowing
from .scroll import FormScroll, PageScroll, after_layout, reveal
from .stain_choice import stain_vectors_widget
from .stain_controls import SlideControls
from .texts import tooltip

if TYPE_CHECKING:
    import napari


class LabelAligner(QObject):
    """Gives the labels of widgets in different containers widths that make their inputs
    start at one x position, whatever the indent of the container (a folded section's
    body is indented under its title); again whenever the form is shown or restyled
    (napari's theme sets the font)."""

    def __init__(self, root: QWidget, widgets: list[Any]):
        super().__init__(root)
        self.root = root
        # magicgui keeps a widget's label in a private wrapper: without it (another magicgui),
        # the labels are simply not aligned
        wrappers = [getattr(w, "_labeled_widget", lambda: None)() for w in widgets]
        self.labels = [lw.native.findChild(QLabel) for lw in wrappers if lw is not None]
        root.installEventFilter(self)
        self.align()

    def indent(self, label: QWidget) -> int:
        """How far right of ``root`` the label starts: the left margins of the layouts it
        sits in (known before the folded sections are ever laid out)."""
        x, w = 0, label.parentWidget()
        while w is not None and w is not self.root:
            lay = w.layout()
            if lay is not None:
                x += lay.contentsMargins().left()
            w = w.parentWidget()
        return x

    def align(self) -> None:
        labels = [lb for lb in self.labels if lb is not None]
        for lb in labels:
            lb.setMinimumWidth(0)
        indents = [self.indent(lb) for lb in labels]
        edge = max((i + lb.sizeHint().width() for i, lb in zip(indents, labels)), default=0)
        for i, lb in zip(indents, labels):
            lb.setMinimumWidth(edge - i)

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
        if event.type() in (QEvent.Type.Show, QEvent.Type.StyleChange, QEvent.Type.FontChange):
            self.align()
        return False


LAYER_CHOICES = {"image_layer", "mask_layer", "channel_axis"}  # choices that follow the layers
MIN_INPUT_WIDTH = 72  # px an input may shrink to: its values are short ("0.20", "random")


def _tipped(widget: Any, key: str | None = None) -> Any:
    """Give a magicgui widget its tooltip (before it is put in a container, which copies it
    onto the label in front of it)."""
    widget.tooltip = tooltip(key or widget.name)
    native = widget.native
    if isinstance(native, QComboBox) and widget.name in LAYER_CHOICES:
        # a long layer name must not widen the dock (it is cut; the list shows it whole)
        native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        native.setMinimumContentsLength(6)
    elif isinstance(native, QComboBox):  # a fixed choice ("k-means++") is never cut
        native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    elif isinstance(native, QAbstractSpinBox):
        # a spin box asks for the width of its largest value (epsilon's 1000000.00), which
        # would make the dock too wide for napari's small default window
        native.setMinimumWidth(MIN_INPUT_WIDTH)
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
                name="color_space", label="colour space", choices=self._color_choices, value=d.color_space
            )
        )
        self.stain_vectors = stain_vectors_widget(self.color_space)  # shown with "hed"
        self.slide = SlideControls(self.color_space)  # tissue, white level, DAB bins: with "hed"
        self.tissue, self.white_level = self.slide.tissue, self.slide.white_level
        self.tissue_od, self.dab_thresholds = self.slide.tissue_od, self.slide.dab_thresholds
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
        self.smoothing = t(
            FloatSpinBox(
                name="smoothing", label="smoothing", min=0.0, max=1000.0, step=0.5, value=d.smoothing
            )
        )
        # the k-means search (OpenCV's criteria)
        self.mode = t(ComboBox(name="mode", label="speed", choices=list(MODES), value=d.mode))
        self.attempts = t(SpinBox(name="attempts", label="fresh starts", min=1, max=100, value=d.attempts))
        self.max_iter = t(
            SpinBox(name="max_iter", label="steps per start", min=1, max=10_000, value=d.max_iter)
        )
        self.epsilon = t(
            FloatSpinBox(name="epsilon", label="stop below", min=0.0, max=1e6, step=0.05, value=d.epsilon)
        )
        self.init = t(ComboBox(name="init", label="starting colours", choices=list(INITS), value=d.init))
        # a float spin box because magicgui's integer one (superqt's) cannot show "random"
        # for -1; no decimals, so it reads and steps as a whole number
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

        # 'use K = n' beside K (on a line of its own below it in a narrow dock): pressing it
        # changes a value in view
        k_row = flowing(
            Container(
                name="k_row",
                label="clusters (K)",
                layout="horizontal",
                labels=False,
                widgets=[self.n_clusters, self.suggest_button, self.use_k_button],
                tooltip=tooltip("n_clusters"),
            )
        )
        # the image and K stay above everything that scrolls: Suggest K's answer, kept in view
        # in a short form, must not hide which image and which K it is about
        image_row = Container(name="image_row", widgets=[self.image_layer, k_row])
        image_row.margins = (0, 0, 4, 0)
        basics = Container(name="basics", widgets=[self.color_space, self.stain_vectors])
        basics.margins = (0, 0, 0, 0)
        self.features_box = Expander(
            "channels, mask and more features",
            [
                self.channel_axis,
                self.channel_layers,
                self.mask_layer,
                self.smoothing,
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
        self.suggest_box = Container(name="suggest_box", labels=False, widgets=[self.suggest_result])
        self.suggest_box.margins = (0, 0, 0, 0)
        self.suggest_box.visible = False
        self.settings = Container(
            name="settings",
            labels=False,
            widgets=[basics, self.slide.box, self.features_box, self.search_box, self.suggest_box],
        )
        self.settings.margins = (0, 0, 4, 0)
        run_row = Container(
            name="run_row",
            layout="horizontal",
            labels=False,
            widgets=[self.live_preview, self.run_button, self.cancel_button],
        )
        run_row.margins = (0, 0, 0, 0)
        self.append(image_row)
        # below the image and K, one page that scrolls as a whole only in a short window
        self.scroll = FormScroll(self.settings.native)
        body = QWidget()
        self._body = QVBoxLayout(body)
        self._body.setContentsMargins(0, 0, 0, 0)
        for w in (self.scroll, run_row.native, self.status.native):
            self._body.addWidget(w)
        self.page = PageScroll(body)
        self.page.elastic.append(self.scroll)
        self.native.layout().addWidget(self.page, 1)
        # the inputs start at one x within the top rows, and within the folded sections
        # (one x for all would make the top labels as wide as the longest folded one,
        # and the dock wider than napari's small default window allows)
        self._aligners = [
            LabelAligner(self.native, [self.image_layer, k_row]),
            LabelAligner(self.native, [self.color_space, self.stain_vectors]),
            LabelAligner(self.native, [*self.slide.box.body, *self.features_box.body, *self.search_box.body]),
        ]
        for box in (self.slide.box, self.features_box, self.search_box):  # opened: into view
            box.toggle.toggled.connect(lambda on, box=box: self._on_opened(on, box.body.native, box.toggle))
        self.color_space.changed.connect(self._on_color_space)  # the stain choice appears
        for w in self.parameter_widgets:  # a value just changed is never scrolled away
            w.changed.connect(lambda *_, w=w: self.note_changed(w.native))
        self._changed: QWidget | None = None
        self.changes = 0  # values changed so far (a job's answer keeps one changed meanwhile)
        for label in (self.status, self.suggest_result):
            label.native.setWordWrap(True)  # long text wraps instead of widening the dock
            label.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.image_layer.changed.connect(self._on_image_changed)

    def add_below(self, widget: QWidget, stretch: int = 0) -> None:
        """Put ``widget`` at the bottom of the page (the dock's cluster panel)."""
        self._body.addWidget(widget, stretch)

    def note_changed(self, widget: QWidget) -> None:
        """``widget``'s value was just changed: an answer that arrives after it does not
        scroll it out of view (see :meth:`kept`)."""
        self._changed = widget
        self.changes += 1

    def reveal_later(self, widget: QWidget, *keep: QWidget) -> None:
        """Once laid out, scroll ``widget`` into view (and keep ``keep`` in view)."""

        def now() -> None:
            if widget.isVisible():
                reveal(widget, *keep)

        after_layout(now, widget)

    def _on_opened(self, on: bool, body: QWidget, title: QWidget) -> None:
        if on:
            self.reveal_later(body, title)

    def _on_color_space(self, value: str) -> None:
        if value == "hed":
            self.reveal_later(self.stain_vectors.native)

    def kept(self, since: int | None = None) -> list[QWidget]:
        """The value changed last, while it is shown (and, given ``since``, only if it was
        changed after :attr:`changes` was ``since``): scrolling keeps it in view."""
        if since is not None and self.changes == since:
            return []
        return [self._changed] if self._changed is not None and self._changed.isVisible() else []

    def show_use_k(self, k: int | None) -> None:
        """Show 'use K = k' under K (None hides it)."""
        if k is not None:
            self.use_k_button.text = f"use K = {k}"
        self.use_k_button.visible = k is not None

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
            *self.slide.widgets,
            self.normalize,
            self.spatial_weight,
            self.texture_sigma,
            self.smoothing,
            self.mask_layer,
            self.channel_axis,
            self.channel_layers,
        ]

    # -- choices that follow the image ------------------------------------------------------
    def _image(self) -> Any:
        return unwrap(self.image_layer.value) if hasattr(self, "image_layer") else None

    def _on_image_changed(self, _: Any = None) -> None:
        """Another image: offer its own channel axes and the layers that fit it as channels."""
        self.color_space.reset_choices()
        self.channel_axis.reset_choices()
        self.channel_axis.value = None  # a stack's first axis may be z: never guess
        self.channel_layers.reset_choices()

    def _color_choices(self, _w: Any = None) -> list[str]:
        """Colour spaces that apply to the image: lab, hsv and hed need RGB; a grayscale or
        multichannel image is clustered on its own values ("rgb": the channels as they are)."""
        layer = self._image()
        if layer is None or getattr(layer, "rgb", False):
            return list(COLOR_SPACES)
        return [DEFAULTS.color_space]

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
        values.update(self.slide.values(values["color_space"]))  # 0 shows "automatic"
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
    scale = spatial_scale(src)
    if opts.smoothing and scale is not None:  # the smoothing is in the layer's units
        args.append(f"scale={scale!r}")
    return f"{read_image_code(src)}\nseg = nks.segment(image, {', '.join(args)})"


def spatial_scale(src: Source) -> tuple[float, ...] | None:
    """The pixel size along each spatial axis of the layer (``smoothing`` is in its units),
    or None for napari's default of 1 on every axis."""
    s = tuple(float(v) for v in src.label_scale)
    return None if all(v == 1 for v in s) else s


def read_image_code(src: Source) -> str:
    """Python (for napari's console) that reads the image the way the widget did."""
    if src.channel_names:  # several channel layers, stacked as the last axis
        image = f"np.stack([viewer.layers[n].data for n in {src.channel_names!r}], axis=-1)"
    else:
        image = f"viewer.layers[{src.name!r}].data"
    return f"import numpy as np\nimport napari_kmeans_segment as nks\nimage = {image}"


def precheck(src: Source, opts: Options) -> None:
    """Cheap checks before starting a worker, so a bad input changes nothing."""
    from .._core.features.image import check_array_dtype

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
