"""minicompress.data: datasets, file readers, the DataLoader and transforms (NumPy only).

- :func:`load_mnist10k`: the built-in offline dataset (8,000 train / 2,000 test MNIST digits);
  credit in :data:`MNIST10K_CREDIT`.
- :func:`read_idx`, :func:`load_mnist`: MNIST / Fashion-MNIST IDX files a user has.
- :func:`load_cifar10`: CIFAR-10 python batches, read without trusting pickle.
- :class:`DataLoader`: seeded mini-batches.
- :class:`Normalize`, :class:`RandomHorizontalFlip`, :class:`RandomCrop`, :class:`Compose`.
"""

from .builtin import MNIST10K_CREDIT, load_mnist10k, mnist10k_split
from .cifar import load_cifar10
from .idx import load_mnist, read_idx
from .loader import DataLoader
from .transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip

__all__ = [
    "MNIST10K_CREDIT",
    "load_mnist10k",
    "mnist10k_split",
    "read_idx",
    "load_mnist",
    "load_cifar10",
    "DataLoader",
    "Normalize",
    "RandomHorizontalFlip",
    "RandomCrop",
    "Compose",
]
