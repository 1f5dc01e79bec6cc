"""MNIST at the course's scale: the four canonical files (:mod:`.data`, the only loader), the classifier that
judges generated digits (:mod:`.classifier`), its metrics (:mod:`.metric`: Fréchet distance, confident share,
label entropy, references; :mod:`.fidelity`: fidelity and diversity of guided digits), and the shipped UNet
models with the command that retrains them (:mod:`.models`).

This layer imports the core (``fmlearn.*``), never :mod:`fmlearn.experiments` or :mod:`fmlearn.teaching`.
"""
from __future__ import annotations

from .data import MnistData, MnistFilesError, mnist_tensors, to_images

__all__ = ["MnistData", "MnistFilesError", "mnist_tensors", "to_images"]
