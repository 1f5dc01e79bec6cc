"""fmlearn.experiments.seeds against hand-computed cases; the shipped race repeats agree with their own claims."""
import math

import pytest

from fmlearn.experiments import race
from fmlearn.experiments.seeds import always_less, format_spread, spread, summarize, verdicts


def run(values, claims=()):
    rows = [{"model": "fm", "sampler": "euler", "nfe_budget": n, "w2": w} for n, w in values.items()]
    return {"rows": rows, "claims": [{"id": i, "claim": i, "holds": h} for i, h in claims]}


def test_summarize_mean_std_min_max():
    runs = [run({1: 1.0, 4: 0.2}), run({1: 2.0, 4: None}), run({1: 3.0, 4: 0.4})]
    s = summarize(runs)
    one = s[("fm", "euler", 1)]
    assert one["values"] == [1.0, 2.0, 3.0] and one["mean"] == 2.0 and one["std"] == pytest.approx(1.0)
    assert (one["min"], one["max"], one["n"]) == (1.0, 3.0, 3)
    four = s[("fm", "euler", 4)]  # the diverged run (None) is left out
    assert four["n"] == 2 and four["mean"] == pytest.approx(0.3) and four["std"] == pytest.approx(math.sqrt(0.02))
    assert format_spread(one) == "2.000 ± 1.000" and format_spread(four).endswith("(n=2)")
    with pytest.raises(ValueError, match="at least one run"):
        summarize([])
    assert spread([2.0])["std"] == 0.0 and spread([1, 3])["mean"] == 2.0
    with pytest.raises(ValueError, match="at least one number"):
        spread([])


def test_verdicts_and_always_less():
    v = verdicts([[{"id": "a", "claim": "A", "holds": True}, {"id": "b", "claim": "B", "holds": True}],
                  [{"id": "a", "claim": "A", "holds": True}, {"id": "b", "claim": "B", "holds": False}],
                  [{"id": "a", "claim": "A", "holds": None}, {"id": "b", "claim": "B", "holds": True}]])
    assert v["a"]["verdict"] == "holds" and v["b"]["verdict"] == "mixed" and v["a"]["holds"] == [True, True, None]
    assert verdicts([[{"id": "c", "claim": "C", "holds": False}]])["c"]["verdict"] == "fails"
    runs = [run({1: 1.0, 4: 0.2}), run({1: 0.5, 4: 0.4})]
    assert always_less(runs, ("fm", "euler", 4), ("fm", "euler", 1))
    assert not always_less(runs, ("fm", "euler", 4), ("fm", "euler", 1), factor=0.5)  # 0.4 < 0.25 fails
    with pytest.raises(ValueError, match="no run has both"):
        always_less(runs, ("fm", "euler", 4), ("fm", "heun", 1))


@pytest.mark.parametrize("grid", race.GRIDS)
def test_shipped_race_repeats(grid):
    runs = race.precomputed_runs("moons", grid)
    assert [r["seed"] for r in runs] == list(range(len(runs))) and len(runs) >= 3
    for r in runs:  # the shipped claims are what check_claims says of the shipped rows
        assert [c["holds"] for c in r["claims"]] == [c["holds"] for c in race.check_claims(r)]
        assert r["quick"] is False and r["train_steps"] == 3000
