"""Sample images (File > Open Sample): real colour images bundled with scikit-image."""


def coffee():
    from skimage import data

    return [(data.coffee(), {"name": "coffee", "rgb": True})]


def immunohistochemistry():
    from skimage import data

    return [(data.immunohistochemistry(), {"name": "immunohistochemistry", "rgb": True})]


def chelsea():
    from skimage import data

    return [(data.chelsea(), {"name": "chelsea", "rgb": True})]
