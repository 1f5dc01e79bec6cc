"""Experiments that measure the course's claims: the 2D speed/quality race (:mod:`.race`), the MNIST race
(:mod:`.mnist_race`), summaries over repeats (:mod:`.seeds`), and what they share (:mod:`.common`: derived
seeds, machine information, JSON files; :mod:`.parallel`: jobs in fresh worker processes).

This layer imports the core and :mod:`fmlearn.mnist`, never :mod:`fmlearn.teaching`; figures of the results
are drawn in :mod:`fmlearn.teaching.result_plots`.
"""
