"""The runner: the stage graph, cache keys with per-stage code versions, the manifest and the execution."""
