"""What k-means sees: an array read as pixels (image: channel layout, validity, chunks,
samples), the feature space (features: colour space, normalisation, position, texture), colour
deconvolution and stain names (stains), and a brightfield slide's white level, optical density
and tissue mask (tissue)."""
