"""The `cnngrade` command line (installed as `cnngrade.cli`): parses options, calls the engine's
public API (`cnngrade`, the folder `autograder/`), renders with rich."""
