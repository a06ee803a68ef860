"""Per-module counts of `mutmut results --all true` (read on stdin) as a Markdown table, for BENCHMARKS.md."""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

COLUMNS = ("killed", "survived", "timeout", "not checked")


def table(lines: list[str]) -> str:
    """One row per module: mutmut names a mutant ``module.x_function__mutmut_N`` or ``module.xǁClassǁmethod__...``."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in lines:
        name, _, status = line.strip().rpartition(": ")
        if name:
            counts[re.sub(r"\.x[_ǁ].*$", "", name)][status] += 1
    rows = ["| module | mutants | " + " | ".join(COLUMNS) + " | other |", "|---" * (len(COLUMNS) + 3) + "|"]
    for module, c in sorted(counts.items()):
        total = sum(c.values())
        cells = [str(c[k]) for k in COLUMNS] + [str(total - sum(c[k] for k in COLUMNS))]
        rows.append(f"| {module} | {total} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(sys.stdin.readlines()))
