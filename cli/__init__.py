"""The `cnngrade` command line: parses options, calls `autograder`, renders with rich."""
