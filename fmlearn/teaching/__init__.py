"""What the notebooks use to show and to check: figures and animations (:mod:`.plotting`, :mod:`.animation`,
:mod:`.result_plots`), interactive explorers with static twins (:mod:`.explorer`, :mod:`.widgets`,
:mod:`.digits`), autochecked exercises (:mod:`.exercises`) and the learner-facing benchmark (:mod:`.bench`).

The top layer: it may import every other part of fmlearn; nothing in fmlearn imports it.
"""
