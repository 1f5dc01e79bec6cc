"""fmlearn: flow matching and diffusion on one Gaussian-path core (see README.md)."""
from fmlearn._version import __version__
