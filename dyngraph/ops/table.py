"""Render the op table as Markdown: `python -m dyngraph.ops.table` (for docs/architecture.md)."""

from __future__ import annotations

import dyngraph  # noqa: F401 - registers every op module
import dyngraph.nn  # noqa: F401 - registers the composites defined in nn
from dyngraph.ops.registry import COMPOSITES, OPS, OpKind


def render() -> str:
    """The primitives grouped by kind, with dtype rule, saved values and gradient status."""
    lines = ["| op | kind | dtype rule | saves | gradient |", "| --- | --- | --- | --- | --- |"]
    order = list(OpKind)
    for op in sorted(OPS.values(), key=lambda o: (order.index(o.kind), o.name)):
        saves = []
        if op.save_inputs is not None:
            saves.append("inputs" if op.save_inputs == 0 else f"inputs[{op.save_inputs}:]")
        if op.save_output:
            saves.append("output")
        grad = "rule" if op.grad is not None else f"none: {op.nondiff_reason}"
        view = " (view)" if op.is_view else ""
        lines.append(f"| `{op.name}` | {op.kind.value}{view} | {op.dtype_rule} | "
                     f"{', '.join(saves) or '-'} | {grad} |")
    lines += ["", "Composite ops (plain functions over primitives):", "",
              "| composite | decomposes into |", "| --- | --- |"]
    for name in sorted(COMPOSITES):
        lines.append(f"| `{name}` | {COMPOSITES[name]} |")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- op-table:begin -->", "<!-- op-table:end -->"


def update_doc(path: str) -> bool:
    """Rewrite the table between the markers in `path`; True if the file changed."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{render()}{END}{tail}"
    if new != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
    return new != text


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        print("updated" if update_doc(sys.argv[2]) else "up to date")
    else:
        print(render(), end="")
