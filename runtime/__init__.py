"""dyngraph's runtime: JIT and kernel loading, buffers, execution and graph-file loading."""
