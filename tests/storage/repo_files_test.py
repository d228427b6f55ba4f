"""getFileStats' pattern matching (vdsm/storage/repo_files.py), pure."""

from vdsm.storage.repo_files import match

NAMES = ["b.ISO", "a.iso", "f.vfd", "notes.txt"]


def test_star_matches_everything_sorted():
    assert match(NAMES, "*", case_sensitive=True) == sorted(NAMES)


def test_case_insensitive_by_default_as_classic():
    assert match(NAMES, "*.iso", case_sensitive=False) == ["a.iso", "b.ISO"]
    assert match(NAMES, "*.iso", case_sensitive=True) == ["a.iso"]
    assert match(NAMES, "?.vfd", case_sensitive=True) == ["f.vfd"]
