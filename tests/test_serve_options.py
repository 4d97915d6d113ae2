"""serve/options.py: ServeOptions is the one place of `landseg serve`'s defaults and ranges; the CLI reads them."""

import dataclasses

import pytest

from landseg.cli import build_parser, main, serve_options
from landseg.errors import ConfigError
from landseg.serve.options import ServeOptions


def test_cli_defaults_are_the_dataclass_defaults():
    assert serve_options(build_parser().parse_args(["serve"])) == ServeOptions()


def test_cli_options_reach_the_dataclass():
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "9000", "--model", "a", "--model", "b",
                                      "--data-dir", "d", "--max-upload-mb", "12.5", "--workers", "3", "--device",
                                      "cpu", "--allowed-host", "x.org", "--token", "t", "--max-job-pixels", "1e6",
                                      "--max-job-windows", "7", "--job-timeout", "60"])
    assert serve_options(args) == ServeOptions(host="0.0.0.0", port=9000, models=("a", "b"), data_dir="d",
                                               max_upload_mb=12.5, workers=3, device="cpu", allowed_hosts=("x.org",),
                                               token="t", max_job_pixels=1e6, max_job_windows=7, job_timeout=60)


BOUNDED = [f.name for f in dataclasses.fields(ServeOptions) if "bounds" in f.metadata]


@pytest.mark.parametrize("name", BOUNDED)
def test_one_range_per_option_in_the_library_and_the_cli(name, capsys):
    """Each bounded option refuses the same values built in Python (ConfigError) and given on the command line
    (argparse's one-line usage error): the range is written once, on the field."""
    b = ServeOptions.bounds(name)
    below = b.lo if b.lo_open else b.lo - 1
    with pytest.raises(ConfigError, match=f"--{name.replace('_', '-')} must be .*got {below:g}"):
        ServeOptions(**{name: b.kind(below)})
    flag = "--" + name.replace("_", "-")
    assert main(["serve", flag, f"{below:g}"]) == 2
    assert f"error: argument {flag}: expected" in capsys.readouterr().err
    if b.hi is not None:
        with pytest.raises(ConfigError):
            ServeOptions(**{name: b.kind(b.hi + 1)})
        assert main(["serve", flag, f"{b.hi + 1:g}"]) == 2
    ServeOptions(**{name: b.kind(b.lo + 1)})  # inside: accepted


def test_budgets_can_be_switched_off_in_the_library():
    o = ServeOptions(max_job_pixels=None, max_job_windows=None, job_timeout=None)
    assert (o.max_job_pixels, o.max_job_windows, o.job_timeout) == (None, None, None)


def test_options_are_frozen_and_lists_become_tuples():
    o = ServeOptions(models=["a"], allowed_hosts=["h"])
    assert o.models == ("a",) and o.allowed_hosts == ("h",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.workers = 2  # type: ignore[misc]


def test_the_app_takes_its_defaults_and_checks_from_the_dataclass(tmp_path):
    """create_app(..., FIELD=value) goes through ServeOptions too: the same defaults, the same checks."""
    pytest.importorskip("fastapi")
    from landseg.serve.app import create_app

    with pytest.raises(ConfigError, match="--workers must be a whole number >= 1 and <= 64, got 0"):
        create_app({"default": "default"}, tmp_path / "a", workers=0)
    with pytest.raises(ConfigError, match="--max-upload-mb must be a number > 0, got -1"):
        create_app({"default": "default"}, tmp_path / "b", ServeOptions(), max_upload_mb=-1)
    d = ServeOptions()
    app = create_app({"default": "default"}, tmp_path / "c")
    assert app.state.max_bytes == int(d.max_upload_mb * 2**20) and app.state.data_dir == tmp_path / "c"
    r = app.state.runner
    assert (r.workers, r.max_windows, r.timeout, r.predict_options["max_pixels"]) == (
        d.workers, d.max_job_windows, d.job_timeout, d.max_job_pixels)
    app = create_app({"default": "default"}, options=ServeOptions(data_dir=tmp_path / "d", workers=2, job_timeout=None))
    assert (app.state.runner.workers, app.state.runner.timeout, app.state.data_dir) == (2, None, tmp_path / "d")
