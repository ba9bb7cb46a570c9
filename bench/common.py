"""What the benchmarks share: a plain text table. (Their database server and throwaway
databases come from tests/support/postgres.py, as the tests' do.)"""

from __future__ import annotations


def text_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    aligned = ["<"] + [">"] * (len(header) - 1)

    def line(cells: list[str]) -> str:
        return "  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(cells, aligned, widths, strict=True)).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])
