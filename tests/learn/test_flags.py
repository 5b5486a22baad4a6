"""Every ``glep train`` flag is checked before any work: one line naming the flag, exit 2."""

from __future__ import annotations

import pytest

from glep.cli import main
from tests.learn.conftest import SYSTEM

BAD = [
    ("--lr", "0"), ("--lr", "-0.001"), ("--lr", "nan"), ("--lr", "inf"), ("--lr", "fast"),
    ("--lr-decay", "0"), ("--lr-decay", "1.5"), ("--lr-decay", "nan"), ("--lr-decay", "-0.5"),
    ("--epochs", "0"), ("--epochs", "1.5"), ("--epochs", "ten"),
    ("--batch", "0"), ("--batch", "-4"), ("--batch", "2.5"),
    ("--beta", "0"), ("--beta", "-0.0001"), ("--beta", "inf"), ("--beta", "nan"),
    ("--steps", "0"), ("--steps", "1e2"),
    ("--compare", "HEL,HEL"), ("--compare", "HEL,EP"), ("--compare", "HEL,"),
    ("--checkpoint-every", "0"), ("--checkpoint-every", "x"),
    ("--rule", "EP"), ("--optimizer", "rmsprop"), ("--seed", "-1"),
    ("--init", "no-such-params.json"), ("--positive", ","), ("--positive", "m,,k"),
]


@pytest.mark.parametrize(("flag", "value"), BAD)
def test_a_bad_flag_is_refused_up_front(tmp_path, capsys, flag, value):
    out = tmp_path / "runs"
    # no data file: the flags are checked before the data (or anything else) is read
    code = main(["train", str(SYSTEM), "--data", str(tmp_path / "missing.npz"), flag, value,
                 "--out-dir", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert flag in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_an_out_dir_that_is_a_file_is_refused(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("not a directory")
    assert main(["train", str(SYSTEM), "--data", str(tmp_path / "d.npz"),
                 "--out-dir", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"--out-dir {taken} is a file" in err and "Traceback" not in err


def test_file_and_data_are_required_without_resume(tmp_path, capsys):
    assert main(["train", str(SYSTEM)]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["train", str(SYSTEM), "--data", str(tmp_path / "none.npz"),
                 "--out-dir", str(tmp_path / "o")]) == 2
    assert "--data" in capsys.readouterr().err
