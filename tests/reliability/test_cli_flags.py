"""Bad flags of every command: exit 2, one message naming the flag, never a traceback."""

from __future__ import annotations

import pytest

from .conftest import SYSTEMS, assert_bad, system_text

H = SYSTEMS / "harmonic_oscillator.py"  # continuous
E = SYSTEMS / "hopfield_smooth.py"  # static energy
R = SYSTEMS / "linear_hru.py"  # recurrent unit
C = SYSTEMS / "ff_ebm.py"  # ff-EBM chain

BAD_NUMBERS = ["0", "-1", "nan", "inf", "-inf", "abc", ""]

CHECK = (
    [(["check", H, "--beta", b], "--beta") for b in BAD_NUMBERS]
    + [(["check", E, "--beta", "0"], "--beta"), (["check", R, "--beta", "nan"], "--beta")]
    + [(["check", H, "--steps", s], "--steps")
       for s in ["0", "-5", "abc", "np.int64(5)", "2.5", "1e400", "nan", ""]]
    + [(["check", H, "--steps", "1e9"], "--steps"),
       (["check", H, "--steps", "10000001"], "--force"),
       (["check", H, "--steps", "20000000"], "--force"),
       (["check", R, "--steps", "100000000"], "--force")]
    + [(["check", H, "--rule", r], "--rule")
       for r in ["nope", "HELL", "EP", "", "hel,nope", "hel,"]]
    + [(["check", E, "--rule", "HEL"], "--rule"), (["check", R, "--rule", "CIVP"], "--rule"),
       (["check", C, "--rule", "nope"], "--rule")]
    + [(["check", E, "--diffrax"], "--diffrax"), (["check", R, "--diffrax"], "--diffrax")]
    + [(["check", "{base}", "--set", "S=30000000"], "--force")]
)

DATA = [
    (["data", "nope", H, "--out", "{tmp}/d.npz"], "kind"),
    (["data", "identification", H], "--out"),
    (["data", "identification", H, "--out", "{tmp}"], "--out"),
    (["data", "identification", H, "--out", "{tmp}/file.txt/d.npz"], "file.txt"),
    (["data", "identification", H, "--out", "{tmp}/d.npz", "--seed", "-1"], "--seed"),
    (["data", "identification", H, "--out", "{tmp}/d.npz", "--seed", "abc"], "--seed"),
    (["data", "filter", "{base}", "--out", "{tmp}/d.npz", "--set", "S=20000000"], "--force"),
    (["data", "filter", E, "--out", "{tmp}/d.npz"], "static energy"),
    (["data", "identification", R, "--out", "{tmp}/d.npz"], "recurrent unit"),
    (["data", "filter", C, "--out", "{tmp}/d.npz"], "ff-EBM"),
    (["data", "filter", SYSTEMS / "hopfield_digits.py", "--out", "{tmp}/d.npz"],
     "does not apply"),
]

TRAIN_FLAGS = [
    ("--epochs", ["0", "-1", "abc", "1.5"]),
    ("--batch", ["0", "-3", "x"]),
    ("--lr", ["0", "-1", "nan", "inf", "abc"]),
    ("--lr-decay", ["0", "2", "nan"]),
    ("--optimizer", ["rmsprop", ""]),
    ("--seed", ["-1", "abc"]),
    ("--beta", ["0", "-1", "nan", "inf"]),
    ("--steps", ["0", "-5", "abc", "np.int64(5)", "2.5"]),
    ("--checkpoint-every", ["0", "x"]),
    ("--rule", ["nope", "EP"]),
    ("--compare", ["HEL,nope", "HEL,hel", "HEL,,BPTT"]),
]
TRAIN = (
    [(["train", H, "--data", "{tmp}/d.npz", "--out-dir", "{tmp}/runs", flag, value], flag)
     for flag, values in TRAIN_FLAGS for value in values]
    + [
        (["train", H, "--data", "{tmp}/d.npz", "--steps", "1e9"], "--steps"),
        (["train", H, "--data", "{tmp}/d.npz", "--steps", "999999999"], "--force"),
        (["train", H, "--data", "{tmp}/d.npz", "--out-dir", "{tmp}/file.txt"], "--out-dir"),
        (["train", H, "--data", "{tmp}/d.npz", "--init", "{tmp}/none.json"], "--init"),
        (["train", H, "--data", "{tmp}/missing.npz", "--out-dir", "{tmp}/runs"], "--data"),
        (["train", H], "--data"),
        (["train", "--data", "{tmp}/d.npz"], "FILE"),
        (["train", "--resume", "{tmp}/nowhere"], "--resume"),
        (["train", "--resume", "{tmp}"], "--resume"),
        (["train", "{tmp}/missing.py", "--data", "{tmp}/d.npz"], "missing.py"),
        (["train", E, "--data", "{tmp}/d.npz", "--out-dir", "{tmp}/runs"], "--data"),
        (["train", R, "--data", "{tmp}/d.npz", "--out-dir", "{tmp}/runs"], "recurrent unit"),
        (["train", C, "--data", "{tmp}/d.npz", "--out-dir", "{tmp}/runs"], "--data"),
    ]
)

EMIT = [
    (["emit", H, "--target", "julia", "--out", "{tmp}/gen"], "--target"),
    (["emit", H, "--out", "{tmp}/file.txt"], "--out"),
    (["emit", "--check", "--out", "{tmp}/file.txt"], "--out"),
    (["emit", "--check", "--out", "{tmp}/nowhere"], "--out"),
    (["emit", "--out", "{tmp}/gen"], "system files"),
    (["emit", "{tmp}/missing.py", "--out", "{tmp}/gen"], "missing.py"),
    (["emit", H, "--out", "{tmp}/gen", "--set", "n=4"], "n"),
    (["emit", "--check", "{tmp}/missing.py", "--out", "{tmp}"], "missing.py"),
]

DERIVE_RULES = [
    ([command, "{base}", "--set", s], name)
    for command in ("derive", "rules")
    for s, name in [("n", "--set"), ("=4", "--set"), ("1n=4", "--set"), ("nope=3", "nope"),
                    ("n=1+x", "literal"), ("n=__import__('os')", "literal"),
                    ("n=1e400", "finite"), ("n=nan", "finite"), ("n=-inf", "finite"),
                    ("M=abc", "number"), ("n=(1, 2)", "n=")]
] + [
    (["derive"], "file"),
    (["rules", H, "--json", "--latex", "--bogus"], "--bogus"),
    (["frobnicate", H], "frobnicate"),
]

CASES = CHECK + DATA + TRAIN + EMIT + DERIVE_RULES


def _ids(cases):
    return [" ".join(str(a).replace(str(SYSTEMS) + "/", "") for a in argv)[:80] or "-"
            for argv, _ in cases]


@pytest.mark.parametrize(("argv", "name"), CASES, ids=_ids(CASES))
def test_bad_flag(glep_cli, tmp_path, argv, name):
    (tmp_path / "file.txt").write_text("not a folder\n")
    (tmp_path / "base.py").write_text(system_text())
    argv = [str(a).replace("{tmp}", str(tmp_path)).replace("{base}", str(tmp_path / "base.py"))
            for a in argv]
    assert_bad(glep_cli(*argv), name)


@pytest.mark.parametrize("rule", ["hel", "Hel", "hEL"])
def test_rule_names_are_case_insensitive(glep_cli, rule):
    """``--rule hel`` runs HEL (the check itself is cheap at 40 steps)."""
    result = glep_cli("check", H, "--rule", rule, "--steps", "40", "--json", "--no-diffrax")
    assert result.code in (0, 1), result
    assert '"HEL"' in result.out


def test_check_shows_progress_per_rule(glep_cli):
    result = glep_cli("check", H, "--rule", "CIVP", "--steps", "40", "--no-diffrax")
    assert result.code in (0, 1), result
    assert "[1/1] CIVP" in result.err
