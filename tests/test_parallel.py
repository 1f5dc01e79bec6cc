"""map_in_processes: same results as a plain loop, in order; errors surface; balanced shares."""
import math

import pytest

from fmlearn.experiments.parallel import _shares, map_in_processes


def test_results_in_order_and_as_they_come():
    seen = []
    jobs = [5, 3, 10, 0, 7]
    out = map_in_processes(math.factorial, jobs, workers=2, costs=jobs, on_result=lambda i, r: seen.append(i))
    assert out == [math.factorial(j) for j in jobs]
    assert sorted(seen) == list(range(len(jobs)))
    assert map_in_processes(math.factorial, jobs, workers=1) == out  # here, in this process


def test_an_error_in_a_worker_is_raised_here():
    with pytest.raises(RuntimeError, match="ValueError"):
        map_in_processes(math.factorial, [3, -1, 4], workers=2)


def test_a_lambda_is_refused():
    with pytest.raises(ValueError, match="module-level"):
        map_in_processes(lambda x: x, [1, 2], workers=2)


def test_longest_jobs_first_to_the_least_loaded_worker():
    costs = [100, 32, 16, 8, 4, 2, 1] * 2
    shares = _shares(costs, 2)
    loads = [sum(costs[i] for i in s) for s in shares]
    assert sorted(i for s in shares for i in s) == list(range(len(costs)))
    assert abs(loads[0] - loads[1]) <= max(costs[-1], 1) * 2  # 163 each
