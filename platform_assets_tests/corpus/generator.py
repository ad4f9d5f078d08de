"""The defect corpus of issue 12: a dirty CSV drop with ground truth for every record.

A drop of ~2,000 rows for ``corpus_spend``, a table shaped like the configured
``agency_drops/marketing_spend`` (a day's spend per campaign and channel), with every kind
of defect in ``KINDS`` planted at known records. Each planted record carries what must become
of it: loaded as it is, collapsed into an identical row, quarantined with reasons that name
its defect, or the whole file rejected. Row kinds go into one drop together; file kinds
(a property of the whole file, or a defect that today stops the whole file) each get a small
drop of their own, so one kind's failure never hides another kind's outcome.

KINDS, the table this module is about: kind -> (row builder, expected outcome and reason
substrings, the issue 12 item whose fix it proves or None). A reason matches
``Reason(column, rules)`` when its ``column`` names ``column`` and its rule text (``check``
and any other key except ``value``) contains one of ``rules``.
The same records also serve the API path as JSON objects of text (``api_drop``).
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

from platform_assets.contracts import Contract
from platform_assets.contracts.loader import parse_contract

DAY = date(2026, 3, 10)
TABLE = "corpus_spend"
COLUMNS = ("campaign", "date", "channel", "spend_usd", "impressions", "clicks", "note")
CHANNELS = ("search", "social", "video", "email", "affiliate")
NOTE_MAX = 80
BATCH_ROWS = 200  # CSV chunk = validation batch: a 2,000-row drop spans 10 batches
# Printable text and newlines (a quoted newline is valid); no other control character.
NOTE_PATTERN = rf"^[^\x00-\x09\x0b-\x1f\x7f]{{0,{NOTE_MAX}}}$"

CONTRACT_SPEC: dict[str, Any] = {
    "table": TABLE,
    "layer": "raw",
    "description": "Defect corpus: marketing_spend per campaign, one CSV drop per day.",
    "owner": "team:platform",
    "primary_key": ["date", "campaign"],
    "partition_column": "date",
    "drift_policy": "fail",
    "quarantine_threshold": 1.0,  # the corpus is dirty on purpose: the gate is not the subject
    "volume": {"min_rows": 1},
    "row_rules": ["clicks <= impressions"],
    "freshness": {"warn_after": "30h", "fail_after": "48h"},
    "columns": [
        {"name": "campaign", "type": "string", "nullable": False,
         "pattern": r"^cmp-[0-9]{5}$", "description": "Campaign id."},
        {"name": "date", "type": "date", "nullable": False, "description": "The partition."},
        {"name": "channel", "type": "string", "nullable": False,
         "accepted_values": list(CHANNELS), "description": "Paid channel."},
        {"name": "spend_usd", "type": "float64", "nullable": False, "min": 0,
         "description": "Spend in US dollars."},
        {"name": "impressions", "type": "int64", "nullable": False, "min": 0,
         "max": 1_000_000_000, "description": "Impressions served."},
        {"name": "clicks", "type": "int64", "nullable": False, "min": 0,
         "description": "Clicks."},
        {"name": "note", "type": "string", "nullable": True, "pattern": NOTE_PATTERN,
         "description": "Free text from the agency."},
    ],
}  # fmt: skip


def corpus_contract() -> Contract:
    return parse_contract(CONTRACT_SPEC, f"corpus/{TABLE}.yaml")


# --- ground truth ------------------------------------------------------------------------

Outcome = Literal["load", "collapse", "quarantine", "reject"]


@dataclass(frozen=True)
class Reason:
    """A reason the platform must record: on ``column`` (None: any), a rule containing one of
    ``rules`` (alternatives, because the exact rule names are being settled in issue 12)."""

    column: str | None
    rules: tuple[str, ...]
    names_line: bool = False  # the reason says "line <n>": the record's first line in the file

    def matches(self, recorded: dict[str, Any], line: int) -> bool:
        column = str(recorded.get("column") or "")
        if self.column is not None and self.column not in column.split(","):
            return False
        if self.names_line and f"line {line}" not in " ".join(map(str, recorded.values())):
            return False
        rule_text = " ".join(str(v) for k, v in recorded.items() if k not in ("column", "value"))
        return any(rule in rule_text for rule in self.rules)

    def __str__(self) -> str:
        line = " (names its line)" if self.names_line else ""
        return f"{self.column or '*'}: {' | '.join(self.rules)}{line}"


@dataclass(frozen=True)
class Planted:
    """One data record of a drop: its CSV text, who it is, and what must become of it.

    ``ident`` finds the record again in the warehouse: its campaign, or its note where the
    campaign itself is the defect. ``values`` are the typed values a loaded record must have.
    """

    text: str
    ident: str
    kind: str
    outcome: Outcome
    reasons: tuple[Reason, ...] = ()
    values: dict[str, Any] | None = None


@dataclass(frozen=True)
class Kind:
    """A kind of defect: ``build`` plants its records; ``item`` is the issue 12 item that
    fixed it (main before that item got it wrong)."""

    name: str
    build: Callable[[Rows], list[Planted]]
    item: int | None = None
    scope: Literal["row", "file"] = "row"  # file: a drop of its own
    spread: bool = False  # its records go into different validation batches
    bom: bool = False
    newline: str = "\n"
    csv_only: bool = False  # a defect of CSV structure: no JSON record can carry it


# --- building records ----------------------------------------------------------------------


def csv_text(fields: Sequence[str]) -> str:
    """One CSV record as the agency would quote it (quotes only where needed)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(fields)  # quotes fields holding \r or \n
    return out.getvalue().removesuffix("\r\n")


class Rows:
    """Clean records with fresh campaign ids, and variants of them with one field changed."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.next_id = 0

    def clean(self) -> dict[str, str]:
        self.next_id += 1
        impressions = self.random.randint(1_000, 200_000)
        return {
            "campaign": f"cmp-{self.next_id:05d}",
            "date": DAY.isoformat(),
            "channel": self.random.choice(CHANNELS),
            "spend_usd": f"{self.random.randint(0, 500_000) / 100:.2f}",
            "impressions": str(impressions),
            "clicks": str(self.random.randint(0, impressions // 10)),
            "note": self.random.choice(("", "spring sale", "brand", "retargeting")),
        }

    @staticmethod
    def typed(fields: dict[str, str]) -> dict[str, Any]:
        return {
            "campaign": fields["campaign"],
            "date": date.fromisoformat(fields["date"]),
            "channel": fields["channel"],
            "spend_usd": float(fields["spend_usd"]),
            "impressions": int(fields["impressions"]),
            "clicks": int(fields["clicks"]),
            "note": fields["note"] or None,
        }

    def loaded(self, kind: str, **changes: str) -> Planted:
        """A record that must load with exactly its values."""
        fields = self.clean() | changes
        text = csv_text([fields[c] for c in COLUMNS])
        return Planted(text, fields["campaign"], kind, "load", values=self.typed(fields))

    def bad(self, kind: str, *reasons: Reason, ident: str = "campaign", **changes: str) -> Planted:
        """A record with some fields replaced, which must be quarantined with ``reasons``."""
        fields = self.clean() | changes
        return Planted(
            csv_text([fields[c] for c in COLUMNS]), fields[ident], kind, "quarantine", reasons
        )

    def raw(self, kind: str, outcome: Outcome, text: str, ident: str, *reasons: Reason) -> Planted:
        return Planted(text, ident, kind, outcome, reasons)


def _typed_rule(column: str) -> Reason:
    """A value that the column's type grammar must refuse (item 9 settles the rule's name)."""
    return Reason(column, ("type", "grammar", "format", "parse", "finite", "whitespace", "digit"))


NOT_NULL = ("not_nullable", "null")
GE_MIN = ("greater_than_or_equal_to", ">=", "min")
LE_MAX = ("less_than_or_equal_to", "<=", "max")
IN_PARTITION = Reason("date", ("in_partition", "partition"))
FIELD_COUNT = Reason(None, ("field", "columns"), names_line=True)
CONFLICT = Reason(None, ("conflicting duplicate key",))


def value(column: str, text: str, reason: Reason, **others: str) -> Callable[[Rows], list[Planted]]:
    """The builder of a kind that is one record with one bad value (``others``: fields set so
    that no other rule fails, e.g. clicks under a small impressions count)."""
    return lambda rows: [rows.bad("", reason, **{column: text, **others})]


def valid(**changes: str) -> Callable[[Rows], list[Planted]]:
    """The builder of a kind that is one unusual but valid record."""
    return lambda rows: [rows.loaded("", **changes)]


def _null_campaign(rows: Rows) -> list[Planted]:
    note = f"null campaign {rows.next_id}"
    return [rows.bad("", Reason("campaign", NOT_NULL), ident="note", campaign="", note=note)]


def _wrong_day_and_negative(rows: Rows) -> list[Planted]:
    reasons = (IN_PARTITION, Reason("spend_usd", GE_MIN))
    return [rows.bad("", *reasons, date="2026-03-11", spend_usd="-3.00")]


def _null_date(rows: Rows) -> list[Planted]:
    return [rows.bad("", Reason("date", NOT_NULL), date="")]


def _clicks_over_impressions(rows: Rows) -> list[Planted]:
    rule = Reason("clicks", ("clicks <= impressions",))
    return [rows.bad("", rule, impressions="100", clicks="101")]


def _exact_duplicate(rows: Rows) -> list[Planted]:
    first = rows.loaded("")
    second = Planted(first.text, first.ident, "", "collapse")
    return [first, second]


def _conflicting_duplicate(rows: Rows) -> list[Planted]:
    first = rows.bad("", CONFLICT)
    fields = next(csv.reader([first.text]))
    fields[COLUMNS.index("spend_usd")] = "999.99"
    return [first, Planted(csv_text(fields), first.ident, "", "quarantine", (CONFLICT,))]


def _duplicate_of_quarantined(rows: Rows) -> list[Planted]:
    """The first record of a key is invalid: the second, clean, one is the only valid one."""
    bad = rows.bad("", Reason("spend_usd", GE_MIN), spend_usd="-1.00")
    fields = next(csv.reader([bad.text]))
    fields[COLUMNS.index("spend_usd")] = "12.00"
    clean = dict(zip(COLUMNS, fields, strict=True))
    return [bad, Planted(csv_text(fields), bad.ident, "", "load", values=Rows.typed(clean))]


def _short_required(rows: Rows) -> list[Planted]:
    fields = rows.clean()
    text = csv_text([fields[c] for c in COLUMNS[:4]])  # no impressions, clicks, note
    return [rows.raw("", "quarantine", text, fields["campaign"], FIELD_COUNT)]


def _short_optional(rows: Rows) -> list[Planted]:
    fields = rows.clean()
    text = csv_text([fields[c] for c in COLUMNS[:-1]])  # the (nullable) note is missing
    return [rows.raw("", "quarantine", text, fields["campaign"], FIELD_COUNT)]


def _extra_field(rows: Rows) -> list[Planted]:
    fields = rows.clean()
    text = csv_text([*(fields[c] for c in COLUMNS), "surplus"])
    return [rows.raw("", "quarantine", text, fields["campaign"], FIELD_COUNT)]


def _stray_comma(rows: Rows) -> list[Planted]:
    fields = rows.clean() | {"spend_usd": "1,234.50"}
    text = ",".join(fields[c] for c in COLUMNS)  # the agency forgot to quote the amount
    return [rows.raw("", "quarantine", text, fields["campaign"], FIELD_COUNT)]


def _unterminated_quote(rows: Rows) -> list[Planted]:
    fields = rows.clean()
    text = ",".join(fields[c] for c in COLUMNS[:-1]) + ',"never closed'
    return [rows.raw("", "reject", text, fields["campaign"])]


def _invalid_utf8(rows: Rows) -> list[Planted]:
    # A Latin-1 "é" (byte 0xE9) in a UTF-8 file: written through surrogateescape.
    return [replace(rows.bad("", note="caf\udce9"), outcome="reject")]


def _blank_lines(rows: Rows) -> list[Planted]:
    """Empty lines between records are no records: the records around them load."""
    first, second = rows.loaded(""), rows.loaded("")
    return [first, Planted("", "", "", "load"), Planted("", "", "", "load"), second]


ACCEPTED = ("isin", "accepted")
PATTERN = ("str_matches", "pattern")
R, T = Reason, _typed_rule
ONE = {"clicks": "1"}  # below any impressions value: only the planted defect fails

# fmt: off
KINDS: tuple[Kind, ...] = (
    # name, builder(column, value, expected reason) or a function, item main gets wrong
    Kind("null_in_non_null", value("spend_usd", "", R("spend_usd", NOT_NULL))),
    Kind("null_campaign_key", _null_campaign),
    Kind("null_partition_date", _null_date, item=11),
    Kind("negative_spend", value("spend_usd", "-12.50", R("spend_usd", GE_MIN))),
    Kind("negative_impressions", value("impressions", "-1", R("impressions", GE_MIN))),
    Kind("impressions_above_max", value("impressions", "2000000000", R("impressions", LE_MAX))),
    Kind("int64_overflow", value("impressions", "99999999999999999999", T("impressions"))),
    Kind("impossible_date", value("date", "2026-02-30", T("date"))),
    Kind("date_as_words", value("date", "yesterday", T("date"))),
    Kind("date_day_first", value("date", "10/03/2026", T("date"))),
    Kind("date_basic_iso", value("date", "20260310", T("date")), item=9),
    Kind("date_with_time_of_day", value("date", "2026-03-10T13:45:00", T("date")), item=9),
    Kind("date_with_whitespace", value("date", " 2026-03-10", T("date")), item=9),
    Kind("date_with_midnight_time", value("date", "2026-03-10 00:00", T("date")), item=9),
    Kind("date_without_zero_padding", value("date", "2026-3-10", T("date")), item=9),
    Kind("wrong_partition_day", value("date", "2026-03-11", IN_PARTITION)),
    Kind("wrong_day_and_negative_spend", _wrong_day_and_negative, item=11),
    Kind("spend_inf", value("spend_usd", "inf", T("spend_usd")), item=9),
    Kind("spend_infinity_word", value("spend_usd", "Infinity", T("spend_usd")), item=9),
    Kind("spend_negative_inf", value("spend_usd", "-inf", R("spend_usd", (*GE_MIN, "finite")))),
    Kind("spend_nan", value("spend_usd", "nan", T("spend_usd"))),
    Kind("spend_overflows_to_inf", value("spend_usd", "1e400", T("spend_usd")), item=9),
    Kind("spend_with_whitespace", value("spend_usd", " 12.50 ", T("spend_usd")), item=9),
    Kind("spend_currency_sign", value("spend_usd", "$12.50", T("spend_usd"))),
    Kind("spend_decimal_comma", value("spend_usd", "12,50", T("spend_usd"))),
    Kind("spend_as_words", value("spend_usd", "twelve", T("spend_usd"))),
    Kind("spend_fullwidth_digits", value("spend_usd", "１２.５０", T("spend_usd"))),
    Kind("int_arabic_indic_digits", value("impressions", "١٢٣٤", T("impressions"), **ONE), item=9),
    Kind("int_fullwidth_digits", value("impressions", "１２３４", T("impressions"), **ONE), item=9),
    Kind("int_exponent", value("impressions", "1e7", T("impressions")), item=9),
    Kind("int_with_fraction_zero", value("clicks", "5.0", T("clicks")), item=9),
    Kind("int_with_underscores", value("impressions", "10_000_000", T("impressions")), item=9),
    Kind("int_with_whitespace", value("clicks", " 42 ", T("clicks")), item=9),
    Kind("int_fraction", value("clicks", "5.5", T("clicks"))),
    Kind("int_thousands_separator", value("impressions", "12,345", T("impressions"))),
    Kind("int_as_bool", value("clicks", "true", T("clicks"))),
    Kind("unknown_enum", value("channel", "tv", R("channel", ACCEPTED))),
    Kind("enum_wrong_case", value("channel", "Search", R("channel", ACCEPTED))),
    Kind("enum_trailing_space", value("channel", "search ", R("channel", ACCEPTED))),
    Kind("key_pattern", value("campaign", "CMP_7", R("campaign", PATTERN))),
    Kind("row_rule_clicks_over_impressions", _clicks_over_impressions),
    Kind("overlong_text", value("note", "x" * 500, R("note", PATTERN))),
    Kind("control_character", value("note", "bell\x07here", R("note", PATTERN))),
    Kind("nul_character", value("note", "nul\x00here", R("note", ("type", *PATTERN)))),
    Kind("valid_quoted_newline", valid(note="line one\nline two")),
    Kind("valid_quoted_comma_and_quote", valid(note='a, "quoted" b')),
    Kind("valid_unicode_text", valid(note="café 東京 ١٢٣")),
    Kind("valid_na_text_is_not_null", valid(note="NA")),
    Kind("valid_zeros", valid(spend_usd="0.00", impressions="0", clicks="0")),
    Kind("valid_spend_with_exponent", valid(spend_usd="1.5e3")),
    Kind("blank_lines", _blank_lines),
    Kind("exact_duplicate", _exact_duplicate, item=10),
    Kind("exact_duplicate_across_batches", _exact_duplicate, item=10, spread=True),
    Kind("conflicting_duplicate", _conflicting_duplicate, item=10),
    Kind("conflicting_duplicate_across_batches", _conflicting_duplicate, item=10, spread=True),
    Kind("duplicate_of_quarantined_row", _duplicate_of_quarantined, item=10),
    Kind("too_few_fields_required", _short_required, item=13, csv_only=True),
    Kind("too_few_fields_optional", _short_optional, item=13, csv_only=True),
    Kind("too_many_fields", _extra_field, item=13, scope="file"),
    Kind("stray_unquoted_comma", _stray_comma, item=13, scope="file"),
    Kind("unterminated_quote", _unterminated_quote, item=13, scope="file"),
    Kind("invalid_utf8", _invalid_utf8, item=13, scope="file"),
    Kind("bom_at_file_start", valid(), item=13, scope="file", bom=True),
    Kind("crlf_line_ends", valid(note="crlf\nquoted"), scope="file", newline="\r\n"),
)
# fmt: on
ROW_KINDS = tuple(k for k in KINDS if k.scope == "row")
FILE_KINDS = tuple(k for k in KINDS if k.scope == "file")


# --- drops ---------------------------------------------------------------------------------


@dataclass
class Drop:
    """A drop's records in file order (blank lines included, as empty texts)."""

    planted: list[Planted] = field(default_factory=list)
    bom: bool = False
    newline: str = "\n"

    @property
    def records(self) -> list[Planted]:
        return [p for p in self.planted if p.text]

    def content(self) -> bytes:
        lines = [csv_text(COLUMNS), *(p.text for p in self.planted)]
        text = self.newline.join(lines) + self.newline
        data = text.encode("utf-8", errors="surrogateescape")
        return b"\xef\xbb\xbf" + data if self.bom else data

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.content())
        return path

    def of_kind(self, name: str) -> list[Planted]:
        return [p for p in self.records if p.kind == name]

    def lines(self) -> list[tuple[int, Planted]]:
        """Each record with the file line it starts on (1-based; the header is line 1), as
        csv.reader's ``line_num`` counts: a quoted newline continues the record's line."""
        out, line = [], 2
        for planted in self.planted:
            if planted.text:
                out.append((line, planted))
            line += planted.text.count("\n") + 1
        return out

    def truth(self) -> list[dict[str, Any]]:
        """The ground truth per record, as data: line, kind, outcome, expected reasons."""
        return [
            {
                "line": line,
                "ident": p.ident,
                "kind": p.kind,
                "outcome": p.outcome,
                "reasons": [str(r) for r in p.reasons],
            }
            for line, p in self.lines()
        ]


def _planted(kind: Kind, rows: Rows) -> list[Planted]:
    return [replace(p, kind=kind.name) for p in kind.build(rows)]


def _count(group: list[Planted]) -> int:
    return sum(1 for p in group if p.text)


class _Layout:
    """Record positions of the planted groups: no overlap, a group never straddles a batch."""

    def __init__(self, batch_rows: int) -> None:
        self.batch_rows = batch_rows
        self.starts: dict[int, list[Planted]] = {}
        self.used: set[int] = set()

    def place(self, start: int, group: list[Planted]) -> bool:
        span = set(range(start, start + _count(group)))
        if span & self.used or start // self.batch_rows != max(span) // self.batch_rows:
            return False
        self.used |= span
        self.starts[start] = group
        return True

    def first_free(self, start: int, group: list[Planted]) -> None:
        while not self.place(start, group):
            start += 1


def row_drop(total: int = 2_000, seed: int = 12, batch_rows: int = BATCH_ROWS) -> Drop:
    """Every row kind planted among clean records, ``total`` records in all.

    A kind's records sit together inside one validation batch (never the first or the last),
    except ``spread`` kinds: their first record is in the first batch, the others in the last.
    """
    rows = Rows(seed)
    layout = _Layout(batch_rows)
    for kind in ROW_KINDS:
        group = _planted(kind, rows)
        if kind.spread:
            layout.first_free(batch_rows // 2, group[:1])
            layout.first_free(total - batch_rows // 2, group[1:])
            continue
        while not layout.place(rows.random.randrange(batch_rows, total - 2 * batch_rows), group):
            pass
    planted: list[Planted] = []
    at = 0
    while at < total:
        group = layout.starts.get(at) or [rows.loaded("clean")]
        planted.extend(group)
        at += _count(group)
    return Drop(planted)


def file_drop(kind: Kind, clean: int = 40, seed: int = 12) -> Drop:
    """A small drop for one file kind: clean records around the kind's own records."""
    rows = Rows(seed)
    before = [rows.loaded("clean") for _ in range(clean // 2)]
    own = _planted(kind, rows)
    after = [rows.loaded("clean") for _ in range(clean - clean // 2)]
    return Drop([*before, *own, *after], bom=kind.bom, newline=kind.newline)


def api_drop(total: int = 2_000, seed: int = 12) -> Drop:
    """The row drop's records as an API would page them, without the CSV-only kinds."""
    csv_only = {k.name for k in KINDS if k.csv_only}
    return Drop([p for p in row_drop(total, seed).records if p.kind not in csv_only])


def json_record(planted: Planted) -> dict[str, str | None]:
    """A record as a JSON object: the CSV fields as text, an empty field as null."""
    fields = next(csv.reader([planted.text]))
    return {c: v or None for c, v in zip(COLUMNS, fields, strict=True)}
