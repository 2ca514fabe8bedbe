"""The stages of the flow as plain functions with typed arguments that return result objects: what
``edgenas.api`` exports, what the CLI formats and what the pipeline calls. Heavy imports are lazy;
the board-side stages (profile_bundle, check, build, doctor, validate) never import torch."""
