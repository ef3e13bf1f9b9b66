"""Where a record keeps its id and its features: one column per feature, or one array column.

Tabular exports have a column per feature; embeddings and feature vectors usually come as
one list (``{"id": 7, "features": [0.1, ...]}``, a Parquet list or fixed-size list). Both
layouts give the model the same float32 matrix, in the manifest's feature order.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Columns:
    id_column: str
    features: tuple[str, ...]  # the model's features, in order
    array: str | None = None  # the column holding every feature as a list, if any

    @property
    def width(self) -> int:
        return len(self.features)

    def names(self) -> list[str]:
        """The input columns a reader must return, the id first."""
        if self.array is not None:
            return [self.id_column, self.array]
        return [self.id_column, *self.features]

    def schema(self, id_type: str) -> pa.Schema:
        """The Arrow types a line parser produces (numbers as float64, arrays as lists)."""
        fields = [pa.field(self.id_column, pa.type_for_alias(id_type))]
        if self.array is not None:
            fields.append(pa.field(self.array, pa.list_(pa.float64())))
        else:
            fields += [pa.field(name, pa.float64()) for name in self.features]
        return pa.schema(fields)

    def bytes_per_row(self) -> int:
        """Decoded size of one row: sizes Parquet batches to the block budget."""
        return 8 * (1 + self.width)


def is_list(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    )
