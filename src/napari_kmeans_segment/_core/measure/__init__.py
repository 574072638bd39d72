"""Numbers from labels: cluster areas, shares of tissue and measured objects (measure), touching
objects apart (split), which clusters are foreground (foreground), DAB positivity and H-score
(positivity), a slide's stains inside a fit or an apply (slide_stains), and how sure each
pixel's cluster is (uncertainty)."""
