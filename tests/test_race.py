"""The speed/quality race: complete and consistent rows, counted NFE, the cache and its refusals, bad input, CLI."""
import json
import math

import pytest
import torch

from fmlearn.experiments import race
from fmlearn.__main__ import main
from fmlearn.checkpoints import load_checkpoint
from fmlearn.models import MLP, PathModel
from fmlearn.data import DATASETS
from fmlearn.experiments.race import plan, run_race, sample_row, zoo
from fmlearn.experiments.race.scoring import score_all
from fmlearn.reflow import fingerprint
from fmlearn.samplers import EVALS_PER_STEP, steps_for
from helpers import CountingNet

TINY = dict(steps=30, n_eval=64, n_pairs=300, nfes=[1, 2, 4, 8], workers=1, progress=False)
KEYS = {"model", "sampler", "nfe", "w2", "mmd", "seconds", "straightness", "nfe_budget", "steps", "grid"}


@pytest.fixture(autouse=True)
def _on_cpu(monkeypatch):
    monkeypatch.setenv("FMLEARN_DEVICE", "cpu")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("race-cache")


@pytest.fixture(scope="module")
def first(cache):
    return run_race("moons", quick=True, seed=0, cache_dir=cache, **TINY)




def test_rows_are_complete_and_consistent(first):
    assert {"data", "quick", "seed", "n_eval", "train_steps", "floor_w2", "rows", "claims", "machine"} <= set(first)
    assert first["n_eval"] == 64 and first["train_steps"] == 30 and first["quick"] is True
    assert 0 < first["floor_w2"] < 1
    got = [(r["model"], r["sampler"], r["nfe_budget"]) for r in first["rows"]]
    assert got == plan(race.MODELS, race.RACE_SAMPLERS, TINY["nfes"])
    for r in first["rows"]:
        assert set(r) >= KEYS, r
        assert math.isfinite(r["w2"]) and r["w2"] > 0 and r["seconds"] >= 0
        assert (r["straightness"] is None) == (r["sampler"] in ("ddpm", "em"))
        if r["sampler"] == "dopri5":
            assert r["nfe_budget"] is None and r["nfe"] > 0 and r["steps"] is None
        else:  # fixed steps: the budget, split into steps of EVALS_PER_STEP calls (no singular end here)
            assert r["steps"] == steps_for(r["sampler"], r["nfe_budget"])
            assert r["nfe"] == r["steps"] * EVALS_PER_STEP[r["sampler"]] == r["nfe_budget"]
    distilled = [r for r in first["rows"] if r["model"] == "distilled"]
    assert [(r["sampler"], r["nfe"]) for r in distilled] == [("euler", 1)]
    assert {c["id"] for c in first["claims"]} == {"nfe100", "fast-diffusion-samplers", "one-step", "distilled"}


@pytest.mark.parametrize("data", sorted(DATASETS))
def test_every_data_set_races(data, cache):
    out = run_race(data, quick=True, cache_dir=cache, **dict(TINY, steps=5, n_eval=16, models=["fm"],
                                                              samplers=["euler"], nfes=[1]))
    assert out["data"] == data and len(out["rows"]) == 1 and math.isfinite(out["rows"][0]["w2"])


def test_plan_skips_small_budgets_and_runs_dopri5_once():
    rows = plan(["fm"], ["heun", "rk4", "dopri5"], [1, 2, 4, 100])
    assert rows == [("fm", "heun", 2), ("fm", "heun", 4), ("fm", "heun", 100), ("fm", "rk4", 4),
                    ("fm", "rk4", 100), ("fm", "dopri5", None)]
    assert plan(["distilled"], ["ddim"], [8]) == [("distilled", "euler", 1)]


@pytest.mark.parametrize("parametrization", ["velocity", "data"])
def test_row_nfe_equals_independently_counted_calls(parametrization):
    torch.manual_seed(0)
    counted = CountingNet(MLP(2, 16, 1))
    model = PathModel(counted, "linear", parametrization)
    x0 = torch.randn(32, 2)
    for sampler, nfe in [("euler", 4), ("heun", 8), ("rk4", 8), ("rk4", 100), ("dopri5", None), ("ddim", 4),
                         ("dpm++2m", 4), ("ddpm", 2), ("em", 4)]:
        if parametrization == "data" and sampler in ("ddpm", "ddim", "dpm++2m", "em"):
            continue
        counted.calls = 0
        row, samples = sample_row(model, sampler, nfe, x0, generator=torch.Generator().manual_seed(0))
        assert row["nfe"] == counted.calls > 0 and samples.shape == (32, 2)
        if sampler == "rk4" and parametrization == "data":
            # a data prediction has no velocity at t = 1: the last RK4 step is a 3-stage Ralston step
            assert row["nfe"] == 4 * row["steps"] - 1
        elif nfe is not None:
            assert row["nfe"] == row["steps"] * EVALS_PER_STEP[sampler] == nfe


def test_distilled_takes_one_network_call_and_reflow_knows_its_teacher(first, cache):
    models, info = race.get_models(["distilled"], "moons", seed=0, quick=True, steps=30, n_pairs=300,
                                   cache_dir=cache, progress=False)
    assert all(v["cached"] for v in info.values())  # trained by the fixture's race
    assert info["reflow"]["teacher_fingerprint"] == fingerprint(models["fm"]) == first["models"]["fm"]["fingerprint"]
    assert info["distilled"]["teacher_fingerprint"] == fingerprint(models["reflow"])
    counted = CountingNet(models["distilled"].net)
    wrapped = PathModel(counted, "linear", "velocity")
    row, _ = sample_row(wrapped, "euler", 1, torch.randn(100, 2))
    assert row["nfe"] == counted.calls == 1


def test_teachers_are_made_first_and_students_train_on_their_pairs(tmp_path):
    models, info = race.get_models(["distilled"], "moons", seed=0, quick=True, steps=20, n_pairs=200,
                                   cache_dir=tmp_path, progress=False)
    assert list(info) == ["fm", "reflow", "distilled"] and not any(v["cached"] for v in info.values())
    for name, teacher in (("reflow", "fm"), ("distilled", "reflow")):
        source = load_checkpoint(info[name]["checkpoint"]).config["training"]["data"]
        assert source["kind"] == "pairs" and source["teacher"] == teacher
        assert source["teacher_fingerprint"] == fingerprint(models[teacher])


def test_cache_hit_loads_and_gives_the_same_race(first, cache):
    again = run_race("moons", quick=True, seed=0, cache_dir=cache, **TINY)
    assert all(v["cached"] for v in again["models"].values())
    for name, v in again["models"].items():
        assert v["train_seconds"] == first["models"][name]["train_seconds"]  # read from the file, not re-measured
        assert v["fingerprint"] == first["models"][name]["fingerprint"]
    assert [r["w2"] for r in again["rows"]] == [r["w2"] for r in first["rows"]]


def test_corrupted_or_foreign_cache_files_are_refused_and_retrained(first, cache, tmp_path):
    import shutil
    folder = tmp_path / "cache"
    shutil.copytree(cache, folder)
    args = dict(TINY, models=["reflow"], samplers=["euler"], nfes=[1])
    fm_path = race.cache_path(folder, "moons", 0, True, 30, "fm")
    fm_path.write_bytes(b"not a checkpoint")  # corrupted
    out = run_race("moons", quick=True, seed=0, cache_dir=folder, **args)
    assert out["models"]["fm"]["cached"] is False
    assert any("refusing the cached 'fm'" in m and "corrupted" in m and "retraining" in m for m in out["log"])
    load_checkpoint(fm_path)  # replaced by a good file
    # training is deterministic: the retrained fm has the same weights, so its reflow student is still valid
    assert out["models"]["fm"]["fingerprint"] == first["models"]["fm"]["fingerprint"]
    assert out["models"]["reflow"]["cached"] is True

    # same configuration but other weights: fm is used, and reflow (a student of other weights) is refused
    ckpt = torch.load(fm_path, weights_only=True)
    for state in (ckpt["state_dict"], ckpt["ema_state_dict"]):
        for v in state.values():
            v.add_(0.01)
    torch.save(ckpt, fm_path)
    out = run_race("moons", quick=True, seed=0, cache_dir=folder, **args)
    assert out["models"]["fm"]["cached"] is True and out["models"]["reflow"]["cached"] is False
    assert any("refusing the cached 'reflow'" in m and "teacher_fingerprint" in m for m in out["log"])

    # another recipe (here another learning rate): refused, with the differing key named
    ckpt = torch.load(fm_path, weights_only=True)
    ckpt["config"]["training"]["lr"] = 0.1
    torch.save(ckpt, fm_path)
    out = run_race("moons", quick=True, seed=0, cache_dir=folder, **args)
    assert out["models"]["fm"]["cached"] is False
    assert any("training.lr: file has 0.1" in m for m in out["log"])


def test_unwritable_cache_falls_back_and_says_so(tmp_path, monkeypatch):
    wanted = tmp_path / "race"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(zoo, "writable", lambda folder: folder != wanted)
    write, read, note = race.resolve_cache_dir(wanted)
    assert write == tmp_path / "home" / ".cache" / "fmlearn" / "race" and read == [wanted, write]
    assert "not writable" in note and str(wanted) in note
    monkeypatch.setenv("FMLEARN_DATA", str(tmp_path))  # the default folder, FMLEARN_DATA/race, is read-only
    assert race.resolve_cache_dir()[:2] == (write, [wanted, write])
    monkeypatch.setattr(zoo, "writable", lambda folder: False)
    assert "models are not saved" in race.resolve_cache_dir()[2]


@pytest.mark.parametrize("kwargs, words", [
    (dict(data="moon"), ["data", "'moons'"]),
    (dict(models=["fm", "gan"]), ["models", "'gan'", "'reflow'"]),
    (dict(samplers="euler,plms"), ["samplers", "'plms'", "'dpm++2m'"]),
    (dict(nfes=[0, 4]), ["nfes", "1 to 1000"]),
    (dict(nfes=[4, 5000]), ["nfes", "5000"]),
    (dict(nfes="4,x"), ["nfes", "integers"]),
    (dict(grid="karras"), ["grid", "'logsnr'"]),
])
def test_bad_input_is_refused_before_anything_runs(tmp_path, kwargs, words):
    with pytest.raises(ValueError) as err:
        run_race(**{"data": "moons", "cache_dir": tmp_path / "c", **TINY, **kwargs})
    for w in words:
        assert w in str(err.value)
    assert not (tmp_path / "c").exists()


def test_logsnr_grid_option_applies_to_the_vp_model_only(cache):
    out = run_race("moons", quick=True, seed=0, cache_dir=cache, grid="logsnr",
                   **dict(TINY, models=["fm", "diffusion"], samplers=["ddim", "dopri5"], nfes=[4]))
    grids = {(r["model"], r["sampler"]): r["grid"] for r in out["rows"]}
    assert grids == {("fm", "ddim"): "uniform", ("fm", "dopri5"): "adaptive", ("diffusion", "ddim"): "logsnr",
                     ("diffusion", "dopri5"): "adaptive"}


def test_claims_logic():
    def rows(model, sampler, w2s):
        return [{"model": model, "sampler": sampler, "nfe_budget": n, "w2": w} for n, w in w2s.items()]
    fast = {1: 3.0, 2: 0.5, 4: 0.2, 8: 0.12, 16: 0.11, 32: 0.1, 100: 0.1}
    slow = {1: 3.0, 2: 0.9, 4: 0.6, 8: 0.4, 16: 0.2, 32: 0.14, 100: 0.1}
    result = {"floor_w2": 0.05, "rows": rows("diffusion", "ddim", fast) + rows("diffusion", "dpm++2m", fast)
              + rows("diffusion", "ddpm", slow) + rows("fm", "euler", {1: 1.0, 100: 0.12})
              + rows("fm-ot", "euler", {1: 0.3}) + rows("reflow", "euler", {1: 0.6})
              + rows("distilled", "euler", {1: 0.14})}
    claims = {c["id"]: c for c in race.check_claims(result)}
    assert claims["fast-diffusion-samplers"]["holds"] is True  # 3 x 0.05: ddim/dpm++ at NFE 8, ddpm at 32
    assert "ddpm 32" in claims["fast-diffusion-samplers"]["detail"]
    assert claims["nfe100"]["holds"] is True  # fm 0.12 and diffusion 0.1 <= 0.15
    assert claims["one-step"]["holds"] is False  # reflow 0.6 is not half of fm's 1.0
    assert claims["distilled"]["holds"] is True
    result["floor_w2"] = 0.03
    claims = {c["id"]: c for c in race.check_claims(result)}
    assert claims["nfe100"]["holds"] is False and claims["distilled"]["holds"] is False
    # 3 x 0.03 = 0.09: nobody gets there; a claim about who gets there first cannot hold
    assert claims["fast-diffusion-samplers"]["holds"] is False and "ddpm never" in claims["fast-diffusion-samplers"]["detail"]


def test_cli_writes_valid_json_and_refuses_bad_names(tmp_path, capsys):
    path = tmp_path / "out" / "race.json"
    code = main(["race", "--data", "8gaussians", "--quick", "--steps", "20", "--n-eval", "32", "--nfes", "1,2",
                 "--models", "fm,diffusion", "--samplers", "euler,ddim,dopri5", "--workers", "1",
                 "--cache-dir", str(tmp_path / "c"), "--json", str(path), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "floor" in printed and "8gaussians" in printed
    result = json.loads(path.read_text())
    assert result["data"] == "8gaussians" and result["n_eval"] == 32 and result["quick"] is True
    assert len(result["rows"]) == 2 * (2 + 2 + 1)
    assert all(set(r) >= KEYS for r in result["rows"])
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "8gaussians-seed0-quick-20steps-diffusion.pt", "8gaussians-seed0-quick-20steps-fm.pt"]
    before = path.read_text()
    code = main(["race", "--data", "moon", "--json", str(path), "--cache-dir", str(tmp_path / "c")])
    assert code == 2 and "unknown data 'moon'" in capsys.readouterr().err
    assert path.read_text() == before  # the good file is untouched


def test_parallel_scoring_equals_serial():
    from fmlearn.data import sample_data
    ref = sample_data("moons", 200, seed=1)
    jobs = [(sample_data("moons", 200, seed=10 + i) + 0.2 * i, ref) for i in range(3)]
    log = []
    assert score_all(jobs, 100, 2, False, log) == score_all(jobs, 100, 1, False, log)
    assert log == []


def test_scoring_in_worker_processes_gives_the_same_scores(cache):
    kw = dict(TINY, models=["fm"], samplers=["euler"], nfes=[2, 4])
    one = run_race("moons", quick=True, seed=0, cache_dir=cache, **kw)
    two = run_race("moons", quick=True, seed=0, cache_dir=cache, **dict(kw, workers=2))
    assert two["machine"]["score_workers"] == 2
    assert [r["w2"] for r in one["rows"]] == [r["w2"] for r in two["rows"]]
    assert one["floor_w2_samples"] == two["floor_w2_samples"]


def test_format_table_has_no_empty_column():
    from fmlearn.experiments.race.report import format_table
    row = dict(model="fm", sampler="euler", nfe_budget=4, nfe=4, w2=0.5)
    result = dict(rows=[row], nfes=[4], quick=True, data="moons", seed=0, train_steps=10, n_eval=10, floor_w2=0.1,
                  models={}, seconds=1.0)
    header = format_table(result).splitlines()[1]
    assert "adaptive" not in header and header.split() == ["model", "sampler", "4"]
    result["rows"] = [row, dict(row, sampler="dopri5", nfe_budget=None, nfe=38)]
    table = format_table(result).splitlines()
    assert table[1].split()[-1] == "adaptive" and table[3].endswith("0.500 (nfe 38)")
