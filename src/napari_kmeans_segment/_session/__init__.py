"""The napari-layer tier, Qt-free: one source layer and what the plugin made of it.

session (:class:`~.session.ClusterSession`: the result in memory, undo, every cluster action),
measure (:class:`~.measure.SessionMeasure`: background and tissue, measured objects,
uncertainty), layers (what the source was, layer names, writes by identity), stack (how the
plugin's layers are drawn and stacked), colors (cluster colours and visibility read from and
written to a Labels layer's colormap). The parts talk through public methods.
"""
