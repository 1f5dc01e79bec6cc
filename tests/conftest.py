"""Shared test settings.

The course's networks are tiny: one CPU thread runs them faster than two (no hand-off between
threads), and it keeps timings stable when the machine is busy. Notebooks run in their own kernels.
"""
import torch

torch.set_num_threads(1)
