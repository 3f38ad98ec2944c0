"""The website chat widget (`src/`, bundled by `build.mjs`) and the demo page that shows it."""
