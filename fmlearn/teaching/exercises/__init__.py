r"""Exercise checks, the notebooks' core equations, and the student version of a notebook.

Every function that a notebook writes out by hand (the interpolation ``x_t``, the two losses, an
Euler step, the conversions...) is registered with :func:`exercise` where its reference is defined,
one module per notebook (:mod:`.paths` for 01, ..., :mod:`.guidance` for 09): the package's reference
implementation, a maker of random inputs, common mistakes with a hint for each, and its number.

* In a notebook, ``check("3.1", irreducible_fm_loss)`` compares the learner's function with the
  reference on random inputs and says what is wrong (a known mistake is named).
* The test suite runs the same comparison on each notebook's *core* cells (cells whose first line
  is ``# core: NAME``), so the equations a learner reads are the package's, digit for digit.
* Solutions in the committed notebooks sit between ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
  :func:`student_notebook` replaces them with ``raise NotImplementedError("Exercise N.M")``.
  Command line: ``python -m fmlearn student notebooks/ --out student/``.
"""
from __future__ import annotations

from .checking import check, compare
from .registry import REGISTRY, Spec, exercise, numbers, specs
from .student import student_notebook, student_source

__all__ = ["Spec", "exercise", "specs", "numbers", "check", "compare", "student_notebook", "student_source", "REGISTRY"]
