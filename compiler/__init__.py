"""dyngraph's compiler: IR, tracing, graph passes and code generation (see docs/architecture.md).

Pure: turns programs into IR and IR into LLVM IR or CUDA C text; it never JITs or runs kernels
(that is `runtime`).
"""
