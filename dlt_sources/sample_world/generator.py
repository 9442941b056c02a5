"""The deterministic sample-world generator (see docs/sample-world.md, the contract).

Output depends only on `(people, seed, end, batches)`. Every random choice comes from
`random.Random` instances seeded with `f"{seed}:<phase>"`, so phases do not disturb each
other, and no clock is read. Large outputs are streamed: events go through temporary bucket
files that are shuffled one bucket at a time, and SQLite rows are inserted in chunks.
"""

from __future__ import annotations

import bisect
import csv
import json
import shutil
import sqlite3
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from random import Random
from typing import Any

from dlt_sources.sample_world import names as N

DEFAULT_END = datetime(2026, 11, 1, tzinfo=timezone.utc)
WINDOW_DAYS = 365
WORLD_DIRS = ("landing", "systems", "ground_truth")

DAY_S = 86_400
DAY_MS = DAY_S * 1000
HOUR_MS = 3_600_000

BAD_RATE = 0.005
MIN_PEOPLE_FOR_EVERY_KIND = 200
SHARE_RATE = 0.015  # web/app visitors who share one of their devices with a housemate
MIN_SHARED_DEVICES = 2  # once the world has MIN_PEOPLE_FOR_EVERY_KIND people

# source/table -> the bad-row kinds planted in it (the contract's table).
BAD_KINDS: dict[str, tuple[str, ...]] = {
    "events/events": ("malformed_email", "missing_id", "future_timestamp", "wrong_type", "negative_amount"),
    "crm/contacts": ("malformed_email", "malformed_phone"),
    "commerce/orders": ("negative_amount", "future_timestamp", "malformed_email"),
    "commerce/order_lines": ("negative_amount",),
    "email/email_events": ("missing_id", "future_timestamp"),
    "support/tickets": ("malformed_email", "future_timestamp"),
    "lists/event_attendees": ("malformed_email", "malformed_phone", "wrong_type", "missing_id"),
}
# Tables listed in records.csv, in file order.
RECORD_TABLES = (
    "events/events",
    "crm/contacts",
    "commerce/customers",
    "commerce/orders",
    "commerce/order_lines",
    "email/email_events",
    "support/tickets",
    "lists/event_attendees",
)

ATTENDEE_COLUMNS = (
    "Attendee ID", "Email Address", "Mobile", "First Name", "Last Name", "Date of Birth",
    "Street", "City", "Zip", "State", "Country", "Ticket Type", "Marketing Opt-In",
)
ATTENDEES_MAPPING = """\
name: event_attendees
key: Attendee ID
columns:
  Attendee ID: {external_id: eventbrite}
  Email Address: email
  Mobile: phone
  First Name: first_name
  Last Name: last_name
  Date of Birth: date_of_birth
  Street: street_address
  City: city
  Zip: postcode
  State: state
  Country: country
  Ticket Type: {trait: ticket_type}
  Marketing Opt-In: {consent: email}
"""
PEOPLE_COLUMNS = (
    "person_id", "first_name", "last_name", "email", "phone_e164", "date_of_birth", "street",
    "city", "state", "postcode", "country", "user_id", "loyalty_id", "anonymous_ids",
)
SHARED_DEVICE_COLUMNS = ("anonymous_id", "device_id", "person_ids")

POS_SCHEMA = """
CREATE TABLE stores (
    store_id TEXT PRIMARY KEY,
    name TEXT,
    city TEXT,
    country TEXT,
    updated_at DATETIME NOT NULL
);
CREATE TABLE customers (
    loyalty_id TEXT PRIMARY KEY,
    email TEXT,
    phone TEXT,
    first_name TEXT,
    last_name TEXT,
    postcode TEXT,
    country TEXT,
    enrolled_at DATETIME,
    updated_at DATETIME NOT NULL
);
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL CHECK (channel IN ('web', 'pos')),
    store_id TEXT,
    loyalty_id TEXT,
    email TEXT,
    first_name TEXT,
    last_name TEXT,
    postcode TEXT,
    currency TEXT,
    subtotal_amount NUMERIC(12, 2),
    tax_amount NUMERIC(12, 2),
    total_amount NUMERIC(12, 2),
    status TEXT CHECK (status IN ('completed', 'refunded', 'cancelled')),
    ordered_at DATETIME,
    updated_at DATETIME NOT NULL
);
CREATE TABLE order_lines (
    line_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    sku TEXT,
    product_name TEXT,
    quantity INTEGER,
    unit_price NUMERIC(12, 2),
    line_amount NUMERIC(12, 2),
    updated_at DATETIME NOT NULL
);
"""
POS_INDEXES = """
CREATE INDEX stores_updated_at ON stores (updated_at);
CREATE INDEX customers_updated_at ON customers (updated_at);
CREATE INDEX orders_updated_at ON orders (updated_at);
CREATE INDEX order_lines_updated_at ON order_lines (updated_at);
CREATE INDEX order_lines_order_id ON order_lines (order_id);
"""

_dumps = json.JSONEncoder(separators=(",", ":")).encode

# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------

_DAY_CACHE: dict[int, str] = {}
_EPOCH = date(1970, 1, 1)


def _day(days: int) -> str:
    text = _DAY_CACHE.get(days)
    if text is None:
        text = (_EPOCH + timedelta(days=days)).isoformat()
        _DAY_CACHE[days] = text
    return text


_CLOCK: list[str] = []  # "HH:MM:SS" for every second of a day, built on first use
_MILLIS = [f".{milli:03d}Z" for milli in range(1000)]


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds: `2026-03-04T05:06:07.089Z`."""
    if not _CLOCK:
        _CLOCK.extend(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY_S))
    s, milli = divmod(ms, 1000)
    days, sod = divmod(s, DAY_S)
    text = _DAY_CACHE.get(days) or _day(days)
    return text + "T" + _CLOCK[sod] + _MILLIS[milli]


def iso_s(s: int) -> str:
    """Epoch seconds as ISO 8601 UTC: `2026-03-04T05:06:07Z`."""
    days, sod = divmod(s, DAY_S)
    h, rem = divmod(sod, 3600)
    m, sec = divmod(rem, 60)
    return f"{_day(days)}T{h:02d}:{m:02d}:{sec:02d}Z"


def sql_ts(s: int) -> str:
    """Epoch seconds as the POS database's datetime text: `2026-03-04 05:06:07`."""
    days, sod = divmod(s, DAY_S)
    h, rem = divmod(sod, 3600)
    m, sec = divmod(rem, 60)
    return f"{_day(days)} {h:02d}:{m:02d}:{sec:02d}"


def future(text: str) -> str:
    """The same timestamp text in the year 2099 (29 February becomes the 28th)."""
    text = "2099" + text[4:]
    if text[5:10] == "02-29":
        text = text[:8] + "28" + text[10:]
    return text


def uuid4(rng: Random) -> str:
    """A version-4 UUID string from the seeded generator; equals `str(uuid.UUID(int=bits, version=4))`."""
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)
    bits = (bits & ~(0xF000 << 64)) | (4 << 76)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _weighted(rng: Random, items: tuple[Any, ...], cum_weights: list[float]) -> Any:
    return items[bisect.bisect_right(cum_weights, rng.random() * cum_weights[-1])]


def _cum(weights: Any) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if "a" <= ch <= "z")


def _url_slug(text: str) -> str:
    out, dash = [], False
    for ch in text.lower():
        if "a" <= ch <= "z" or "0" <= ch <= "9":
            out.append(ch)
            dash = False
        elif not dash:
            out.append("-")
            dash = True
    return "".join(out).strip("-")


def _price(usd: float, factor: float) -> float:
    if factor == 1.0:
        return round(usd, 2)
    value = usd * factor
    return round(round(value) - 0.01, 2) if value >= 10 else round(value, 2)


def _money(value: float) -> float:
    return round(value + 0.0, 2)


# ---------------------------------------------------------------------------------------------
# identifier formats and their planted defects
# ---------------------------------------------------------------------------------------------


def format_phone(e164: str, country: str, style: int) -> str:
    """A true E.164 number as a person might write it. National formats only in its own country."""
    if country == "GB":
        nsn = e164[3:]  # 10 digits, 7xxxxxxxxx
        styles = (
            e164,
            f"+44 {nsn[:4]} {nsn[4:]}",
            f"0{nsn[:4]} {nsn[4:]}",
            f"0{nsn}",
            f"+44 {nsn[:4]} {nsn[4:7]} {nsn[7:]}",
        )
    else:
        n = e164[2:]  # 10 digits
        a, b, c = n[:3], n[3:6], n[6:]
        styles = (
            e164,
            f"({a}) {b}-{c}",
            f"{a}.{b}.{c}",
            f"+1 {a} {b} {c}",
            f"{a}-{b}-{c}",
            f"1-{a}-{b}-{c}",
        )
    return styles[style % len(styles)]


def international_phone(e164: str, country: str, style: int) -> str:
    """A format with the country code (for systems that have no country to read a number in)."""
    if country == "GB":
        nsn = e164[3:]
        return (e164, f"+44 {nsn[:4]} {nsn[4:]}")[style % 2]
    n = e164[2:]
    return (e164, f"+1 {n[:3]} {n[3:6]} {n[6:]}", f"+1 ({n[:3]}) {n[3:6]}-{n[6:]}")[style % 3]


def malformed_email(email: str, rng: Random) -> str:
    """Something that is not an address: `jane.doe@`, `jane doe@gmail.com`, `@example.com`, ..."""
    local, domain = email.split("@", 1)
    choice = int(rng.random() * 6)
    if choice == 0:
        return f"{local}@"
    if choice == 1:
        spaced = local.replace(".", " ", 1) if "." in local else f"{local[:2]} {local[2:]}"
        return f"{spaced}@{domain}"
    if choice == 2:
        return f"@{domain}"
    if choice == 3:
        return f"{local}.{domain}"
    if choice == 4:
        return f"{local}@{domain.split('.', 1)[0]}"
    return f"{local}@@{domain}"


def malformed_phone(e164: str, country: str, rng: Random) -> str:
    """Something that cannot be a number: `12345`, `555-CALL-NOW`, `+1 (415) 555-01`, ..."""
    choice = int(rng.random() * 5)
    if choice == 0:
        return "".join(str(int(rng.random() * 10)) for _ in range(5))
    if choice == 1:
        return ("555-CALL-NOW", "ask at desk", "n/a", "mobile unknown")[int(rng.random() * 4)]
    if country == "GB":
        nsn = e164[3:]
        if choice == 2:
            return f"+44 {nsn[:4]} {nsn[4:8]}"
        if choice == 3:
            return f"0{nsn[:4]} {nsn[4:8]}"
        return f"+44 {nsn[:4]} {nsn[4:]}{nsn[-3:]}"
    n = e164[2:]
    if choice == 2:
        return f"+1 ({n[:3]}) {n[3:6]}-{n[6:8]}"
    if choice == 3:
        return f"{n[3:6]}-{n[6:]}"
    return f"+1 {n[:3]} {n[3:6]} {n[6:]}{n[-2:]}"


def varied_email(email: str, rng: Random) -> str:
    """The same address with varied case and sometimes surrounding spaces (not a defect)."""
    r = rng.random()
    local, domain = email.split("@", 1)
    if r < 0.5:
        return email
    if r < 0.65:
        return ".".join(part[:1].upper() + part[1:] for part in local.split(".")) + "@" + domain
    if r < 0.75:
        return email.upper()
    if r < 0.87:
        return (" ", "  ", "")[int(rng.random() * 3)] + email + (" ", "  ", "   ")[int(rng.random() * 3)]
    return " " + local.capitalize() + "@" + domain.capitalize() + " "


# ---------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------


class _BufferedFiles:
    """Lines buffered per file and appended in large writes (files are opened only to flush)."""

    limit = 16 * 1024 * 1024

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.buffers: list[list[str]] = [[] for _ in paths]
        self.rows = [0] * len(paths)
        self.size = 0
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")

    def add(self, index: int, line: str) -> None:
        self.buffers[index].append(line)
        self.rows[index] += 1
        self.size += len(line)
        if self.size > self.limit:
            self.flush()

    def flush(self) -> None:
        for path, buffer in zip(self.paths, self.buffers):
            if buffer:
                with open(path, "a", encoding="utf-8", newline="") as handle:
                    handle.writelines(buffer)
                buffer.clear()
        self.size = 0


class _ShuffledFiles:
    """Per-batch files whose lines end up in a deterministic random order.

    Each line goes to a random bucket of its file (a temporary file); at the end every bucket
    is read, shuffled and appended, so memory holds one bucket at a time.
    """

    def __init__(self, paths: list[Path], tmp_dir: Path, buckets: int, rng: Random) -> None:
        self.paths = paths
        self.buckets = buckets
        self.rng = rng
        self.parts = [[tmp_dir / f"{i:04d}-{b:04d}.part" for b in range(buckets)] for i in range(len(paths))]
        self.files = _BufferedFiles([part for parts in self.parts for part in parts])
        self.rows = [0] * len(paths)

    def add(self, index: int, line: str) -> None:
        self.rows[index] += 1
        self.files.add(index * self.buckets + int(self.rng.random() * self.buckets), line)

    def close(self) -> None:
        self.files.flush()
        for path, parts in zip(self.paths, self.parts):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as out:
                for part in parts:
                    with open(part, encoding="utf-8", newline="") as handle:
                        lines = handle.readlines()
                    self.rng.shuffle(lines)
                    out.writelines(lines)
                    part.unlink()


class _BadPlanner:
    """Decides, row by row, which rows of a streamed table carry a planted defect.

    Each kind has a probability among the rows eligible for it. When the world has enough
    people, the first eligible row at or after a random position is forced to carry a kind
    that has not appeared yet, so every kind appears at least once.
    """

    def __init__(self, rng: Random, probabilities: dict[str, float], force: bool, span: int) -> None:
        self.rng = rng
        self.probabilities = probabilities
        self.force = force
        self.counts = dict.fromkeys(probabilities, 0)
        self.force_from = {kind: int(rng.random() * max(1, span // 4)) for kind in probabilities}

    def pick(self, eligible: tuple[str, ...], position: int) -> str | None:
        if self.force:
            for kind in eligible:
                if self.counts[kind] == 0 and position >= self.force_from[kind]:
                    self.counts[kind] += 1
                    return kind
        r = self.rng.random()
        for kind in eligible:
            r -= self.probabilities[kind]
            if r < 0:
                self.counts[kind] += 1
                return kind
        return None


def _exact_bad_rows(rng: Random, n_rows: int, kinds: tuple[str, ...], people: int) -> dict[int, str]:
    """For tables held in memory: exactly round(0.5 %) rows (at least one per kind when large enough)."""
    n_bad = round(n_rows * BAD_RATE)
    if people >= MIN_PEOPLE_FOR_EVERY_KIND:
        n_bad = max(n_bad, len(kinds))
    n_bad = min(n_bad, n_rows)
    chosen = rng.sample(range(n_rows), n_bad)
    return {index: kinds[i % len(kinds)] for i, index in enumerate(chosen)}


# ---------------------------------------------------------------------------------------------
# the world
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Person:
    index: int
    person_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    date_of_birth: str
    street: str
    city: str
    state: str
    postcode: str
    country: str
    anonymous_ids: list[str] = field(default_factory=list)
    user_id: str = ""
    loyalty_id: str = ""
    subscriber_id: str = ""
    crm: bool = False
    requester: bool = False
    attendee: bool = False


@dataclass(slots=True)
class Device:
    anonymous_id: str
    kind: str  # web, mweb, ios, android
    ip: str
    user_agent: str
    consent: dict[str, Any] | None
    skew_ms: int
    delay_ms: int
    delay_span_ms: int
    context_head: str = ""  # the context JSON (mobile) or its part before the page (web)
    context_tail: str = ""  # web: the context JSON after the page
    identified: bool = False


class World:
    def __init__(self, out_dir: Path, people: int, seed: int, end: datetime, batches: int) -> None:
        self.out = out_dir
        self.n_people = people
        self.seed = seed
        self.batches = batches
        if end.tzinfo is None:
            end = end.replace(tzinfo=timezone.utc)
        self.end_dt = end.astimezone(timezone.utc)
        self.end_s = int(self.end_dt.timestamp())
        self.start_s = self.end_s - WINDOW_DAYS * DAY_S
        total = self.end_s - self.start_s
        self.bounds_s = [self.start_s + total * k // batches for k in range(batches + 1)]
        self.bounds_ms = [b * 1000 for b in self.bounds_s]
        self.start_ms, self.end_ms = self.start_s * 1000, self.end_s * 1000
        self.period_len_s = total // batches
        self.force_kinds = people >= MIN_PEOPLE_FOR_EVERY_KIND
        self.people: list[Person] = []
        self.bad_rows: list[tuple[str, str, str, str, str, str]] = []
        self.rows: dict[str, int] = {}
        self.records: dict[str, int] = {}
        self.rows_per_batch: dict[str, list[int]] = {}
        self.touchpoints: dict[str, int] = {}
        # shared devices: (owner, housemate) pairs, decided after the people, in owner order
        self.share_pairs: list[tuple[Person, Person]] = []
        self.share_of: dict[int, int] = {}  # person index -> its pair's position in share_pairs
        self.share_used: dict[int, list[Device]] = {}  # pair -> the owner's device of every owner session
        self.share_registered: dict[int, int] = {}  # pair -> when the housemate registered (ms, -1: never)
        self.shared_devices: list[tuple[str, str, str]] = []  # shared_devices.csv rows
        self.shared_ids: dict[int, str] = {}  # housemate index -> the anonymous id they use too

    # -- time ---------------------------------------------------------------------------------

    def rng(self, phase: str) -> Random:
        return Random(f"{self.seed}:{phase}")

    def period_s(self, s: int) -> int:
        k = bisect.bisect_right(self.bounds_s, s) - 1
        return 0 if k < 0 else (self.batches - 1 if k >= self.batches else k)

    def period_ms(self, ms: int) -> int:
        k = bisect.bisect_right(self.bounds_ms, ms) - 1
        return 0 if k < 0 else (self.batches - 1 if k >= self.batches else k)

    def bad(self, table: str, key: str, kind: str, field_name: str, value: Any) -> None:
        source, name = table.split("/")
        self.bad_rows.append((source, name, key, kind, field_name, "" if value is None else str(value)))

    # -- run ----------------------------------------------------------------------------------

    def generate(self) -> dict[str, Any]:
        gt = self.out / "ground_truth"
        gt.mkdir(parents=True)
        self.tmp = self.out / "ground_truth" / ".tmp"
        self.tmp.mkdir()
        self.record_files = {
            table: open(self.tmp / f"records-{i}.csv", "w", encoding="utf-8", newline="")
            for i, table in enumerate(RECORD_TABLES)
        }
        try:
            self._people()
            self._share()
            self.commerce = _Commerce(self)
            self._events()
            self._write_people()
            self.commerce.finish()
            self._crm()
            self._crm_owners_and_deals()
            self._email()
            self._support()
            self._lists()
        finally:
            for handle in self.record_files.values():
                handle.close()
        with open(gt / "records.csv", "w", encoding="utf-8", newline="") as out:
            out.write("source,table,record_key,person_id\n")
            for i, _ in enumerate(RECORD_TABLES):
                part = self.tmp / f"records-{i}.csv"
                with open(part, encoding="utf-8", newline="") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
        shutil.rmtree(self.tmp)
        order = {table: i for i, table in enumerate(BAD_KINDS)}
        self.bad_rows.sort(key=lambda row: order[f"{row[0]}/{row[1]}"])  # stable: generation order within a table
        with open(gt / "bad_rows.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(("source", "table", "record_key", "kind", "field", "value"))
            writer.writerows(self.bad_rows)
        summary = self._summary()
        (gt / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return summary

    def record(self, table: str, key: str, person_id: str) -> None:
        self.record_files[table].write(f"{table.replace('/', ',')},{key},{person_id}\n")

    def _summary(self) -> dict[str, Any]:
        bad: dict[str, dict[str, int]] = {table: dict.fromkeys(kinds, 0) for table, kinds in BAD_KINDS.items()}
        for source, table, _key, kind, _field, _value in self.bad_rows:
            bad[f"{source}/{table}"][kind] += 1
        return {
            "people": self.n_people,
            "seed": self.seed,
            "batches": self.batches,
            "start": iso_s(self.start_s),
            "end": iso_s(self.end_s),
            "batch_starts": [iso_s(b) for b in self.bounds_s[:-1]],
            "rows": dict(sorted(self.rows.items())),
            "records": dict(sorted(self.records.items())),
            "rows_per_batch": dict(sorted(self.rows_per_batch.items())),
            "bad_rows": bad,
            "bad_rows_total": len(self.bad_rows),
            "touchpoints": dict(sorted(self.touchpoints.items())),
            "shared_devices": len(self.shared_devices),
        }

    # -- people -------------------------------------------------------------------------------

    def _people(self) -> None:
        rng = self.rng("people")
        countries = ("US", "GB", "CA")
        country_cum = _cum((85, 10, 5))
        domain_choices: dict[str, tuple[tuple[str, ...], list[float]]] = {}
        for country in countries:
            domains = [(d, w) for d, w, where in N.EMAIL_DOMAINS if not where or country in where]
            domain_choices[country] = (tuple(d for d, _ in domains), _cum(w for _, w in domains))
        device_cum = _cum((55, 33, 12))
        emails: set[str] = set()
        user_ids: set[str] = set()
        subscriber_ids: set[str] = set()
        dob_start = (date(1950, 1, 1) - _EPOCH).days
        dob_span = (date(2007, 12, 31) - _EPOCH).days - dob_start
        counts = dict.fromkeys(
            ("web_visitors", "registered_users", "crm_contacts", "loyalty_members", "email_subscribers",
             "support_requesters", "event_attendees"), 0)
        loyalty_n = 0
        for i in range(self.n_people):
            country = _weighted(rng, countries, country_cum)
            city, state, area_codes, patterns = N.CITIES[country][int(rng.random() * len(N.CITIES[country]))]
            first = N.FIRST_NAMES[int(rng.random() * len(N.FIRST_NAMES))]
            last = N.LAST_NAMES[int(rng.random() * len(N.LAST_NAMES))]
            domains, cum = domain_choices[country]
            domain = _weighted(rng, domains, cum)
            base = f"{_slug(first)}.{_slug(last)}"
            upper = 99
            while True:
                email = f"{base}{1 + int(rng.random() * upper)}@{domain}"
                if email not in emails:
                    break
                upper = upper * 10 if upper < 10**6 else upper
            emails.add(email)
            if country == "GB":
                prefix = N.GB_MOBILE_PREFIXES[int(rng.random() * len(N.GB_MOBILE_PREFIXES))]
                phone = f"+447{prefix}{int(rng.random() * 10**7):07d}"
            else:
                area = area_codes[int(rng.random() * len(area_codes))]
                while True:
                    exchange = f"{2 + int(rng.random() * 8)}{int(rng.random() * 100):02d}"
                    if exchange[1:] != "11" and exchange != "555":
                        break
                phone = f"+1{area}{exchange}{int(rng.random() * 10000):04d}"
            dob = _day(dob_start + int(rng.random() * dob_span))
            number = 1 + int(rng.random() * (250 if country == "GB" else 9999))
            suffixes = N.STREET_SUFFIXES[country]
            street = f"{number} {N.STREET_NAMES[int(rng.random() * len(N.STREET_NAMES))]} {suffixes[int(rng.random() * len(suffixes))]}"
            pattern = patterns[int(rng.random() * len(patterns))]
            letters = N.POSTCODE_LETTERS[country]
            postcode = "".join(
                str(int(rng.random() * 10)) if ch == "#" else letters[int(rng.random() * len(letters))] if ch == "@" else ch
                for ch in pattern
            )
            person = Person(i, f"P{i + 1:07d}", first, last, email, phone, dob, street, city, state, postcode, country)
            if rng.random() < 0.70:
                counts["web_visitors"] += 1
                n_devices = 1 + bisect.bisect_right(device_cum, rng.random() * device_cum[-1])
                person.anonymous_ids = [uuid4(rng) for _ in range(n_devices)]
                if rng.random() < 0.60:
                    counts["registered_users"] += 1
                    while True:
                        user_id = f"u_{rng.getrandbits(48):012x}"
                        if user_id not in user_ids:
                            break
                    user_ids.add(user_id)
                    person.user_id = user_id
            person.crm = rng.random() < 0.50
            if rng.random() < 0.40:
                loyalty_n += 1
                person.loyalty_id = f"LOY{loyalty_n:07d}"
            if rng.random() < 0.60:
                while True:
                    sub = f"sub_{rng.getrandbits(64):016x}"
                    if sub not in subscriber_ids:
                        break
                subscriber_ids.add(sub)
                person.subscriber_id = sub
            person.requester = rng.random() < 0.15
            person.attendee = rng.random() < 0.05
            counts["crm_contacts"] += person.crm
            counts["loyalty_members"] += bool(person.loyalty_id)
            counts["email_subscribers"] += bool(person.subscriber_id)
            counts["support_requesters"] += person.requester
            counts["event_attendees"] += person.attendee
            self.people.append(person)
        self.touchpoints = counts

    def _share(self) -> None:
        """Decides who shares a device ("the family tablet") with whom; the device itself is picked later.

        About SHARE_RATE of the web/app visitors (at least MIN_SHARED_DEVICES once the world has
        MIN_PEOPLE_FOR_EVERY_KIND people) are owners; each gets a housemate: another visitor of the
        same city and country, with the same last name when one is found. Nobody is in two pairs.
        Own rng phase, so the other streams do not move.
        """
        rng = self.share_rng = self.rng("shared-devices")
        visitors = [p for p in self.people if p.anonymous_ids]
        target = round(len(visitors) * SHARE_RATE)
        if self.force_kinds:
            target = max(target, MIN_SHARED_DEVICES)
        target = min(target, len(visitors) // 2)
        if target == 0:
            return
        by_city: dict[tuple[str, str], list[Person]] = {}
        by_family: dict[tuple[str, str, str], list[Person]] = {}
        for p in visitors:
            by_city.setdefault((p.country, p.city), []).append(p)
            by_family.setdefault((p.country, p.city, p.last_name), []).append(p)
        taken: set[int] = set()
        pairs: list[tuple[Person, Person]] = []

        def housemate(pool: list[Person]) -> Person | None:
            for _ in range(8):  # a few random probes: no scan of a big city per owner
                candidate = pool[int(rng.random() * len(pool))]
                if candidate.index not in taken:
                    return candidate
            return None

        for _ in range(20 * target + 100):
            if len(pairs) == target:
                break
            owner = visitors[int(rng.random() * len(visitors))]
            if owner.index in taken:
                continue
            taken.add(owner.index)  # the owner is never its own housemate
            partner = (housemate(by_family[(owner.country, owner.city, owner.last_name)])
                       or housemate(by_city[(owner.country, owner.city)]))
            if partner is None:
                taken.discard(owner.index)
                continue
            taken.add(partner.index)
            pairs.append((owner, partner))
        pairs.sort(key=lambda pair: pair[0].index)
        self.share_pairs = pairs
        for k, (owner, partner) in enumerate(pairs):
            self.share_of[owner.index] = self.share_of[partner.index] = k

    def _write_people(self) -> None:
        """people.csv (a housemate's shared device listed after their own) and shared_devices.csv."""
        gt = self.out / "ground_truth"
        with open(gt / "people.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(PEOPLE_COLUMNS)
            shared_ids = self.shared_ids
            for p in self.people:
                anonymous_ids = "|".join(p.anonymous_ids)
                if shared_ids and p.index in shared_ids:
                    anonymous_ids += "|" + shared_ids[p.index]
                writer.writerow((
                    p.person_id, p.first_name, p.last_name, p.email, p.phone, p.date_of_birth, p.street, p.city,
                    p.state, p.postcode, p.country, p.user_id, p.loyalty_id, anonymous_ids,
                ))
        with open(gt / "shared_devices.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(SHARED_DEVICE_COLUMNS)
            writer.writerows(self.shared_devices)

    # -- web and app events -------------------------------------------------------------------

    def _events(self) -> None:
        rng = self.rng("events")
        shuffle_rng = self.rng("events-shuffle")
        expected_per_batch = max(1, self.n_people * 9 // self.batches)
        buckets = max(1, -(-expected_per_batch // 25_000))
        paths = [self.out / "landing" / "events" / f"events-{k + 1:04d}.jsonl" for k in range(self.batches)]
        self.ev_out = _ShuffledFiles(paths, self.tmp, buckets, shuffle_rng)
        self.ev_planner = _BadPlanner(
            rng,
            {"missing_id": 0.0012, "future_timestamp": 0.0012, "malformed_email": 0.02,
             "wrong_type": 0.04, "negative_amount": 0.04},
            self.force_kinds,
            self.n_people,
        )
        # late deliveries: only events received shortly before a batch boundary become late
        window_ms = min(10 * DAY_MS, self.period_len_s * 1000)
        if self.batches > 1:
            self.late_p = min(1.0, 0.02 * WINDOW_DAYS * DAY_MS / ((self.batches - 1) * window_ms))
            self.dup_p = 0.01 * self.batches / (self.batches - 1)
        else:
            self.late_p = self.dup_p = 0.0
        self.late_window_ms = window_ms
        self.late_spread_ms = max(HOUR_MS, min(4 * DAY_MS, self.period_len_s * 500))
        self.ev_unique = 0
        self.order_seq = 0
        self._catalog()
        for person in self.people:
            if person.anonymous_ids:
                self._visitor(person, rng)
        self._housemates()  # after everyone, so the streams above are those of a world without sharing
        self.ev_out.close()
        self.rows["events/events"] = sum(self.ev_out.rows)
        self.rows_per_batch["events/events"] = list(self.ev_out.rows)
        self.records["events/events"] = self.ev_unique

    def _catalog(self) -> None:
        self.prices: dict[str, list[float]] = {}
        self.view_json: dict[str, list[str]] = {}
        for country, (currency, factor) in N.CURRENCIES.items():
            prices = [_price(p[4], factor) for p in N.PRODUCTS]
            self.prices[currency] = prices
            self.view_json[currency] = [
                _dumps({"product_id": p[0], "sku": p[1], "category": p[3], "name": p[2], "price": price,
                        "currency": currency})
                for p, price in zip(N.PRODUCTS, prices)
            ]
        self.product_pages = []
        for p in N.PRODUCTS:
            path = f"/p/{_url_slug(p[2])}-{p[0][5:]}"
            self.product_pages.append((path, f"{p[2]} | Northwind"))
        self.category_pages = [(f"/c/{_url_slug(c)}", f"{c} | Northwind") for c in N.PRODUCT_CATEGORIES]

    def _device(self, anonymous_id: str, person: Person, rng: Random) -> Device:
        r = rng.random()
        kind = "web" if r < 0.5 else "mweb" if r < 0.7 else "ios" if r < 0.87 else "android"
        ip = f"{(24, 50, 66, 73, 76, 81, 86, 92, 98, 99, 104, 142, 173, 174, 184, 203)[int(rng.random() * 16)]}." \
             f"{int(rng.random() * 256)}.{int(rng.random() * 256)}.{1 + int(rng.random() * 254)}"
        consent = None
        if rng.random() < 0.35:
            consent = {"categoryPreferences": {
                "analytics": rng.random() < 0.9,
                "advertising": rng.random() < 0.6,
                "personalization": rng.random() < 0.7,
            }}
        skew = 0 if rng.random() < 0.7 else int((rng.random() - 0.5) * 600_000)
        locale = "fr-CA" if person.state == "QC" else f"en-{person.country}"
        if kind in ("web", "mweb"):
            agents = N.WEB_USER_AGENTS if kind == "web" else N.MOBILE_WEB_USER_AGENTS
            agent = agents[int(rng.random() * len(agents))]
            head = _dumps({"ip": ip, "library": N.LIBRARIES["web"], "locale": locale})[:-1] + ',"page":'
            tail = ',"userAgent":' + _dumps(agent)
            if consent is not None:
                tail += ',"consent":' + _dumps(consent)
            return Device(anonymous_id, kind, ip, agent, consent, skew, 30, 1500, head, tail + "}")
        models = N.IOS_DEVICES if kind == "ios" else N.ANDROID_DEVICES
        os_name, os_version, maker, model, agent = models[int(rng.random() * len(models))]
        version, build = N.APP_VERSIONS[kind]
        device_id = uuid4(rng)
        context: dict[str, Any] = {
            "app": {"name": N.APP_NAME, "version": version, "build": build, "namespace": N.APP_NAMESPACE},
            "device": {"id": device_id.upper() if kind == "ios" else device_id, "type": kind,
                       "manufacturer": maker, "model": model},
            "ip": ip,
            "library": N.LIBRARIES[kind],
            "locale": locale,
            "os": {"name": os_name, "version": os_version},
            "userAgent": agent,
        }
        if consent is not None:
            context["consent"] = consent
        return Device(anonymous_id, kind, ip, agent, consent, skew, 200, 30_000, _dumps(context))

    def _visitor(self, person: Person, rng: Random) -> None:
        devices = [self._device(a, person, rng) for a in person.anonymous_ids]
        n_sessions = 1 + bisect.bisect_right(_SESSION_CUM, rng.random() * _SESSION_CUM[-1])
        span = self.end_ms - 6 * HOUR_MS - self.start_ms
        starts = sorted(self.start_ms + int(rng.random() * span) for _ in range(n_sessions))
        register_at = -1
        if person.user_id:
            register_at = 0 if rng.random() < 0.3 else int(rng.random() * n_sessions)
        currency = N.CURRENCIES[person.country][0]
        dev_weights = _DEVICE_SESSION_CUM[len(devices) - 1]
        used: list[Device] | None = None
        share = self.share_of.get(person.index) if self.share_of else None
        if share is not None:
            if self.share_pairs[share][0] is person:  # the owner: remember the devices it really uses
                used = self.share_used[share] = []
            else:  # the housemate: when it registered
                self.share_registered[share] = starts[register_at] if register_at >= 0 else -1
        for s_index, t in enumerate(starts):
            device = devices[bisect.bisect_right(dev_weights, rng.random() * dev_weights[-1])]
            if used is not None:
                used.append(device)
            self._session(person, device, t, s_index >= register_at >= 0, currency, rng)

    def _housemates(self) -> None:
        """Each housemate's sessions on the device its owner shares with it (drawn from the shared-devices rng).

        The device is one the owner had a session on (picked in proportion to its sessions), so both
        people have sessions on it. The housemate's sessions carry the same anonymousId and context
        (device id, IP, user agent) but their own identity: userId and traits only once the housemate
        has registered and identified on it. Each event is recorded for the person who produced it.
        """
        rng = self.share_rng
        span = self.end_ms - 6 * HOUR_MS - self.start_ms
        for k, (owner, partner) in enumerate(self.share_pairs):
            used = self.share_used[k]
            device = used[int(rng.random() * len(used))]
            device_id = "" if device.kind in ("web", "mweb") else json.loads(device.context_head)["device"]["id"]
            self.shared_devices.append(
                (device.anonymous_id, device_id, "|".join(sorted((owner.person_id, partner.person_id)))))
            self.shared_ids[partner.index] = device.anonymous_id
            theirs = replace(device, identified=False)  # same device, the housemate's own login state
            registered_at = self.share_registered[k]
            currency = N.CURRENCIES[partner.country][0]
            n_sessions = 1 + bisect.bisect_right(_SHARED_SESSION_CUM, rng.random() * _SHARED_SESSION_CUM[-1])
            for t in sorted(self.start_ms + int(rng.random() * span) for _ in range(n_sessions)):
                self._session(partner, theirs, t, 0 <= registered_at <= t, currency, rng)

    def _session(self, person: Person, device: Device, t: int, registered: bool, currency: str, rng: Random) -> None:
        web = device.kind in ("web", "mweb")
        user_id = person.user_id if device.identified else None
        state = {"referrer": N.REFERRERS[int(rng.random() * len(N.REFERRERS))]}
        n_pages = min(12, 1 + int(rng.expovariate(0.5)))
        viewed: list[int] = []
        for j in range(n_pages):
            r = rng.random()
            if j == 0:
                kind = "home" if r < 0.4 else "category" if r < 0.65 else "product" if r < 0.95 else "search"
            else:
                kind = "home" if r < 0.1 else "category" if r < 0.35 else "product" if r < 0.9 else "search"
            product = int(rng.random() * len(N.PRODUCTS)) if kind == "product" else -1
            t = self._view(person, device, kind, product, t, user_id, state, web, rng)
            if j == 0 and registered and (not device.identified or rng.random() < 0.12):
                device.identified = True
                user_id = person.user_id
                traits: dict[str, Any] = {"email": varied_email(person.email, rng),
                                          "firstName": person.first_name, "lastName": person.last_name}
                if rng.random() < 0.5:
                    traits["phone"] = international_phone(person.phone, person.country, int(rng.random() * 3))
                t += 500 + int(rng.random() * 3000)
                self._emit(person, device, "identify", "", _dumps(traits), t, user_id, state, web, rng)
            if product >= 0:
                t += 200 + int(rng.random() * 1500)
                self._emit(person, device, "track", "Product Viewed", self.view_json[currency][product],
                           t, user_id, state, web, rng)
                viewed.append(product)
            t += 4000 + int(rng.random() * 90_000)
        if not viewed or rng.random() >= 0.35:
            return
        cart_id = f"{rng.getrandbits(64):016x}"
        cart: list[tuple[int, int]] = []
        for product in dict.fromkeys(viewed if rng.random() < 0.5 else viewed[-1:]):
            quantity = 1 if rng.random() < 0.8 else 2 + int(rng.random() * 2)
            cart.append((product, quantity))
            props = json.loads(self.view_json[currency][product])
            props["quantity"] = quantity
            props["cart_id"] = cart_id
            t += 2000 + int(rng.random() * 20_000)
            self._emit(person, device, "track", "Product Added", _dumps(props), t, user_id, state, web, rng)
        if rng.random() >= 0.45:
            return
        prices = self.prices[currency]
        products = [
            {"product_id": N.PRODUCTS[i][0], "sku": N.PRODUCTS[i][1], "name": N.PRODUCTS[i][2],
             "price": prices[i], "quantity": q}
            for i, q in cart
        ]
        subtotal = _money(sum(prices[i] * q for i, q in cart))
        t = self._view(person, device, "cart", -1, t + 3000 + int(rng.random() * 30_000), user_id, state, web, rng)
        t += 1000 + int(rng.random() * 5000)
        self._emit(person, device, "track", "Checkout Started",
                   _dumps({"value": subtotal, "currency": currency, "products": products}), t, user_id, state,
                   web, rng)
        t = self._view(person, device, "checkout", -1, t + 2000, user_id, state, web, rng)
        if rng.random() >= 0.75:
            return
        self.order_seq += 1
        order_id = f"W{self.order_seq:07d}"
        tax = _money(subtotal * N.TAX_RATES[person.country])
        t += 30_000 + int(rng.random() * 240_000)
        self._emit(person, device, "track", "Order Completed",
                   _dumps({"order_id": order_id, "total": _money(subtotal + tax), "revenue": subtotal, "tax": tax,
                           "currency": currency, "products": products}), t, user_id, state, web, rng)
        self.commerce.web_order(person, order_id, t // 1000, cart, currency, subtotal, tax)
        self._view(person, device, "confirmation", -1, t + 1500, user_id, state, web, rng)

    def _view(self, person: Person, device: Device, kind: str, product: int, t: int, user_id: str | None,
              state: dict[str, Any], web: bool, rng: Random) -> int:
        if kind == "product":
            path, title = self.product_pages[product]
            name = "Product" if web else "Product Detail"
        elif kind == "category":
            path, title = self.category_pages[int(rng.random() * len(self.category_pages))]
            name = "Category"
        elif kind == "home":
            path, title, name = "/", "Northwind Outfitters | Gear for every trail", "Home"
        elif kind == "search":
            path, title, name = "/search", "Search | Northwind", "Search"
        elif kind == "cart":
            path, title, name = "/cart", "Your cart | Northwind", "Cart"
        elif kind == "checkout":
            path, title, name = "/checkout", "Checkout | Northwind", "Checkout"
        else:
            path, title, name = "/checkout/confirmation", "Thank you | Northwind", "Order Confirmation"
        if web:
            url = N.SITE_URL + path
            page: dict[str, Any] = {"path": path, "referrer": state["referrer"], "title": title, "url": url}
            if kind == "search":
                term = N.SEARCH_TERMS[int(rng.random() * len(N.SEARCH_TERMS))]
                page["search"] = f"?q={term.replace(' ', '+')}"
                page["url"] = url + page["search"]
            page_json = _dumps(page)
            state["page"] = page_json
            state["referrer"] = page["url"]
            self._emit(person, device, "page", name, page_json, t, user_id, state, web, rng)
        else:
            props = f'{{"product_id":"{N.PRODUCTS[product][0]}"}}' if product >= 0 else "{}"
            self._emit(person, device, "screen", name, props, t, user_id, state, web, rng)
        return t

    def _emit(self, person: Person, device: Device, etype: str, name: str, body: str, t: int,
              user_id: str | None, state: dict[str, Any], web: bool, rng: Random) -> None:
        """Writes one event. `body` is the JSON of its properties (or traits on identify)."""
        random = rng.random
        net = 20 + int(random() * 400)
        delay = device.delay_ms + int(random() * device.delay_span_ms)
        received = t + delay + net
        if received >= self.end_ms:
            received = self.end_ms - 1
            delay = max(0, received - net - t)
        period = self.period_ms(received)
        last = self.batches - 1
        if (period < last and received >= self.bounds_ms[period + 1] - self.late_window_ms
                and random() < self.late_p):
            received = max(self.bounds_ms[period + 1], t + DAY_MS) + int(random() * self.late_spread_ms)
            received = min(received, self.end_ms - 1)
            delay = received - net - t
            period = self.period_ms(received)
        original = t + device.skew_ms
        context = device.context_head + state["page"] + device.context_tail if web else device.context_head
        message_id = uuid4(rng)
        if etype == "track":
            label = f',"event":"{name}"'
        elif etype == "identify":
            label = ""
        else:
            label = f',"name":"{name}"'
        line = (
            f'{{"messageId":"{message_id}","type":"{etype}"{label},"anonymousId":"{device.anonymous_id}",'
            f'"userId":{"null" if user_id is None else chr(34) + user_id + chr(34)},'
            f'"timestamp":"{iso_ms(t + net)}","originalTimestamp":"{iso_ms(original)}",'
            f'"sentAt":"{iso_ms(original + delay)}","receivedAt":"{iso_ms(received)}","context":{context},'
            f'"{"traits" if etype == "identify" else "properties"}":{body}}}\n'
        )
        if etype == "identify":
            eligible = _IDENTIFY_KINDS
        else:
            eligible = _ORDER_KINDS if name == "Order Completed" else _ANY_EVENT_KINDS
        kind = self.ev_planner.pick(eligible, person.index)
        if kind is not None:
            event = json.loads(line)
            self._plant_event_defect(event, kind, person, rng)
            line = _dumps(event) + "\n"
        self.ev_out.add(period, line)
        self.ev_unique += 1
        if period < last and random() < self.dup_p:
            again = min(last, period + 1 + (random() < 0.3))
            self.ev_out.add(again, line)
        self.record_files["events/events"].write(f"events,events,{message_id},{person.person_id}\n")

    def _plant_event_defect(self, event: dict[str, Any], kind: str, person: Person, rng: Random) -> None:
        key = event["messageId"]
        if kind == "malformed_email":
            event["traits"] = dict(event["traits"], email=malformed_email(person.email, rng))
            self.bad("events/events", key, kind, "traits.email", event["traits"]["email"])
        elif kind == "missing_id":
            event["anonymousId"] = None
            event["userId"] = None
            self.bad("events/events", key, kind, "userId|anonymousId", "")
        elif kind == "future_timestamp":
            event["timestamp"] = future(event["timestamp"])
            self.bad("events/events", key, kind, "timestamp", event["timestamp"])
        elif kind == "wrong_type":
            value = ("N/A", "n/a", "unknown", "TBD", "--")[int(rng.random() * 5)]
            event["properties"] = dict(event["properties"], revenue=value)
            self.bad("events/events", key, kind, "properties.revenue", value)
        else:  # negative_amount
            value = -event["properties"]["revenue"]
            event["properties"] = dict(event["properties"], revenue=value)
            self.bad("events/events", key, kind, "properties.revenue", value)

    # -- CRM ----------------------------------------------------------------------------------

    def _crm(self) -> None:
        rng = self.rng("crm")
        seed_dir = self.out / "systems" / "crm_seed"
        seed_dir.mkdir(parents=True, exist_ok=True)
        crm_people = [p for p in self.people if p.crm]
        window_ms = self.end_ms - self.start_ms
        # companies
        n_companies = max(3, round(len(crm_people) / 25))
        seen_names: set[str] = set()
        domains: set[str] = set()
        companies = []
        while len(companies) < n_companies:
            prefix = N.COMPANY_PREFIXES[int(rng.random() * len(N.COMPANY_PREFIXES))]
            core = N.COMPANY_CORES[int(rng.random() * len(N.COMPANY_CORES))]
            suffix = N.COMPANY_SUFFIXES[int(rng.random() * len(N.COMPANY_SUFFIXES))]
            name = f"{prefix} {core} {suffix}"
            if name in seen_names:
                if len(seen_names) >= len(N.COMPANY_PREFIXES) * len(N.COMPANY_CORES) * len(N.COMPANY_SUFFIXES):
                    name = f"{name} {len(companies) + 1}"
                else:
                    continue
            seen_names.add(name)
            country = _weighted(rng, _COUNTRIES, _COMPANY_COUNTRY_CUM)
            city = N.CITIES[country][int(rng.random() * len(N.CITIES[country]))][0]
            tld = {"US": ".com", "GB": ".co.uk", "CA": ".ca"}[country]
            stem = _slug(prefix + core)
            domain, n = stem + tld, 1
            while domain in domains:
                n += 1
                domain = f"{stem}{n}{tld}"
            domains.add(domain)
            created = self.start_ms + int(rng.random() * (window_ms - DAY_MS))
            updated = created if rng.random() < 0.5 else min(self.end_ms - 1, created + int(rng.random() * 90 * DAY_MS))
            industry = N.INDUSTRIES[int(rng.random() * len(N.INDUSTRIES))]
            companies.append((created, len(companies), name, domain, industry, city, country, updated))
        companies.sort()
        company_ids = []
        lines = []
        for i, (created, _, name, domain, industry, city, country, updated) in enumerate(companies):
            cid = str(3_000_001 + i)
            company_ids.append((cid, name))
            c, u = iso_ms(created), iso_ms(updated)
            lines.append(_dumps({
                "id": cid,
                "properties": {"name": name, "domain": domain, "industry": industry, "city": city,
                               "country": country, "createdate": c, "lastmodifieddate": u,
                               "hs_lastmodifieddate": u, "hs_object_id": cid},
                "createdAt": c, "updatedAt": u, "archived": False,
            }) + "\n")
        (seed_dir / "companies.jsonl").write_text("".join(lines), encoding="utf-8")
        self.rows["crm/companies"] = self.records["crm/companies"] = len(lines)
        self.rows_per_batch["crm/companies"] = self._per_batch(u for *_, u in companies)

        # contacts: the person's data with hand-entry mess, sorted by creation (ids follow it)
        owners = [str(40_000_000 + int(rng.random() * 9_000_000)) for _ in range(8)]
        stages = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
                  "evangelist", "other")
        stage_cum = _cum((18, 30, 14, 8, 6, 18, 3, 3))
        specs = []
        for person in crm_people:
            copies = 2 if rng.random() < 0.04 else 1
            for copy in range(copies):
                created = self.start_ms + int(rng.random() * (window_ms - DAY_MS))
                updated = created if rng.random() < 0.45 else min(self.end_ms - 1, created + int(rng.random() * 120 * DAY_MS))
                specs.append((created, len(specs), person, copy, updated))
        specs.sort(key=lambda s: (s[0], s[1]))
        self.crm_owner_ids = owners
        self.crm_contacts: list[tuple[str, int, str, str | None, str | None]] = []  # id, created, stage, owner, company
        bad_plan = _exact_bad_rows(rng, len(specs), BAD_KINDS["crm/contacts"], self.n_people)
        with open(seed_dir / "contacts.jsonl", "w", encoding="utf-8", newline="") as handle:
            for i, (created, _, person, copy, updated) in enumerate(specs):
                cid = str(1001 + i)
                email = person.email
                first: str | None = person.first_name
                last: str | None = person.last_name
                if copy:
                    local, domain = email.split("@")
                    r = rng.random()
                    if r < 0.4 and domain in N.DOMAIN_TYPOS:
                        typos = N.DOMAIN_TYPOS[domain]
                        email = f"{local}@{typos[int(rng.random() * len(typos))]}"
                    elif r < 0.75 and len(local) > 3:
                        j = 1 + int(rng.random() * (len(local) - 2))
                        if local[j] == local[j + 1] or "." in local[j:j + 2]:
                            j = 0
                        email = f"{local[:j]}{local[j + 1]}{local[j]}{local[j + 2:]}@{domain}"
                    else:
                        email = ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize()
                    r = rng.random()
                    if r < 0.35 and first in N.NICKNAMES:
                        first = N.NICKNAMES[first]
                    elif r < 0.55 and first:
                        first = first[0] + "."
                    elif r < 0.75 and first and last:
                        first, last = first.lower(), last.upper()
                elif rng.random() < 0.06:
                    email = email.capitalize()
                if rng.random() < 0.05:
                    first = last = None
                phone = None if rng.random() < 0.15 else format_phone(person.phone, person.country, int(rng.random() * 6))
                kind = bad_plan.get(i)
                if kind == "malformed_email":
                    email = malformed_email(person.email, rng)
                    self.bad("crm/contacts", cid, kind, "email", email)
                elif kind == "malformed_phone":
                    phone = malformed_phone(person.phone, person.country, rng)
                    self.bad("crm/contacts", cid, kind, "phone", phone)
                company_id = company_name = job = None
                if rng.random() < 0.65:
                    company_id, company_name = company_ids[int(rng.random() * len(company_ids))]
                    job = N.JOB_TITLES[int(rng.random() * len(N.JOB_TITLES))]
                c, u = iso_ms(created), iso_ms(updated)
                owner = None if rng.random() < 0.1 else owners[int(rng.random() * len(owners))]
                properties = {
                    "email": email, "firstname": first, "lastname": last, "phone": phone, "company": company_name,
                    "jobtitle": job, "city": person.city, "state": person.state, "zip": person.postcode,
                    "country": person.country, "lifecyclestage": _weighted(rng, stages, stage_cum),
                    "hubspot_owner_id": owner, "hs_email_optout": "true" if rng.random() < 0.08 else "false",
                    "associatedcompanyid": company_id, "createdate": c, "lastmodifieddate": u, "hs_object_id": cid,
                }
                handle.write(_dumps({"id": cid, "properties": properties, "createdAt": c, "updatedAt": u,
                                     "archived": False}) + "\n")
                self.record("crm/contacts", cid, person.person_id)
                self.crm_contacts.append((cid, created, properties["lifecyclestage"], owner, company_name))
        self.rows["crm/contacts"] = self.records["crm/contacts"] = len(specs)
        self.rows_per_batch["crm/contacts"] = self._per_batch(s[4] for s in specs)

    def _crm_owners_and_deals(self) -> None:
        """The CRM's owners and deals, from their own rng phases so nothing generated before moves.

        Owners are the sales team behind the contacts' `hubspot_owner_id` values. Deals follow
        the contact's lifecycle stage (customers and evangelists have won deals, opportunities
        open ones, subscribers none); a deal is associated with its contact and sometimes with a
        colleague at the same company, and a few deals have no contact at all.
        """
        seed_dir = self.out / "systems" / "crm_seed"
        window_ms = self.end_ms - self.start_ms
        # owners
        rng = self.rng("crm-owners")
        owner_ids = list(dict.fromkeys(self.crm_owner_ids))
        domain = N.SITE_URL.split("//", 1)[1].removeprefix("www.")
        emails: set[str] = set()
        user_ids: set[int] = set()
        lines = []
        owner_updates = []
        for owner_id in owner_ids:
            first = N.FIRST_NAMES[int(rng.random() * len(N.FIRST_NAMES))]
            last = N.LAST_NAMES[int(rng.random() * len(N.LAST_NAMES))]
            email, n = f"{_slug(first)}.{_slug(last)}@{domain}", 1
            while email in emails:
                n += 1
                email = f"{_slug(first)}.{_slug(last)}{n}@{domain}"
            emails.add(email)
            user_id = 9_000_000 + int(rng.random() * 1_000_000)
            while user_id in user_ids:
                user_id += 1
            user_ids.add(user_id)
            created = self.start_ms - int((30 + rng.random() * 3 * 365) * DAY_MS)  # on the team before the window
            updated = created if rng.random() < 0.5 else self.start_ms + int(rng.random() * (window_ms - DAY_MS))
            owner_updates.append(updated)
            lines.append(_dumps({
                "id": owner_id, "email": email, "type": "PERSON", "firstName": first, "lastName": last,
                "userId": user_id, "userIdIncludingInactive": user_id, "createdAt": iso_ms(created),
                "updatedAt": iso_ms(updated), "archived": False,
            }) + "\n")
        (seed_dir / "owners.jsonl").write_text("".join(lines), encoding="utf-8")
        self.rows["crm/owners"] = self.records["crm/owners"] = len(lines)
        self.rows_per_batch["crm/owners"] = self._per_batch(owner_updates)

        # deals: (created, order, contact ids, stage, owner, who)
        rng = self.rng("crm-deals")
        colleagues: dict[str, list[str]] = {}
        for cid, _created, _stage, _owner, company in self.crm_contacts:
            if company:
                colleagues.setdefault(company, []).append(cid)
        latest_start = self.end_ms - DAY_MS
        drafts: list[tuple[int, int, list[str], str, str | None, str]] = []

        def owner_for(contact_owner: str | None) -> str | None:
            r = rng.random()
            if r < 0.04 or not owner_ids:
                return None
            if r < 0.85 and contact_owner:
                return contact_owner
            return owner_ids[int(rng.random() * len(owner_ids))]

        for cid, contact_created, stage, contact_owner, company in self.crm_contacts:
            chance, more = _DEAL_CHANCES[stage]
            if rng.random() >= chance:
                continue
            n = 1
            while rng.random() < more and n < 5:
                n += 1
            for k in range(n):
                if stage in ("customer", "evangelist"):
                    deal_stage = "closedwon" if k == 0 else _weighted(rng, DEAL_STAGES, _CUSTOMER_STAGE_CUM)
                else:
                    deal_stage = _weighted(rng, DEAL_STAGES, _STAGE_CUM[stage])
                created = contact_created + int(rng.random() ** 2 * max(1, latest_start - contact_created))
                contacts = [cid]
                others = [c for c in colleagues.get(company or "", ()) if c != cid]
                if others and rng.random() < 0.15:
                    contacts.append(others[int(rng.random() * len(others))])
                drafts.append((created, len(drafts), contacts, deal_stage, owner_for(contact_owner), company or "Direct sale"))
        # deals someone opened without linking a contact: about 3 %, at least one in a world with deals
        for _ in range(max(1, round(len(drafts) * 0.03)) if drafts else 0):
            created = self.start_ms + int(rng.random() * (window_ms - DAY_MS))
            orphan_stage = _weighted(rng, DEAL_STAGES, _STAGE_CUM["other"])
            drafts.append((created, len(drafts), [], orphan_stage, owner_for(None), "Direct sale"))
        drafts.sort()
        deal_lines, link_lines, updates, link_updates = [], [], [], []
        for i, (created, _order, contacts, deal_stage, owner, who) in enumerate(drafts):
            deal_id = str(20_000_001 + i)
            category = N.PRODUCT_CATEGORIES[int(rng.random() * len(N.PRODUCT_CATEGORIES))]
            kind = _DEAL_KINDS[int(rng.random() * len(_DEAL_KINDS))]
            amount = None if rng.random() < 0.03 else str(int(round(150 + rng.lognormvariate(7.3, 0.9), -1)))
            if deal_stage in ("closedwon", "closedlost"):
                closed: int | None = created + int(rng.random() * min(90 * DAY_MS, self.end_ms - 1 - created))
                updated = closed if rng.random() < 0.7 else min(self.end_ms - 1, closed + int(rng.random() * 20 * DAY_MS))
            else:
                expected = created + int((14 + rng.random() * 76) * DAY_MS)
                closed = expected if rng.random() < 0.7 and expected < self.end_ms else None
                updated = created if rng.random() < 0.4 else min(self.end_ms - 1, created + int(rng.random() * 60 * DAY_MS))
            c, u = iso_ms(created), iso_ms(updated)
            deal_lines.append(_dumps({
                "id": deal_id,
                "properties": {
                    "dealname": f"{who} - {category} {kind}", "amount": amount, "dealstage": deal_stage,
                    "pipeline": "default", "closedate": None if closed is None else iso_ms(closed),
                    "hubspot_owner_id": owner, "createdate": c, "hs_lastmodifieddate": u, "hs_object_id": deal_id,
                },
                "createdAt": c, "updatedAt": u, "archived": False,
            }) + "\n")
            updates.append(updated)
            for contact_id in sorted(contacts, key=int):
                link_lines.append(_dumps({"dealId": deal_id, "contactId": contact_id}) + "\n")
                link_updates.append(updated)
        (seed_dir / "deals.jsonl").write_text("".join(deal_lines), encoding="utf-8")
        (seed_dir / "deal_contacts.jsonl").write_text("".join(link_lines), encoding="utf-8")
        self.rows["crm/deals"] = self.records["crm/deals"] = len(deal_lines)
        self.rows_per_batch["crm/deals"] = self._per_batch(updates)
        self.rows["crm/deal_contacts"] = self.records["crm/deal_contacts"] = len(link_lines)
        self.rows_per_batch["crm/deal_contacts"] = self._per_batch(link_updates)

    def _per_batch(self, times_ms: Any) -> list[int]:
        counts = [0] * self.batches
        for t in times_ms:
            counts[self.period_ms(t)] += 1
        return counts

    # -- email platform -----------------------------------------------------------------------

    def _email(self) -> None:
        rng = self.rng("email")
        subscribers = [p for p in self.people if p.subscriber_id]
        window = self.end_s - self.start_s
        subscribed = [
            self.start_s - 1 if rng.random() < 0.6 else self.start_s + int(rng.random() * (window - DAY_S))
            for _ in subscribers
        ]
        active = [True] * len(subscribers)
        paths = [self.out / "landing" / "email" / f"email-events-{k + 1:04d}.jsonl" for k in range(self.batches)]
        out = _BufferedFiles(paths)
        n_campaigns = 104
        planner = _BadPlanner(rng, {"missing_id": 0.0025, "future_timestamp": 0.0025}, self.force_kinds, n_campaigns)
        any_kind = ("missing_id", "future_timestamp")
        seq = 0
        rows = 0
        themes = N.CAMPAIGN_THEMES
        # the platform's subscribe events (double opt-in confirmed): those who subscribed before
        # the world began arrive with the member import at its start
        for s, person in enumerate(subscribers):
            when = max(subscribed[s], self.start_s)
            seq += 1
            event_id = f"evt_{seq:09d}"
            out.add(self.period_s(when), _dumps({
                "event_id": event_id, "event_type": "subscribed", "email": person.email,
                "subscriber_id": person.subscriber_id, "campaign_id": None, "campaign_name": None,
                "occurred_at": iso_s(when), "link_url": None, "bounce_type": None,
            }) + "\n")
            rows += 1
            self.record("email/email_events", event_id, person.person_id)
        for c in range(n_campaigns):
            day_start = self.start_s + (c * window // n_campaigns) // DAY_S * DAY_S + DAY_S
            send = day_start + 13 * 3600 + int(rng.random() * 4 * 3600)
            campaign_id = f"cmp_{c + 1:04d}"
            campaign_name = f"{themes[int(rng.random() * len(themes))]} {_day(send // DAY_S)}"
            slug = f"utm_source=email&utm_medium=newsletter&utm_campaign={campaign_id}"
            k = min(len(subscribers), int(0.05 * len(subscribers) + rng.random()))
            for s in sorted(rng.sample(range(len(subscribers)), k)):
                if not active[s] or subscribed[s] >= send:
                    continue
                person = subscribers[s]
                t = send + int(rng.random() * 1800)
                chain: list[tuple[str, int, str | None, str | None]] = [("sent", t, None, None)]
                t += 1 + int(rng.random() * 60)
                if rng.random() < 0.03:
                    hard = rng.random() < 0.3
                    chain.append(("bounced", t, None, "hard" if hard else "soft"))
                    if hard:
                        active[s] = False
                else:
                    chain.append(("delivered", t, None, None))
                    if rng.random() < 0.32:
                        t += min(7 * DAY_S, 60 + int(rng.expovariate(1 / 21600)))
                        chain.append(("opened", t, None, None))
                        if rng.random() < 0.3:
                            t += 5 + int(rng.random() * 600)
                            product = N.PRODUCTS[int(rng.random() * len(N.PRODUCTS))]
                            link = f"{N.SITE_URL}/p/{_url_slug(product[2])}-{product[0][5:]}?{slug}"
                            chain.append(("clicked", t, link, None))
                        if rng.random() < 0.015:
                            t += 20 + int(rng.random() * 900)
                            chain.append(("unsubscribed", t, None, None))
                            active[s] = False
                for event_type, when, link, bounce in chain:
                    if when >= self.end_s:
                        break
                    seq += 1
                    event_id = f"evt_{seq:09d}"
                    occurred = iso_s(when)
                    email: str | None = person.email
                    subscriber_id: str | None = person.subscriber_id
                    kind = planner.pick(any_kind, c)
                    if kind == "missing_id":
                        email = subscriber_id = None
                        self.bad("email/email_events", event_id, kind, "email|subscriber_id", "")
                    elif kind == "future_timestamp":
                        occurred = future(occurred)
                        self.bad("email/email_events", event_id, kind, "occurred_at", occurred)
                    out.add(self.period_s(when), _dumps({
                        "event_id": event_id, "event_type": event_type, "email": email,
                        "subscriber_id": subscriber_id, "campaign_id": campaign_id, "campaign_name": campaign_name,
                        "occurred_at": occurred, "link_url": link, "bounce_type": bounce,
                    }) + "\n")
                    rows += 1
                    self.record("email/email_events", event_id, person.person_id)
        out.flush()
        self.rows["email/email_events"] = self.records["email/email_events"] = rows
        self.rows_per_batch["email/email_events"] = list(out.rows)

    # -- support tickets ----------------------------------------------------------------------

    def _support(self) -> None:
        rng = self.rng("support")
        window = self.end_s - self.start_s
        tickets = []
        for person in self.people:
            if not person.requester:
                continue
            n = 1 if rng.random() < 0.65 else 2 if rng.random() < 0.7 else 3
            for _ in range(n):
                created = self.start_s + int(rng.random() * (window - 3600))
                subject, tags = N.TICKET_SUBJECTS[int(rng.random() * len(N.TICKET_SUBJECTS))]
                # status history: (time, status)
                history = [(created, "new")]
                t = created + 600 + int(rng.random() * 86_400)
                history.append((t, "open"))
                if rng.random() < 0.5:
                    t += 3600 + int(rng.random() * 3 * DAY_S)
                    history.append((t, "pending"))
                if rng.random() < 0.92:
                    t += 3600 + int(rng.random() * 10 * DAY_S)
                    history.append((t, "solved"))
                    history.append((t + 4 * DAY_S, "closed"))
                history = [h for h in history if h[0] < self.end_s]
                r = rng.random()
                channel = "email" if r < 0.45 else "web" if r < 0.75 else "chat" if r < 0.92 else "phone"
                r = rng.random()
                priority = "low" if r < 0.2 else "normal" if r < 0.8 else "high" if r < 0.96 else "urgent"
                phone = None
                if channel == "phone" or rng.random() < 0.3:
                    phone = international_phone(person.phone, person.country, int(rng.random() * 3))
                extra = ("loyalty_member",) if person.loyalty_id and rng.random() < 0.5 else ()
                tickets.append([created, len(tickets), person, subject, list(tags) + [f"via_{channel}", *extra],
                                channel, priority, varied_email(person.email, rng).strip(), phone, history])
        tickets.sort(key=lambda row: (row[0], row[1]))
        bad_plan = _exact_bad_rows(rng, len(tickets), BAD_KINDS["support/tickets"], self.n_people)
        snapshots: list[list[tuple[int, int, str]]] = [[] for _ in range(self.batches)]
        for i, (created, _, person, subject, tags, channel, priority, email, phone, history) in enumerate(tickets):
            ticket_id = 10_001 + i
            created_text = iso_s(created)
            kind = bad_plan.get(i)
            if kind == "malformed_email":
                email = malformed_email(person.email, rng)
                self.bad("support/tickets", str(ticket_id), kind, "requester.email", email)
            elif kind == "future_timestamp":
                created_text = future(created_text)
                self.bad("support/tickets", str(ticket_id), kind, "created_at", created_text)
            requester = {"email": email, "name": f"{person.first_name} {person.last_name}", "phone": phone}
            self.record("support/tickets", str(ticket_id), person.person_id)
            # one snapshot per period in which the ticket changed: its state at the period's last change
            last_in_period: dict[int, tuple[int, str]] = {}
            for when, status in history:
                last_in_period[self.period_s(when)] = (when, status)
            for period, (when, status) in sorted(last_in_period.items()):
                line = _dumps({
                    "id": ticket_id, "subject": subject, "status": status, "priority": priority, "channel": channel,
                    "requester": requester, "tags": tags, "created_at": created_text, "updated_at": iso_s(when),
                }) + "\n"
                snapshots[period].append((when, ticket_id, line))
        counts = []
        for k, lines in enumerate(snapshots):
            lines.sort(key=lambda row: (row[0], row[1]))
            path = self.out / "landing" / "support" / f"tickets-{k + 1:04d}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(line for _, _, line in lines), encoding="utf-8")
            counts.append(len(lines))
        self.rows["support/tickets"] = sum(counts)
        self.records["support/tickets"] = len(tickets)
        self.rows_per_batch["support/tickets"] = counts

    # -- customer list ------------------------------------------------------------------------

    def _lists(self) -> None:
        rng = self.rng("lists")
        attendees = [p for p in self.people if p.attendee]
        width = max(6, len(str(len(attendees) * 3)))
        ids = rng.sample(range(1, 10**width), len(attendees))
        ticket_types = tuple(t for t, _ in N.TICKET_TYPES)
        ticket_cum = _cum(w for _, w in N.TICKET_TYPES)
        bad_plan = _exact_bad_rows(rng, len(attendees), BAD_KINDS["lists/event_attendees"], self.n_people)
        folder = self.out / "landing" / "lists"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "event_attendees.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(ATTENDEE_COLUMNS)
            for i, person in enumerate(attendees):
                key = f"EB-{ids[i]:0{width}d}"
                r = rng.random()
                email = "" if r < 0.03 else varied_email(person.email, rng).strip()
                mobile = "" if email and rng.random() < 0.2 else format_phone(person.phone, person.country, int(rng.random() * 6))
                dob = "" if rng.random() < 0.05 else person.date_of_birth
                kind = bad_plan.get(i)
                if kind == "malformed_email":
                    email = malformed_email(person.email, rng)
                    self.bad("lists/event_attendees", key, kind, "Email Address", email)
                elif kind == "malformed_phone":
                    mobile = malformed_phone(person.phone, person.country, rng)
                    self.bad("lists/event_attendees", key, kind, "Mobile", mobile)
                elif kind == "wrong_type":
                    dob = ("N/A", "unknown", "n/a", "TBD", "not given")[int(rng.random() * 5)]
                    self.bad("lists/event_attendees", key, kind, "Date of Birth", dob)
                elif kind == "missing_id":
                    email = mobile = ""
                    self.bad("lists/event_attendees", key, kind, "Email Address|Mobile", "")
                writer.writerow((
                    key, email, mobile, person.first_name, person.last_name, dob, person.street, person.city,
                    person.postcode, person.state, person.country, _weighted(rng, ticket_types, ticket_cum),
                    "yes" if rng.random() < 0.55 else "no",
                ))
                self.record("lists/event_attendees", key, person.person_id)
        (folder / "event_attendees.yaml").write_text(ATTENDEES_MAPPING, encoding="utf-8")
        self.rows["lists/event_attendees"] = self.records["lists/event_attendees"] = len(attendees)


_COUNTRIES = ("US", "GB", "CA")
_COUNTRY_CUM = _cum((85, 10, 5))
_COMPANY_COUNTRY_CUM = _cum((80, 12, 8))
_SESSION_CUM = _cum((34, 24, 15, 10, 7, 4, 3, 2, 1))  # 1..9 sessions a year
_DEVICE_SESSION_CUM = (_cum((1,)), _cum((65, 35)), _cum((55, 30, 15)))
_SHARED_SESSION_CUM = _cum((40, 35, 25))  # a housemate's 1..3 sessions on the shared device
_ANY_EVENT_KINDS = ("missing_id", "future_timestamp")
_IDENTIFY_KINDS = ("malformed_email", "missing_id", "future_timestamp")
_ORDER_KINDS = ("wrong_type", "negative_amount", "missing_id", "future_timestamp")


class _Commerce:
    """The point-of-sale database: stores, loyalty customers, web and store orders, order lines."""

    chunk = 5_000

    def __init__(self, world: World) -> None:
        self.world = world
        path = world.out / "systems" / "pos.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.executescript(POS_SCHEMA)
        self.orders: list[tuple[Any, ...]] = []
        self.lines: list[tuple[Any, ...]] = []
        self.web_rng = world.rng("web-orders")
        self.rng = world.rng("commerce")
        self.order_planner = _BadPlanner(
            self.rng,
            {"negative_amount": 0.0017, "future_timestamp": 0.0017, "malformed_email": 0.02},
            world.force_kinds,
            world.n_people,
        )
        self.line_planner = _BadPlanner(self.rng, {"negative_amount": 0.005}, world.force_kinds, world.n_people)
        self.counts = {"orders": [0] * world.batches, "order_lines": [0] * world.batches,
                       "customers": [0] * world.batches, "stores": [0] * world.batches}
        self.pos_seq = 0
        stores = []
        for store_id, name, city, country in N.STORES:
            updated = world.start_s + int(self.rng.random() * 6 * 3600)
            stores.append((store_id, name, city, country, sql_ts(updated)))
            self.counts["stores"][world.period_s(updated)] += 1
        self.db.executemany("INSERT INTO stores VALUES (?, ?, ?, ?, ?)", stores)
        self.stores_by_country: dict[str, list[tuple[str, str]]] = {}
        for store_id, _name, city, country in N.STORES:
            self.stores_by_country.setdefault(country, []).append((store_id, city))

    # orders ----------------------------------------------------------------------------------

    def _add_order(self, order_id: str, channel: str, store_id: str | None, loyalty_id: str | None,
                   email: str | None, first: str | None, last: str | None, postcode: str | None, currency: str,
                   cart: list[tuple[int, int]], tax_rate: float, ordered: int, status: str, updated: int,
                   person: Person | None, rng: Random) -> None:
        world = self.world
        prices = world.prices[currency]
        subtotal = _money(sum(prices[i] * q for i, q in cart))
        tax = _money(subtotal * tax_rate)
        total = _money(subtotal + tax)
        ordered_text = sql_ts(ordered)
        position = person.index if person is not None else world.n_people
        eligible = _WEB_ORDER_KINDS if email else _POS_ORDER_KINDS
        kind = self.order_planner.pick(eligible, position)
        if kind == "negative_amount":
            total = -total
            world.bad("commerce/orders", order_id, kind, "total_amount", f"{total:.2f}")
        elif kind == "future_timestamp":
            ordered_text = future(ordered_text)
            world.bad("commerce/orders", order_id, kind, "ordered_at", ordered_text)
        elif kind == "malformed_email" and person is not None:
            email = malformed_email(person.email, rng)
            world.bad("commerce/orders", order_id, kind, "email", email)
        updated_text = sql_ts(updated)
        self.orders.append((order_id, channel, store_id, loyalty_id, email, first, last, postcode, currency,
                            subtotal, tax, total, status, ordered_text, updated_text))
        period = world.period_s(updated)
        self.counts["orders"][period] += 1
        pid = person.person_id if person is not None else ""
        world.record("commerce/orders", order_id, pid)
        line_time = sql_ts(ordered)
        line_period = world.period_s(ordered)
        for n, (i, q) in enumerate(cart, start=1):
            line_id = f"{order_id}-{n}"
            quantity = q
            if self.line_planner.pick(_LINE_KINDS, position):
                quantity = -q
                world.bad("commerce/order_lines", line_id, "negative_amount", "quantity", quantity)
            product = N.PRODUCTS[i]
            self.lines.append((line_id, order_id, product[1], product[2], quantity, prices[i],
                               _money(prices[i] * q), line_time))
            self.counts["order_lines"][line_period] += 1
            world.record("commerce/order_lines", line_id, pid)
        if len(self.orders) >= self.chunk:
            self._flush()

    def _flush(self) -> None:
        if self.orders:
            self.db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self.orders)
            self.orders.clear()
        if self.lines:
            self.db.executemany("INSERT INTO order_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self.lines)
            self.lines.clear()

    def _status(self, ordered: int, rng: Random, refund: float, cancel: float) -> tuple[str, int]:
        r = rng.random()
        if r < refund + cancel:
            status = "refunded" if r < refund else "cancelled"
            later = ordered + (2 * 86_400 + int(rng.random() * 28 * 86_400) if status == "refunded"
                               else 600 + int(rng.random() * 86_400))
            if later < self.world.end_s:
                return status, later
        return "completed", ordered + int(rng.random() * 120)

    def web_order(self, person: Person, order_id: str, ordered: int, cart: list[tuple[int, int]], currency: str,
                  subtotal: float, tax: float) -> None:
        rng = self.web_rng
        status, updated = self._status(ordered, rng, 0.06, 0.04)
        updated = min(updated, self.world.end_s - 1)
        loyalty = person.loyalty_id if person.loyalty_id and rng.random() < 0.6 else None
        email = person.email if rng.random() < 0.85 else varied_email(person.email, rng).strip()
        self._add_order(order_id, "web", None, loyalty, email, person.first_name, person.last_name,
                        person.postcode, currency, cart, N.TAX_RATES[person.country], ordered, status, updated,
                        person, rng)

    def _cart(self, rng: Random) -> list[tuple[int, int]]:
        n = 1 + int(rng.random() * 4) if rng.random() < 0.6 else 1
        products = rng.sample(range(len(N.PRODUCTS)), n)
        return [(p, 1 if rng.random() < 0.75 else 2 + int(rng.random() * 2)) for p in products]

    def _store(self, country: str, city: str, rng: Random) -> tuple[str, str]:
        stores = self.stores_by_country[country]
        for store_id, store_city in stores:
            if store_city == city and rng.random() < 0.8:
                return store_id, country
        return stores[int(rng.random() * len(stores))][0], country

    def _pos_order(self, person: Person | None, mode: str, when: int, country: str, city: str, rng: Random) -> None:
        self.pos_seq += 1
        order_id = f"S{self.pos_seq:07d}"
        store_id, store_country = self._store(country, city, rng)
        currency = N.CURRENCIES[store_country][0]
        status, updated = self._status(when, rng, 0.05, 0.0)
        loyalty = first = last = postcode = None
        if person is not None and mode == "loyalty":
            loyalty = person.loyalty_id
        elif person is not None and mode == "name":
            first, last, postcode = person.first_name, person.last_name, person.postcode
        self._add_order(order_id, "pos", store_id, loyalty, None, first, last, postcode, currency, self._cart(rng),
                        N.TAX_RATES[store_country], when, status, min(updated, self.world.end_s - 1), person, rng)

    def finish(self) -> None:
        """Loyalty customers and store orders (web orders were added while the events were written)."""
        world, rng = self.world, self.rng
        window = world.end_s - world.start_s
        customers = []
        order_cum = _cum((25, 25, 20, 15, 10, 5))
        for person in world.people:
            if person.loyalty_id:
                if rng.random() < 0.55:
                    enrolled = world.start_s - 1 - int(rng.random() * 3 * 365 * DAY_S)
                    updated = world.start_s + int(rng.random() * (window - DAY_S))
                else:
                    enrolled = world.start_s + int(rng.random() * (window - 7 * DAY_S))
                    updated = enrolled if rng.random() < 0.6 else min(world.end_s - 1, enrolled + int(rng.random() * 60 * DAY_S))
                email = person.email if rng.random() < 0.92 else None
                phone = None
                if email is None or rng.random() < 0.85:
                    phone = (person.phone if rng.random() < 0.6
                             else format_phone(person.phone, person.country, 1 + int(rng.random() * 5)))
                customers.append((person.loyalty_id, email, phone, person.first_name, person.last_name,
                                  person.postcode, person.country, sql_ts(enrolled), sql_ts(updated)))
                self.counts["customers"][world.period_s(updated)] += 1
                world.record("commerce/customers", person.loyalty_id, person.person_id)
                if len(customers) >= self.chunk:
                    self.db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", customers)
                    customers.clear()
                first_day = max(enrolled, world.start_s)
                n = 1 + bisect.bisect_right(order_cum, rng.random() * order_cum[-1])
                for _ in range(n):
                    when = first_day + int(rng.random() * (world.end_s - 3600 - first_day))
                    mode = "loyalty" if rng.random() < 0.85 else "name"
                    self._pos_order(person, mode, when, person.country, person.city, rng)
            elif rng.random() < 0.22:
                for _ in range(1 if rng.random() < 0.7 else 2):
                    when = world.start_s + int(rng.random() * (window - 3600))
                    self._pos_order(person, "name", when, person.country, person.city, rng)
            while rng.random() < 0.2:  # cash guests nobody can be traced to
                country = _weighted(rng, _COUNTRIES, _COUNTRY_CUM)
                when = world.start_s + int(rng.random() * (window - 3600))
                self._pos_order(None, "none", when, country, "", rng)
        if customers:
            self.db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", customers)
        self._flush()
        self.db.executescript(POS_INDEXES)
        self.db.commit()
        self.db.execute("VACUUM")
        self.db.close()
        for table in ("stores", "customers", "orders", "order_lines"):
            key = f"commerce/{table}"
            world.rows[key] = world.records[key] = sum(self.counts[table])
            world.rows_per_batch[key] = list(self.counts[table])


_WEB_ORDER_KINDS = ("negative_amount", "future_timestamp", "malformed_email")
_POS_ORDER_KINDS = ("negative_amount", "future_timestamp")
_LINE_KINDS = ("negative_amount",)


# Deals: the stages of HubSpot's default pipeline, and by contact lifecycle stage the chance of
# having deals at all and of each further one.
DEAL_STAGES = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
               "contractsent", "closedwon", "closedlost")
_DEAL_CHANCES = {
    "subscriber": (0.0, 0.0), "lead": (0.04, 0.0), "marketingqualifiedlead": (0.10, 0.0),
    "salesqualifiedlead": (0.45, 0.1), "opportunity": (0.90, 0.2), "customer": (0.95, 0.35),
    "evangelist": (0.95, 0.45), "other": (0.05, 0.0),
}
_EARLY_STAGE_CUM = _cum((55, 25, 0, 0, 0, 0, 20))
_STAGE_CUM = {
    "lead": _EARLY_STAGE_CUM, "marketingqualifiedlead": _EARLY_STAGE_CUM, "other": _EARLY_STAGE_CUM,
    "salesqualifiedlead": _cum((40, 35, 5, 0, 0, 0, 20)),
    "opportunity": _cum((10, 20, 25, 15, 15, 0, 15)),
}
_CUSTOMER_STAGE_CUM = _cum((3, 5, 5, 5, 7, 50, 25))
_DEAL_KINDS = ("wholesale order", "team kit", "corporate gifts", "event order", "supply agreement", "store fit-out")


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------


def _prepare(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir {out_dir} exists and is not a directory")
    if out_dir.is_dir():
        entries = sorted(entry.name for entry in out_dir.iterdir())
        if entries:
            previous = (out_dir / "ground_truth" / "summary.json").is_file() or all(
                name in WORLD_DIRS for name in entries
            )
            if not previous:
                raise ValueError(
                    f"out_dir {out_dir} is not empty and does not look like a previous sample world "
                    f"(found {entries[:5]}); pass an empty or new directory"
                )
            for name in WORLD_DIRS:
                path = out_dir / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.exists() or path.is_symlink():
                    path.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def generate_world(
    out_dir: Path,
    people: int = 1000,
    seed: int = 7,
    end: datetime = DEFAULT_END,
    batches: int = 4,
) -> dict[str, Any]:
    """Writes the sample world under `out_dir` (see docs/sample-world.md) and returns its summary.

    The same arguments always give byte-identical files. A previous world in `out_dir` is
    replaced; any other non-empty directory is refused.
    """
    if isinstance(people, bool) or not isinstance(people, int) or people < 1:
        raise ValueError(f"people must be a whole number of at least 1, got {people!r}")
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        raise ValueError(f"batches must be a whole number of at least 1, got {batches!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if not isinstance(end, datetime):
        raise ValueError(f"end must be a datetime, got {end!r}")
    out_dir = Path(out_dir)
    _prepare(out_dir)
    return World(out_dir, people, seed, end, batches).generate()
