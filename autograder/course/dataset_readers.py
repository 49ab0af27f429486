"""Reading the prepared datasets: Fashion-MNIST's idx files and a split in the folder layout
(`train/<class>/*.jpg`). Used by `cnngrade data prepare` (cnngrade.course.data), the course
base's pretraining (cnngrade.course.base_network) and the hidden suites' accuracy checks
(cnngrade.grading.modelcheck), which read the hidden splits in the trusted process only."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

IMAGE_SIZE = 150
# The sandbox's share of Fashion-MNIST's test file (its first half: 5,000 of 10,000 images).
# Every split that accuracy is judged on is drawn from the rest, which no graded run has seen.
FASHION_PUBLIC_SHARE = 0.5


def held_back_start(n_images: int) -> int:
    """Index of the first test image the sandbox's copy of Fashion-MNIST does not hold."""
    return int(n_images * FASHION_PUBLIC_SHARE)


def read_fashion(folder: Path, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 N x 28 x 28, labels uint8 N) of Fashion-MNIST's `train` or `t10k` files."""
    with gzip.open(folder / f"{kind}-labels-idx1-ubyte.gz", "rb") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    with gzip.open(folder / f"{kind}-images-idx3-ubyte.gz", "rb") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(len(labels), 28, 28)
    return images, labels


def load_folder_split(folder: Path, size: int = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray,
                                                                     list[str]]:
    """A split in the folder layout as (images float32 N x size x size x 3 in 0..255, labels
    int N, class names): classes in alphabetical order, as Keras's directory loaders number
    them. Read by the trusted checker only."""
    from PIL import Image

    classes = sorted(p.name for p in Path(folder).iterdir() if p.is_dir())
    images, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((Path(folder) / name).iterdir()):
            if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".bmp", ".gif"):
                continue
            with Image.open(path) as image:
                image = image.convert("RGB")
                if image.size != (size, size):
                    image = image.resize((size, size), Image.Resampling.BILINEAR)
                images.append(np.asarray(image, dtype=np.float32))
            labels.append(label)
    return np.stack(images), np.asarray(labels), classes
