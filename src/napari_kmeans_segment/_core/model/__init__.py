"""A fit's result and its reuse: :class:`Segmentation` with its operations and the cluster table
(result), hide/merge/extract on labels for numpy and dask (clusters), :class:`KMeansModel` and
its JSON file (model), the field-by-field check of a model file (model_check), and the lazy
half of applying a model to dask and multiscale images (apply)."""
