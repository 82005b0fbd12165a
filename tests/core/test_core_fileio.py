"""vsrkit.fileio: every atomic write of the project (files by content or by name, finished folders swapped in)."""
import os
import re
from pathlib import Path

import numpy as np
import pytest

from vsrkit import fileio
from vsrkit.fileio import atomic_path, replace_dir, temp_path, write_json_atomic, write_text_atomic

REPO = Path(__file__).resolve().parents[2]


def test_temp_path_is_hidden_next_to_the_target_and_can_keep_the_extension(tmp_path):
    pid = os.getpid()
    assert temp_path(tmp_path / "a" / "x.png") == str(tmp_path / "a" / f".x.png.tmp-{pid}")
    assert temp_path(tmp_path / "x.png", keep_ext=True) == str(tmp_path / f".x.tmp-{pid}.png")


def test_atomic_path_renames_on_success_and_creates_the_folder(tmp_path):
    target = tmp_path / "sub" / "frame.png"
    with atomic_path(target, keep_ext=True) as tmp:
        assert tmp.endswith(".png") and not target.exists()
        import cv2

        assert cv2.imwrite(tmp, np.full((4, 6, 3), 7, np.uint8))  # a writer that needs a name with an extension
    assert target.is_file() and os.listdir(target.parent) == ["frame.png"]


def test_atomic_path_keeps_the_old_file_and_removes_the_temporary_one_on_failure(tmp_path):
    target = tmp_path / "motion.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, a=np.arange(3))
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["motion.npz"]


def test_atomic_path_takes_a_folder_and_removes_a_half_written_one(tmp_path):
    with atomic_path(tmp_path / "db.lmdb") as tmp:
        os.makedirs(tmp)
        Path(tmp, "data.mdb").write_bytes(b"x")
    assert (tmp_path / "db.lmdb" / "data.mdb").read_bytes() == b"x"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "other.lmdb") as tmp:
            os.makedirs(tmp)
            Path(tmp, "data.mdb").write_bytes(b"x")
            raise KeyboardInterrupt
    assert sorted(os.listdir(tmp_path)) == ["db.lmdb"]


def test_write_text_and_json_atomic(tmp_path):
    write_text_atomic(tmp_path / "a" / "t.txt", "é\n")
    assert (tmp_path / "a" / "t.txt").read_bytes() == "é\n".encode()
    write_json_atomic(tmp_path / "j.json", {"b": 1, "a": Path("p")})
    assert (tmp_path / "j.json").read_text() == '{\n  "a": "p",\n  "b": 1\n}\n'
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]


def test_replace_dir_swaps_a_folder_in_and_drops_the_old_one(tmp_path):
    new, out = tmp_path / "out.tmp-1", tmp_path / "out"
    new.mkdir()
    (new / "f").write_text("new")
    replace_dir(new, out)  # no old output
    assert (out / "f").read_text() == "new" and not new.exists()
    new.mkdir()
    (new / "g").write_text("newer")
    replace_dir(new, out)
    assert os.listdir(out) == ["g"] and sorted(os.listdir(tmp_path)) == ["out"]


def test_replace_dir_puts_the_old_folder_back_when_the_rename_fails(tmp_path, monkeypatch):
    new, out = tmp_path / "new", tmp_path / "out"
    new.mkdir()
    out.mkdir()
    (out / "old.txt").write_text("previous")
    real = os.replace

    def failing(a, b):
        if os.fspath(a) == str(new):
            raise OSError(13, "Permission denied")
        return real(a, b)

    monkeypatch.setattr(fileio.os, "replace", failing)
    with pytest.raises(OSError, match="Permission denied"):
        replace_dir(new, out)
    assert (out / "old.txt").read_text() == "previous" and sorted(os.listdir(tmp_path)) == ["new", "out"]


def test_replace_dir_without_replace_leaves_a_finished_folder_alone(tmp_path):
    new, out = tmp_path / "new", tmp_path / "out"
    new.mkdir()
    (new / "f").write_text("mine")
    out.mkdir()
    (out / "f").write_text("theirs")  # another process finished first
    with pytest.raises(OSError):
        replace_dir(new, out, replace=False)
    assert (out / "f").read_text() == "theirs" and (new / "f").read_text() == "mine"
    (out / "f").unlink()  # an empty folder is taken over, as by rename(2)
    replace_dir(new, out, replace=False)
    assert (out / "f").read_text() == "mine" and not new.exists()



def test_no_hand_written_temp_then_rename_outside_fileio():
    """Every atomic write goes through vsrkit.fileio: no other module renames a temporary file into place."""
    pattern = re.compile(r"\bos\.(replace|rename)\(")
    found = []
    for folder in ("vsrkit", "scripts", "degradation"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path == REPO / "vsrkit" / "fileio.py":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line) and not line.lstrip().startswith("#"):
                    found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not found, ("write through vsrkit.fileio (write_bytes_atomic / write_text_atomic / write_json_atomic, "
                       "atomic_path for writers that need a file name, replace_dir for finished folders, "
                       "replace_dir(..., replace=False) where a folder another process finished must be kept):\n"
                       + "\n".join(found))


def test_publish_dir_moves_keeps_the_same_build_and_replaces_another(tmp_path):
    from vsrkit.fileio import publish_dir

    def build(name, text):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "manifest.json").write_text(text)
        return folder

    dst = tmp_path / "data"
    publish_dir(build("a", "one"), dst, lambda: False)
    assert (dst / "manifest.json").read_text() == "one" and not (tmp_path / "a").exists()
    same = build("b", "one again")  # another process built the same thing: the published folder stays
    publish_dir(same, dst, lambda: (dst / "manifest.json").read_text().startswith("one"))
    assert (dst / "manifest.json").read_text() == "one" and same.exists()
    publish_dir(build("c", "two"), dst, lambda: (dst / "manifest.json").read_text() == "two")  # other settings
    assert (dst / "manifest.json").read_text() == "two" and not (tmp_path / "c").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "data"]
