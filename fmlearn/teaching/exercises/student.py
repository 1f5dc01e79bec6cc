"""The student version of a notebook: every solution block replaced by ``raise NotImplementedError``."""
from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["student_source", "student_notebook"]

_SOLUTION = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?P<id>[^\n]*)\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)",
                       re.S | re.M)


def student_source(source: str, default_id: str = "") -> str:
    """Replace every solution block in a cell's source by ``raise NotImplementedError("Exercise N.M")``."""
    def stub(m: re.Match) -> str:
        ex = m.group("id").strip() or default_id
        return f'{m.group("indent")}raise NotImplementedError("Exercise {ex}")  # your code here\n'
    return _SOLUTION.sub(stub, source)


def student_notebook(path: str | Path, out: str | Path) -> int:
    """Write the student version of notebook ``path`` to ``out``; returns the number of exercises stubbed.

    Outputs are cleared too. Unbalanced markers raise a ValueError naming the cell.
    """
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    count = 0
    for i, cell in enumerate(nb.get("cells", [])):
        src = "".join(cell.get("source", []))
        begins, ends = src.count("### BEGIN SOLUTION"), src.count("### END SOLUTION")
        if begins != ends:
            raise ValueError(f"{path}: cell {i} has {begins} BEGIN SOLUTION and {ends} END SOLUTION markers.")
        if begins and cell.get("cell_type") == "code":
            new = student_source(src)
            count += begins
            cell["source"] = new.splitlines(keepends=True)
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return count
