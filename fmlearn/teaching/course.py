r"""The map of the course, in one place: each notebook, what it teaches, its measured CPU time, and the
suggested paths through it.

The README's notebook table (:func:`readme_table`, written between its ``notebook-table`` markers by
``python tools/build_notebooks.py``, checked by ``--check``) and notebook 00's map (:func:`course_map`) are
both made from :data:`NOTEBOOKS`, so they cannot disagree. Times are wall-clock seconds of a whole notebook
in a fresh kernel on the project's 2-core CPU machines (``python tools/measure_notebooks.py --repeat 3``);
update them here after measuring.
"""
from __future__ import annotations

from dataclasses import dataclass

# the GitHub ``OWNER/REPO`` and branch the Colab and Binder links point at: set in pyproject.toml, written into
# fmlearn/teaching/address.py by tools/build_notebooks.py (on Colab the package is installed without pyproject.toml)
from fmlearn.teaching.address import BRANCH, REPOSITORY

__all__ = ["Notebook", "NOTEBOOKS", "PREREQUISITES", "PATHS", "REPOSITORY", "BRANCH", "colab_url", "binder_url", "minutes",
           "badges", "readme_table", "course_map", "notebook"]


@dataclass(frozen=True)
class Notebook:
    """One notebook of the course: its file stem, title, what it teaches, and its measured times (seconds).

    ``runs`` notes how often the time was measured when not a median of 3 (e.g. ``"1 run"``).
    """
    name: str
    title: str
    teaches: str
    full_s: float | None
    quick_s: float | None
    runs: str = ""

    @property
    def number(self) -> str:
        return self.name[:2]

    @property
    def path(self) -> str:
        return f"notebooks/{self.name}.ipynb"


NOTEBOOKS: tuple[Notebook, ...] = (
    Notebook("00_welcome", "Welcome",
             "the course's question; train flow matching and diffusion live on your own word or picture; the map "
             "of the course, how to run it, how exercises are checked", 49, 20),
    Notebook("01_probability_paths", "Probability paths",
             "noise-to-data paths `x_t = alpha_t x_1 + sigma_t x_0`; linear vs variance-preserving schedules and "
             "their SNR; conditional vs marginal path; path explorer and animation", 8, 7),
    Notebook("02_diffusion", "Diffusion",
             "forward noising, the noise-prediction loss in five lines, DDPM ancestral sampling, the score, reverse "
             "SDE vs probability-flow ODE; sampler explorer", 13, 7),
    Notebook("03_flow_matching", "Flow matching",
             "conditional vs marginal velocity (exact for a point cloud), the flow matching loss, Euler sampling, "
             "animated field with particles; field explorer", 17, 10),
    Notebook("04_two_sides_of_one_coin", "Two sides of one coin",
             "exact conversions noise/velocity/data/score, each family sampled with the other's samplers, DDIM = "
             "Euler on a mapped linear path (checked to 1e-14), one loss with two weightings, the verdict; conversion "
             "explorer (one network's output in four coordinates)", 18, 9),
    Notebook("05_speed_vs_quality", "Speed vs quality",
             "the race live (quick budget) and precomputed (full): quality vs NFE and vs seconds for five models "
             "and eight samplers, the claims checked, time grids; model/sampler/NFE explorer", 31, 37),
    Notebook("06_straight_paths", "Straight paths",
             "independent vs minibatch-OT couplings, straightness and path energy, reflow (1- to 2-rectified "
             "flow), one-step distillation and its price; model/NFE explorer", 51, 18),
    Notebook("07_likelihood", "Likelihood",
             "exact log-density of a flow vs a known mixture, exact vs Hutchinson divergence, NLL of a flow and "
             "of a diffusion model (its probability-flow ODE); density explorer (learned vs true log p_t)", 14, 8),
    Notebook("08_mnist", "MNIST",
             "flow matching and diffusion on MNIST with the same UNet: the loss unchanged from 2D, a live short "
             "run and the shipped models, the classifier metric with its floor and blurred references, the MNIST "
             "race (FD and confident share vs NFE, five samplers), DDIM = Euler on the UNet, digits emerging "
             "from noise (animation); model/sampler/NFE explorer", 63, 28, "1 run"),
    Notebook("09_guidance", "Guidance",
             "class-conditional model by label dropout, classifier-free guidance `(1 + w) v(x, t \\| y) - w "
             "v(x, t \\| null)` (the same for a noise-predicting model), fidelity vs diversity measured over "
             "w = 0..8; digit/scale explorer", 86, 24, "1 run"),
    Notebook("10_verdict", "The verdict",
             "the popular claims about flow matching vs diffusion, each with a computed verdict: invertibility of "
             "the network vs the flow (live), deterministic vs stochastic samplers, SDE sampling of a flow, "
             "straightened transport, NFE at equal quality; k-NN precision/recall and memorization; the "
             "course's answer; sweep explorer", 11, 11),
)

PREREQUISITES = ("Python and NumPy", "PyTorch basics (tensors, a training loop)",
                 "Gaussian distributions (mean, variance, sampling)", "derivatives and what an ODE is")

#: suggested paths: name -> (who it is for, the notebooks in order with what to do in each)
PATHS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "90-minute lecture": ("an instructor with one session; run the cells live, show the precomputed results", (
        ("00", "the live demo on a word (5 min)"),
        ("01", "paths and the path explorer (10 min)"),
        ("03", "the flow matching loss and the field explorer (20 min)"),
        ("02", "the noise-prediction loss and DDPM, briefly (10 min)"),
        ("04", "DDIM = Euler, one loss two weightings (15 min)"),
        ("05", "the race, precomputed (15 min)"),
        ("10", "the verdict table and the course's answer (15 min)"),
    )),
    "self-study": ("a learner alone, about 5-6 hours with the exercises", tuple(
        (nb.number, "read, run, do its exercises") for nb in NOTEBOOKS)),
}


def notebook(number: str) -> Notebook:
    """The notebook with this two-digit number (e.g. ``"05"``)."""
    for nb in NOTEBOOKS:
        if nb.number == str(number).zfill(2):
            return nb
    raise ValueError(f"no notebook {number!r}; the course has {', '.join(nb.number for nb in NOTEBOOKS)}.")


def colab_url(nb: Notebook | str, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """The link that opens a notebook (or a notebook's path in the repository) on Colab."""
    path = nb if isinstance(nb, str) else nb.path
    return f"https://colab.research.google.com/github/{repository}/blob/{branch}/{path}"


def binder_url(nb: Notebook | str, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """The link that opens a notebook (or a notebook's path in the repository) on Binder."""
    path = nb if isinstance(nb, str) else nb.path
    return f"https://mybinder.org/v2/gh/{repository}/{branch}?urlpath=lab/tree/{path}"


def badges(nb: Notebook | str, repository: str = REPOSITORY, branch: str = BRANCH) -> tuple[str, str]:
    """The Colab and the Binder badge of a notebook (Markdown)."""
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(nb, repository, branch)})",
            f"[![Launch Binder](https://mybinder.org/badge_logo.svg)]({binder_url(nb, repository, branch)})")


def minutes(seconds: float | None, runs: str = "") -> str:
    """A measured runtime as the course's tables print it: ``"0.8 (49 s)"``, ``"1.1 (63 s, 1 run)"``."""
    if seconds is None:
        return "not measured yet"
    note = f", {runs}" if runs else ""
    return f"{seconds / 60:.1f} ({seconds:.0f} s{note})"


def readme_table(repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """The README's notebook table (Markdown), with Colab and Binder badges for ``repository`` at ``branch``."""
    lines = ["| notebook | what it teaches | CPU minutes (full) | CPU minutes (quick) | GPU minutes | Colab | Binder |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for nb in NOTEBOOKS:
        colab, binder = badges(nb, repository, branch)
        lines.append(f"| [{nb.name}]({nb.path}) | {nb.teaches} | {minutes(nb.full_s, nb.runs)} | "
                     f"{minutes(nb.quick_s, nb.runs)} | not measured | {colab} | {binder} |")
    return "\n".join(lines)


def course_map(quick: bool = False) -> str:
    """Notebook 00's map (Markdown): each notebook, what it teaches, its CPU minutes in this mode; then the
    prerequisites and the suggested paths. Display it with ``IPython.display.Markdown``."""
    key = "quick" if quick else "full"
    lines = [f"| notebook | what it teaches | CPU minutes ({key} mode) |", "| --- | --- | --- |"]
    for nb in NOTEBOOKS:
        seconds = nb.quick_s if quick else nb.full_s
        lines.append(f"| **{nb.number}** {nb.title} | {nb.teaches} | {minutes(seconds, nb.runs)} |")
    lines += ["", "**You need:** " + "; ".join(PREREQUISITES) + ".", ""]
    for name, (who, steps) in PATHS.items():
        lines.append(f"**{name}** ({who}): " + " → ".join(f"{n} {what}" for n, what in steps) + ".")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
