"""Where a universe's bars come from: one or more sources of files, each with its own layout,
time zone and trading calendar, declared in a YAML sources file.

```yaml
sources:
  indices:                      # the source's name, used in messages
    path: data/yahoo            # directory; relative to the sources file
    symbols: {SP500: "^GSPC"}   # our symbol: the files' name (a list when they are equal)
    calendar: XNYS
    timezone: America/New_York
  fx:
    path: data/fx               # no `symbols`: every file in the directory, by its stem
    timestamp_format: "%m/%d/%Y %H:%M"
    calendar: 24/5
    row_order: newest_first
    columns: {close: "Adj Close"}
```

The settings of one source (see `SourceSpec`) are the file layout's (`bar_files`). The
environment variables `TRADE2026_BARS_*` describe a single implicit source that serves any
symbol of the universe (`Sources.single`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trade2026_assets.bar_files import (
    SYMBOL_PATTERN,
    BarFileLayout,
    BarsFileError,
    FileFormat,
    RowOrder,
    bar_files,
    check_timezone,
    load_bar_files,
    safe_symbol,
)
from trade2026_assets.bars import BARS_SCHEMA
from trade2026_assets.calendars import ALWAYS_OPEN, BarCalendar, calendar_name


class SourcesError(BarsFileError):
    """A sources file (or a source's directory) is unusable; one line naming the file, the
    source, the field and the problem."""

    def __init__(self, *, file: str, problem: str) -> None:
        super().__init__(file=file, row=None, problem=problem)


def symbol_problem(symbol: str) -> str:
    """Why `symbol` cannot be one of ours, or "" when it can."""
    if SYMBOL_PATTERN.fullmatch(symbol):
        return ""
    hint = safe_symbol(symbol)
    rename = (
        f"call it {hint!r} and map it to its files' name in a sources file "
        f"(symbols: {{{hint}: {symbol!r}}})"
        if hint
        else "choose a name of those characters and map it in a sources file"
    )
    return f"{symbol!r} is not a usable symbol (A-Z, 0-9, '.', '-', '_'; at most 32): {rename}"


class ColumnNames(BaseModel):
    """The files' column names for our fields; a field left out is matched by its usual
    names (case-insensitive: Date/Datetime/timestamp, Open … Volume)."""

    model_config = ConfigDict(extra="forbid")

    symbol: str | None = None
    timestamp: str | None = None
    open: str | None = None
    high: str | None = None
    low: str | None = None
    close: str | None = Field(default=None, description="e.g. 'Adj Close' to use it")
    volume: str | None = None

    def given(self) -> dict[str, str]:
        return {name: value for name, value in self.model_dump().items() if value}


class SourceSpec(BaseModel):
    """One source as the sources file declares it."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    symbols: list[str] | dict[str, str] | None = None
    format: FileFormat = "auto"
    columns: ColumnNames = ColumnNames()
    timestamp_format: str | None = None
    timezone: str = "UTC"
    calendar: str = ALWAYS_OPEN
    row_order: RowOrder = "oldest_first"

    @field_validator("symbols")
    @classmethod
    def _usable_symbols(
        cls, value: list[str] | dict[str, str] | None
    ) -> list[str] | dict[str, str] | None:
        for symbol in value or []:
            problem = symbol_problem(symbol)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        check_timezone(value, "timezone")
        return value

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, value: str) -> str:
        return calendar_name(value)


class SourcesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: dict[str, SourceSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Source:
    """A source ready to read: `names` maps each of its symbols to the files' name for it;
    None serves any symbol under its own name (the implicit source of the environment)."""

    name: str
    directory: Path
    layout: BarFileLayout
    calendar: BarCalendar
    names: Mapping[str, str] | None

    def load(self, symbols: Sequence[str]) -> pl.DataFrame:
        return load_bar_files(self.directory, symbols, self.layout, names=self.names)


@dataclass(frozen=True)
class Sources:
    """The sources of a universe, and which symbol each serves."""

    sources: tuple[Source, ...]
    origin: str

    @staticmethod
    def single(
        path: str,
        *,
        file_format: FileFormat = "auto",
        columns: Mapping[str, str] | None = None,
        timestamp_format: str | None = None,
        timezone: str = "UTC",
        calendar: str = ALWAYS_OPEN,
        row_order: RowOrder = "oldest_first",
    ) -> Sources:
        """The implicit source the TRADE2026_BARS_* variables describe."""
        origin = "TRADE2026_BARS_PATH"
        if not path:
            raise SourcesError(file=origin, problem="source 'files' needs a directory: set it")
        try:
            layout = BarFileLayout(
                file_format=file_format,
                columns={k: v for k, v in (columns or {}).items() if v},
                timestamp_format=timestamp_format or None,
                timezone=timezone,
                row_order=row_order,
                setting=_environment_setting,
            )
        except ValueError as err:
            raise SourcesError(file=path, problem=str(err)) from None
        try:
            where = BarCalendar(calendar_name(calendar), timezone)
        except ValueError as err:
            raise SourcesError(file=path, problem=f"TRADE2026_BARS_CALENDAR: {err}") from None
        return Sources((Source("files", Path(path), layout, where, None),), origin)

    @staticmethod
    def from_file(file: str | Path) -> Sources:
        """The sources a YAML sources file declares; SourcesError (one line) when it is
        unreadable or invalid, or a source's directory cannot be listed."""
        file = Path(file)
        try:
            document: Any = yaml.safe_load(file.read_text())
        except OSError as err:
            raise SourcesError(file=str(file), problem=f"cannot be read: {err.strerror}") from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or type(err).__name__
            raise SourcesError(
                file=str(file), problem=f"is not valid YAML{at}: {problem}"
            ) from None
        try:
            spec = SourcesSpec.model_validate(document)
        except ValidationError as err:
            raise SourcesError(file=str(file), problem=_one_line(err)) from None
        base = file.resolve().parent
        return Sources(
            tuple(_resolved(name, source, base, file) for name, source in spec.sources.items()),
            str(file),
        )

    def symbols(self) -> list[str]:
        """Every symbol the sources name or hold files for, in declaration order."""
        owner: dict[str, str] = {}
        for source in self.sources:
            for symbol in source.names or {}:
                if symbol in owner:
                    raise SourcesError(
                        file=self.origin,
                        problem=f"symbol {symbol!r} is in source {owner[symbol]!r} and in "
                        f"source {source.name!r}: keep it in one",
                    )
                owner[symbol] = source.name
        return list(owner)

    def source_of(self, symbol: str) -> Source:
        for source in self.sources:
            if source.names is None or symbol in source.names:
                return source
        raise SourcesError(
            file=self.origin,
            problem=f"no source has symbol {symbol!r} (symbols: {', '.join(self.symbols())})",
        )

    def calendars(self, symbols: Sequence[str]) -> dict[str, BarCalendar]:
        return {symbol: self.source_of(symbol).calendar for symbol in symbols}

    def load(self, symbols: Sequence[str]) -> pl.DataFrame:
        """Bars of `symbols` (BARS_SCHEMA, sorted by symbol then seq), each from its source."""
        wanted = list(dict.fromkeys(symbols))
        by_source: dict[str, list[str]] = {}
        for symbol in wanted:
            by_source.setdefault(self.source_of(symbol).name, []).append(symbol)
        frames = [
            source.load(by_source[source.name])
            for source in self.sources
            if source.name in by_source
        ]
        if not frames:
            return pl.DataFrame(schema=BARS_SCHEMA)
        return pl.concat(frames).sort(["symbol", "seq"], maintain_order=True)


def _environment_setting(field: str) -> str:
    if field.startswith("columns."):
        return f"TRADE2026_BARS_{field.removeprefix('columns.').upper()}_COLUMN"
    return {"file_format": "TRADE2026_BARS_FORMAT"}.get(field, f"TRADE2026_BARS_{field.upper()}")


def _resolved(name: str, spec: SourceSpec, base: Path, file: Path) -> Source:
    def setting(field: str) -> str:
        return f"{field.replace('file_format', 'format')} of source {name!r} in {file}"

    directory = spec.path if spec.path.is_absolute() else base / spec.path
    layout = BarFileLayout(
        file_format=spec.format,
        columns=spec.columns.given(),
        timestamp_format=spec.timestamp_format,
        timezone=spec.timezone,
        row_order=spec.row_order,
        setting=setting,
    )
    if isinstance(spec.symbols, dict):
        names: dict[str, str] = dict(spec.symbols)
    elif spec.symbols is not None:
        names = {symbol: symbol for symbol in spec.symbols}
    else:
        names = _discovered(name, directory, spec.format, file)
    return Source(name, directory, layout, BarCalendar(spec.calendar, spec.timezone), names)


def _discovered(name: str, directory: Path, file_format: FileFormat, file: Path) -> dict[str, str]:
    """One symbol per file of the directory: its stem, upper-cased, a leading '^' dropped."""
    where = f"source {name!r}, path {str(directory)!r}"
    if not directory.is_dir():
        raise SourcesError(file=str(file), problem=f"{where}: is not a directory")
    names: dict[str, str] = {}
    for path in bar_files(directory, file_format):
        symbol = safe_symbol(path.stem)
        if symbol is None:
            raise SourcesError(
                file=str(file),
                problem=f"{where}: file {path.name!r} gives no usable symbol; list the "
                f"source's symbols (symbols: {{NAME: {path.stem!r}}})",
            )
        if names.get(symbol, path.stem) != path.stem:
            raise SourcesError(
                file=str(file),
                problem=f"{where}: files {names[symbol]!r} and {path.stem!r} are both symbol "
                f"{symbol!r}; list the source's symbols",
            )
        names[symbol] = path.stem
    if not names:
        raise SourcesError(file=str(file), problem=f"{where}: holds no bars files")
    return names


def _one_line(err: ValidationError) -> str:
    """The first validation error as 'source NAME, field F: problem'."""
    first = err.errors()[0]
    loc = [str(part) for part in first["loc"]]
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    if first["type"] == "missing":
        message = "is required"
    if loc[:1] == ["sources"] and len(loc) >= 2:
        field_name = ".".join(loc[2:]) or "(the source)"
        where = f"source {loc[1]!r}, field {field_name!r}"
    else:
        where = f"field {'.'.join(loc) or '(top level)'!r}"
        if not loc:
            message = f"{message} (expected a mapping with `sources:`)"
    more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
    return f"{where}: {message}{more}"
