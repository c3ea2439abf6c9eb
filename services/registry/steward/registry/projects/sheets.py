"""Reading an uploaded spreadsheet: .xlsx (first worksheet) or .csv (UTF-8 with or without BOM,
GB18030 as Excel saves CSV on Chinese Windows), as rows of cells with the sheet's row numbers.

The .xlsx reader scans the worksheet XML itself instead of going through openpyxl's cell objects
(several times faster on a 10,000-row sheet), and keeps numbers as the decimal text the
file stores: money is never a float on its way in. Cells whose style is a date format come back as
``date``/``datetime`` (Excel serial days, as openpyxl converts them). Limits guard the
decompressed size (zip bombs) and the number of rows read.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.parsers import expat

# lxml and openpyxl are imported where a workbook is read: ~20 MB of every replica's memory otherwise
from steward.kit.errors import ValidationFailed

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
MAX_UNZIPPED = 100 * 1024 * 1024  # all parts of one .xlsx, decompressed
_N = f"{{{MAIN}}}"
_REF = re.compile(r"([A-Z]+)(\d+)")

Cell = str | date | datetime | bool | None


class UnreadableFile(ValidationFailed):
    code = "unreadable_file"


class SheetTooLarge(ValidationFailed):
    status_code = 413
    code = "payload_too_large"


@dataclass
class Row:
    number: int  # as the sheet shows it (1 = first row)
    cells: list[Cell]


def read_rows(data: bytes, filename: str, *, max_rows: int) -> Iterator[Row]:
    """Rows of the upload, by its content (a zip is .xlsx; OLE is the old .xls, refused)."""
    if data[:4] == b"PK\x03\x04":
        return _xlsx_rows(data, max_rows=max_rows)
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise UnreadableFile("the old .xls format is not read: save the sheet as .xlsx or .csv")
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise UnreadableFile("the file is not a valid .xlsx workbook")
    return _csv_rows(data, max_rows=max_rows)


def _csv_rows(data: bytes, *, max_rows: int) -> Iterator[Row]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise UnreadableFile("the CSV file is neither UTF-8 nor GB18030 text") from exc
    if "\x00" in text:
        raise UnreadableFile("the CSV file holds NUL characters (is it a binary file?)")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for number, cells in enumerate(reader, start=1):
            if number > max_rows:
                raise SheetTooLarge(f"the sheet has more than {max_rows} rows", code="too_many_rows")
            yield Row(number, list(cells))
    except csv.Error as exc:
        raise UnreadableFile(f"the CSV file cannot be read: {exc}") from exc


def _column(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def _text(el: Any) -> str:
    """The text of a shared or inline string: every ``t`` below it (rich-text runs joined; phonetic
    ``rPh`` runs left out)."""
    return "".join(t.text or "" for t in el.iter(f"{_N}t") if t.getparent().tag != f"{_N}rPh")


def _parse(zf: zipfile.ZipFile, name: str) -> Any:
    from lxml import etree

    with zf.open(name) as fh:
        return etree.parse(fh, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))


def _first_sheet(zf: zipfile.ZipFile) -> str:
    names = set(zf.namelist())
    if "xl/workbook.xml" not in names:
        raise UnreadableFile("the file is not a valid .xlsx workbook (no xl/workbook.xml)")
    book = _parse(zf, "xl/workbook.xml")
    sheet = book.find(f"{_N}sheets/{_N}sheet")
    if sheet is None:
        raise UnreadableFile("the workbook has no worksheet")
    rid = sheet.get(f"{{{REL}}}id")
    if "xl/_rels/workbook.xml.rels" in names and rid:
        for rel in _parse(zf, "xl/_rels/workbook.xml.rels").getroot():
            if rel.get("Id") == rid:
                target = rel.get("Target", "")
                path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
                if path in names:
                    return path
    if "xl/worksheets/sheet1.xml" in names:
        return "xl/worksheets/sheet1.xml"
    raise UnreadableFile("the workbook's first worksheet cannot be found")


def _date_styles(zf: zipfile.ZipFile) -> set[int]:
    """Indexes of cell styles (``s``) whose number format shows a date."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

    if "xl/styles.xml" not in zf.namelist():
        return set()
    root = _parse(zf, "xl/styles.xml").getroot()
    custom = {int(f.get("numFmtId", "0")): f.get("formatCode", "") for f in root.iter(f"{_N}numFmt")}
    xfs = root.find(f"{_N}cellXfs")
    out: set[int] = set()
    for i, xf in enumerate(xfs if xfs is not None else []):
        fid = int(xf.get("numFmtId", "0"))
        fmt = custom.get(fid) or BUILTIN_FORMATS.get(fid, "")
        if fmt and is_date_format(fmt):
            out.add(i)
    return out


def _xlsx_rows(data: bytes, *, max_rows: int) -> Iterator[Row]:
    from lxml import etree

    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        if sum(i.file_size for i in zf.infolist()) > MAX_UNZIPPED:
            raise SheetTooLarge(
                f"the workbook unpacks to more than {MAX_UNZIPPED // (1024 * 1024)} MiB",
                code="too_large_unpacked",
            )
        sheet = _first_sheet(zf)
        shared = (
            [_text(si) for si in _parse(zf, "xl/sharedStrings.xml").getroot().iter(f"{_N}si")]
            if "xl/sharedStrings.xml" in zf.namelist()
            else []
        )
        dates = _date_styles(zf)
    except (zipfile.BadZipFile, etree.XMLSyntaxError, KeyError, ValueError) as exc:
        raise UnreadableFile(f"the file is not a valid .xlsx workbook: {exc}") from exc
    return _sheet_rows(zf, sheet, shared, dates, max_rows=max_rows)


# The worksheet XML is scanned with regular expressions rather than walked as a tree of cell
# objects (several times faster on a 10,000-row sheet), after an expat check (in C, no tree) that it
# is well formed: then every row and cell matched is closed, and the scan stays linear whatever the
# file holds. The parts are regular (rows of cells, each an optional <v> value or an inline string);
# a prefix on the elements (<x:row>) is allowed.
MAX_SHEET_XML = 64 * 1024 * 1024  # the worksheet part, decompressed
_ROW_RE = re.compile(r"<(?:\w+:)?row\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?row>)", re.S)
_CELL_RE = re.compile(r"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_ATTR_RE = re.compile(r'\b(r|t|s)="([^"]*)"')
_V_RE = re.compile(r"<(?:\w+:)?v(?:\s[^>]*)?>([^<]*)</(?:\w+:)?v>")
_T_RE = re.compile(r"<(?:\w+:)?t(?:\s[^>]*)?>([^<]*)</(?:\w+:)?t>")
_RPH_RE = re.compile(r"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)
_ROW_NUMBER_RE = re.compile(r'\br="(\d+)"')
_NAMED = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&"))
_COLUMNS: dict[str, int] = {}


def _named(text: str) -> str:
    if "&" in text:
        for entity, char in _NAMED:
            text = text.replace(entity, char)
    return text


def _unescape(text: str) -> str:
    """XML's character references and five entities (writers such as openpyxl escape every
    non-ASCII character: a split per reference is much cheaper than a regex callback). Entities are
    replaced in the literal parts only, never in what a reference stood for (``&#38;lt;`` is
    ``&lt;``)."""
    if "&#" not in text:
        return _named(text)
    head, *refs = text.split("&#")
    out = [_named(head)]
    for ref in refs:
        number, sep, rest = ref.partition(";")
        try:
            code = int(number[1:], 16) if number[:1] in ("x", "X") else int(number)
        except ValueError:
            code = -1
        if sep and 0 < code <= 0x10FFFF:
            out.append(chr(code))
            out.append(_named(rest))
        else:  # not a reference (expat refuses these before): kept as written
            out.append("&#" + _named(ref))
    return "".join(out)


def _sheet_rows(
    zf: zipfile.ZipFile, sheet: str, shared: list[str], dates: set[int], *, max_rows: int
) -> Iterator[Row]:
    try:
        if zf.getinfo(sheet).file_size > MAX_SHEET_XML:
            raise SheetTooLarge(
                f"the worksheet unpacks to more than {MAX_SHEET_XML // (1024 * 1024)} MiB",
                code="too_large_unpacked",
            )
        raw = zf.read(sheet)
        expat.ParserCreate().Parse(raw, True)
        xml = raw.decode("utf-8")
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, expat.ExpatError) as exc:
        raise UnreadableFile(f"the worksheet cannot be read: {exc}") from exc
    body = xml.find("sheetData")
    last = 0
    for row in _ROW_RE.finditer(xml, body if body >= 0 else 0):
        m = _ROW_NUMBER_RE.search(row.group(1))
        number = int(m.group(1)) if m else last + 1
        last = number
        if number > max_rows:
            raise SheetTooLarge(f"the sheet has more than {max_rows} rows", code="too_many_rows")
        out: list[Cell] = []
        for attrs_text, inner in _CELL_RE.findall(row.group(2) or ""):
            attrs = dict(_ATTR_RE.findall(attrs_text))
            ref = attrs.get("r", "")
            if ref:
                letters = ref.rstrip("0123456789")
                idx = _COLUMNS.get(letters)
                if idx is None:
                    if _REF.fullmatch(ref):
                        idx = _COLUMNS[letters] = _column(letters)
                    else:
                        idx = len(out)
                if idx > len(out):
                    out.extend([None] * (idx - len(out)))
            kind = attrs.get("t", "n")
            if kind == "inlineStr":
                if "rPh" in inner:
                    inner = _RPH_RE.sub("", inner)
                out.append(_unescape("".join(_T_RE.findall(inner))))
                continue
            v = _V_RE.search(inner)
            out.append(
                None
                if v is None
                else _value(ref, kind, attrs.get("s", ""), _unescape(v.group(1)), shared, dates)
            )
        yield Row(number, out)


def _value(ref: str, kind: str, style: str, text: str, shared: list[str], dates: set[int]) -> Cell:
    if kind in ("inlineStr", "str", "e"):
        return text
    if kind == "s":
        try:
            return shared[int(text)]
        except (ValueError, IndexError) as exc:
            raise UnreadableFile(f"cell {ref} names a missing shared string") from exc
    if kind == "b":
        return text.strip() == "1"
    if kind == "d":
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return text
    if style.isdigit() and int(style) in dates:
        from openpyxl.utils.datetime import from_excel

        try:
            when = from_excel(float(text))
        except (ValueError, OverflowError):
            return text
        return when.date() if isinstance(when, datetime) and when.time() == datetime.min.time() else when
    return text  # a number as the file stores it: decimal text, never a float
