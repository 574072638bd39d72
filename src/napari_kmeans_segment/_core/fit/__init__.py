"""Fitting: nearest-center numerics and Lloyd steps (numerics), the Run's steps with the exact
``cv2.kmeans`` recipe (fitting_run), the fast path on weighted summaries of every pixel
(fitting_fast, summaries, candidates), the fitter that turns an image into a
:class:`~.._core.Segmentation` (fitting), spatial smoothing of the labels (smoothing) and the
nearest center of every 8-bit colour, box by box (color_boxes)."""
