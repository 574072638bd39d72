"""Quality across seeds: the default path's compactness over the exact recipe's.

For 5 photographs resized to 1920x1080, K = 3 and 8: the exact recipe with seed 0, and the
default path with seeds 0-5. Prints each ratio and the worst (the contract is <= 1.005).
Takes a few minutes (each exact K=8 run is ~20 s on a 2-core machine).
"""

import cv2
from skimage import data

import napari_kmeans_segment as nks

PHOTOS = ("rocket", "astronaut", "chelsea", "coffee", "immunohistochemistry")


def main():
    worst = 0.0
    for name in PHOTOS:
        img = cv2.resize(getattr(data, name)(), (1920, 1080), interpolation=cv2.INTER_AREA)
        for k in (3, 8):
            exact = nks.segment(img, k, seed=0, sample_size=None).compactness
            ratios = [nks.segment(img, k, seed=s).compactness / exact for s in range(6)]
            worst = max(worst, *ratios)
            print(f"{name} K={k}: " + " ".join(f"{r:.4f}" for r in ratios), flush=True)
    print(f"worst ratio over {len(PHOTOS) * 2 * 6} runs: {worst:.4f}")


if __name__ == "__main__":
    main()
