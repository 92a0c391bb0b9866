"""Tasks: datasets, prompts and the expected output of each benchmark."""
