"""cli.py: numeric options are checked where they are parsed; every error is one line and exit status 2."""

import pytest

from landseg.cli import main

BAD = [
    (["prepare", "folder", "S", "D", "--gsd", "0"], "--gsd", "> 0"),
    (["prepare", "folder", "S", "D", "--gsd", "nan"], "--gsd", "pixel size in metres"),
    (["prepare", "folder", "S", "D", "--gsd", "-0.05"], "--gsd", "got -0.05"),
    (["predict", "M", "I", "--out", "O", "--gsd", "inf"], "--gsd", "got inf"),
    (["area", "C", "--gsd", "-1"], "--gsd", "> 0"),
    (["vectorize", "C", "--out", "o.gpkg", "--gsd", "0"], "--gsd", "> 0"),
    (["prepare", "folder", "S", "D", "--val-fraction", "1"], "--val-fraction", "< 1"),
    (["prepare", "folder", "S", "D", "--val-fraction", "-0.1"], "--val-fraction", ">= 0"),
    (["prepare", "folder", "S", "D", "--export-patches", "0"], "--export-patches", ">= 1"),
    (["predict", "M", "I", "--out", "O", "--batch-size", "0"], "--batch-size", ">= 1"),
    (["evaluate", "M", "D", "--out", "O", "--batch-size", "-2"], "--batch-size", ">= 1"),
    (["predict", "M", "I", "--out", "O", "--overlap", "-1"], "--overlap", ">= 0"),
    (["train", "D", "--out", "O", "--batch-size", "0"], "--batch-size", ">= 1"),
    (["train", "D", "--out", "O", "--epochs", "0"], "--epochs", ">= 1"),
    (["train", "D", "--out", "O", "--lr", "0"], "--lr", "> 0"),
    (["train", "D", "--out", "O", "--lr", "nan"], "--lr", "finite"),
    (["train", "D", "--out", "O", "--time-limit", "-5"], "--time-limit", "> 0"),
    (["train", "D", "--out", "O", "--num-workers", "-1"], "--num-workers", ">= 0"),
    (["train", "D", "--out", "O", "--width", "99999"], "--width", "<= 512"),
    (["serve", "--workers", "0"], "--workers", ">= 1"),
    (["serve", "--max-upload-mb", "-1"], "--max-upload-mb", "> 0"),
    (["serve", "--port", "70000"], "--port", "<= 65535"),
    (["report", "I", "--samples", "-1"], "--samples", ">= 0"),
    (["report", "I", "--max-size", "0"], "--max-size", ">= 16"),
    (["area", "C", "--objects", "car", "--min-area", "-3"], "--min-area", ">= 0"),
    (["vectorize", "C", "--out", "o.gpkg", "--min-area", "-3"], "--min-area", ">= 0"),
    (["export", "M", "o.onnx", "--opset", "3"], "--opset", ">= 7"),
    (["export", "M", "o.onnx", "--opset", "x"], "--opset", "whole number"),
]


@pytest.mark.parametrize("argv, option, expect", BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _, _ in BAD])
def test_bad_numbers_are_refused_at_the_edge(argv, option, expect, capsys):
    assert main(argv) == 2  # a usage error is exit status 2, returned like every other error
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"landseg {argv[0]}: error: argument {option}"), err
    assert expect in err, err


def test_area_out_suffix_is_checked_first(tmp_path, capsys):
    assert main(["area", str(tmp_path / "missing.tif"), "--out", str(tmp_path / "a.xlsx")]) == 2
    err = capsys.readouterr().err
    assert "unsupported file type '.xlsx'" in err and ".csv, .json, .md, .txt" in err
    assert not (tmp_path / "a.xlsx").exists()


def test_help_of_every_command(capsys, monkeypatch):
    """`landseg --help` and `landseg CMD --help` print and exit 0 (a literal % in a command's help once crashed
    the top-level help: argparse %-formats it)."""
    from landseg.cli import COMMANDS

    monkeypatch.setenv("COLUMNS", "400")  # one line per command: the text is not wrapped
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "45 %/10 % thresholds" in out and all(name in out for name in COMMANDS)
    for name in COMMANDS:
        assert main([name, "--help"]) == 0, name
        assert capsys.readouterr().out.startswith("usage: landseg " + name)
