"""Tables: a DataTable listing Enter as "Open", row keys by position, cells cut with ``…``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.console import JustifyMethod
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable


def row_key(table: DataTable[Any], row: int) -> str:
    """The key of the row at index ``row`` (as shown, after sorting)."""
    return str(table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)


def cursor_row_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor; None when the table is empty."""
    if not table.row_count:
        return None
    return row_key(table, min(table.cursor_row, table.row_count - 1))


class OpenTable(DataTable[Any]):
    """Row cursor, zebra stripes, ``enter Open`` in the footer; Home/End: first/last row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", show=True),
        Binding("end", "scroll_bottom", "Last row", show=False),
        Binding("home", "scroll_top", "First row", show=False),
    ]

    def __init__(self, *, id: str, zebra_stripes: bool = True) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=zebra_stripes)


def fit(value: str | Text, style: str = "", *, justify: JustifyMethod | None = None) -> Text:
    """A one-line cell cut with ``…`` when its column is too narrow (never markup-parsed)."""
    text = value.copy() if isinstance(value, Text) else Text(str(value), style=style)
    text.no_wrap, text.overflow, text.end = True, "ellipsis", ""
    if justify is not None:
        text.justify = justify
    return text


def flex_width(available: int, fixed: Sequence[int], minimum: int) -> int:
    """The width left for a flexible column next to ``fixed`` ones (cell padding counted)."""
    used = sum(fixed) + 2 * (len(fixed) + 1)
    return max(minimum, available - used)
