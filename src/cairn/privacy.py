"""Personal data (PII): found by column name and content right after reading, handled before anything is kept.

The runner calls `protect` on the table it has just read, before the table is fingerprinted into the store,
profiled, plotted or shown; every value shown afterwards goes through `Protected.mask`, and every message that may
quote data goes through `redact_text`. Nothing here logs, returns or raises with a raw value in it.

Content is judged on a sample of each column, so detection costs the same on a million rows as on ten thousand.
Names only suggest a kind: a column called `Street` holding "Pave" and "Grvl" is not an address. The exception is
person names, which no pattern can tell from other words, so a name like `customer_name` is enough on its own.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cairn.config.schema import Privacy
from cairn.errors import DataError, Problem
from cairn.estimators.text_values import factorized

log = logging.getLogger(__name__)

KIND_WORDS = {
    "email": "e-mail addresses",
    "phone": "phone numbers",
    "ssn": "US social security numbers",
    "card": "payment card numbers",
    "ip": "IP addresses",
    "address": "street addresses",
    "person_name": "person names",
}
MIN_SHARE = 0.3
"""A column is PII of a kind when this share of its sampled values has the kind's form."""
MIN_SHARE_NAMED = 0.1
"""Lower bar when the column's name already says the kind: one value in ten is still a leak."""
HASH_CHARS = 16
SHOWN_CHARS = 40
PLACEHOLDERS = frozenset({"", "nan", "none", "null", "n/a", "na", "-", "?", "<na>"})
"""Values that stand for 'missing' in text; they count neither for nor against a kind."""

# ---------------------------------------------------------------------------------------------------------------
# Column names


def _name_words(name: str) -> set[str]:
    """Lower-case words of a column name and their adjacent pairs: `eMail`, `e_mail`, `E-Mail` all give 'email'."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    words = [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]
    return set(words) | {a + b for a, b in zip(words, words[1:], strict=False)}


NAME_HINTS: dict[str, frozenset[str]] = {
    "email": frozenset({"email", "mail", "emailaddress", "mailaddress"}),
    "phone": frozenset({"phone", "mobile", "tel", "telephone", "cell", "cellphone", "fax", "msisdn", "phonenumber"}),
    "ssn": frozenset({"ssn", "socialsecurity", "socialsecuritynumber", "nationalid"}),
    "card": frozenset({"card", "creditcard", "cardnumber", "ccnumber", "cc", "pan"}),
    "ip": frozenset({"ip", "ipaddress", "ipaddr", "ipv4", "ipv6"}),
    "address": frozenset({"address", "addr", "street", "streetaddress", "address1", "address2", "addressline"}),
}
"""Name words that suggest a kind; content must confirm it (a `Street` of 'Pave'/'Grvl' is not an address)."""

PERSON_NAME_WORDS = frozenset({
    "name", "names", "surname", "forename", "firstname", "lastname", "fullname", "givenname", "familyname",
    "middlename", "maidenname", "nickname", "username", "person",
})
PERSON_ROLES = frozenset({
    "first", "last", "full", "middle", "given", "family", "maiden", "nick", "legal", "display", "real", "birth",
    "customer", "client", "patient", "user", "employee", "person", "contact", "owner", "buyer", "seller", "member",
    "student", "account", "holder", "cardholder", "passenger", "guest", "applicant", "borrower", "tenant", "driver",
    "recipient", "sender", "insured", "policyholder", "beneficiary", "emergency", "father", "mother", "spouse",
    "parent", "child", "manager", "agent", "doctor", "physician", "teacher", "author", "subscriber", "billing",
    "shipping", "primary", "secondary",
})
"""Words that, next to 'name', make it a person's name; `product_name` or `Street_name` stay ordinary columns."""


def _names_a_person(name: str) -> bool:
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower()) if w]
    words = [w for w in words if not w.isdigit()]
    fused = [w for w in words if w.endswith("name") and w[:-4] in PERSON_ROLES]  # customername, firstname
    if not any(w in PERSON_NAME_WORDS for w in words) and not fused:
        return False
    return all(w in PERSON_NAME_WORDS or w in PERSON_ROLES or w in fused for w in words)


def _name_kinds(name: str) -> set[str]:
    words = _name_words(name)
    kinds = {kind for kind, hints in NAME_HINTS.items() if words & hints}
    if _names_a_person(name):
        kinds.add("person_name")
    return kinds


# ---------------------------------------------------------------------------------------------------------------
# Values: each kind's form. `named` loosens a form when the column's name already says the kind.

_EMAIL = re.compile(r"[A-Za-z0-9_%+-][A-Za-z0-9._%+'-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_SSN = re.compile(r"(?!000|666|9)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}")
_SSN_BARE = re.compile(r"(?!000|666|9)\d{3}(?!00)\d{2}(?!0000)\d{4}")
_CARD = re.compile(r"\d(?:[ -]?\d){12,18}")
_PHONE = re.compile(r"(\+?[\d\s().-]{7,}?)(?:\s*(?:x|ext\.?|#)\s*\d{1,6})?", re.IGNORECASE)
_IP_CHARS = re.compile(r"[0-9A-Fa-f:.]+")
STREET_SUFFIXES = (
    "st", "street", "ave", "av", "avenue", "rd", "road", "blvd", "boulevard", "ln", "lane", "dr", "drive", "way",
    "ct", "court", "pl", "place", "ter", "terrace", "cir", "circle", "pkwy", "parkway", "hwy", "highway", "sq",
    "square", "trl", "trail", "pike", "aly", "alley",
)
_ADDRESS = re.compile(  # a number, one to four words, a street suffix: "1234 Oak Street", "12B N Main St."
    r"\d{1,6}[A-Za-z]?(?:-\d{1,5})?\s+(?:[A-Za-z0-9.'-]+\s+){1,4}?"
    r"(?:" + "|".join(STREET_SUFFIXES) + r")\.?(?=$|[\s,#])",
    re.IGNORECASE,
)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _is_card_digits(digits: str) -> bool:
    """13-19 digits of a card network (2-6: Mastercard, Amex, Visa, Discover...) with a valid Luhn check digit."""
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and len(set(digits)) > 1 and _luhn_valid(digits)


def _is_email(value: str, named: bool) -> bool:
    return "@" in value and _EMAIL.fullmatch(value) is not None


def _is_ssn(value: str, named: bool) -> bool:
    if _SSN.fullmatch(value):
        return True
    return named and len(value) == 9 and _SSN_BARE.fullmatch(value) is not None


def _is_card(value: str, named: bool) -> bool:
    if not value[:1].isdigit() or _CARD.fullmatch(value) is None:
        return False
    return _is_card_digits(re.sub(r"\D", "", value))


def _is_phone(value: str, named: bool) -> bool:
    """US and international forms with 10-15 digits in groups or after '+'.

    Bare digits ('5155550123', or the number 5155550123) count only when the column's name says phone: ten-digit
    ids and timestamps look the same.
    """
    match = _PHONE.fullmatch(value)
    if match is None:
        return False
    body = match.group(1).strip()
    groups = re.findall(r"\d+", body)
    digits = "".join(groups)
    if not 10 <= len(digits) <= 15 or body.count("(") != body.count(")") or body.count("(") > 1:
        return False
    if body.startswith(("+", "(")) or len(groups) >= 3:
        return not body.endswith((".", "-"))
    return named


def _is_ip(value: str, named: bool) -> bool:
    if ("." not in value and ":" not in value) or _IP_CHARS.fullmatch(value) is None:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return any(char.isalnum() for char in value)


def _is_address(value: str, named: bool) -> bool:
    return value[:1].isdigit() and _ADDRESS.match(value) is not None


MATCHERS: dict[str, Callable[[str, bool], bool]] = {
    "email": _is_email, "ssn": _is_ssn, "card": _is_card, "phone": _is_phone, "ip": _is_ip, "address": _is_address,
}
"""In order of preference when two kinds fit equally well (a card number is also a long digit string)."""


# ---------------------------------------------------------------------------------------------------------------
# Detection


@dataclass(frozen=True)
class PiiColumn:
    """One column holding personal data: which kind, and what gave it away (never a value)."""

    column: str
    kind: str  # email | phone | ssn | card | ip | address | person_name
    evidence: str  # "name" | "content" | "name and content"
    share: float  # share of sampled non-missing values that have the kind's form (0 for name-only)

    def sentence(self) -> str:
        if self.evidence == "name":
            return f"{self.column} holds {KIND_WORDS[self.kind]} (found by its name)"
        return (f"{self.column} holds {KIND_WORDS[self.kind]} (found by {self.evidence}: "
                f"{self.share:.0%} of sampled values)")


def _is_text(column: pd.Series) -> bool:
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return not pd.api.types.is_numeric_dtype(dtype.categories.dtype)
    return pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)


def _as_digit_text(values: pd.Series, *, shortest: int) -> pd.Series | None:
    """Whole non-negative numbers as digit strings (phones and cards stored as numbers), or None when too few of
    them are long enough to be one: prices, areas and years are skipped without being turned into text.

    Integers are never passed through floats: a 16-digit card number does not survive float64.
    """
    kind = values.dtype.kind
    if kind == "f":
        numbers = values.to_numpy(dtype="float64")
        if not (np.isfinite(numbers).all() and (numbers == np.floor(numbers)).all()):
            return None
        values = values[(numbers >= 0) & (numbers < 9e18)].astype("int64")
    elif kind in "iu":
        values = values[values >= 0]
    else:
        return None
    if not len(values) or (values >= 10 ** (shortest - 1)).mean() < MIN_SHARE_NAMED:
        return None
    return values.astype(str)


def _sample(column: pd.Series, positions: np.ndarray | None, *, sample_rows: int, seed: int) -> pd.Series:
    """Up to sample_rows non-missing values; a sparse column is sampled again among its non-missing values."""
    if positions is None:
        return column.dropna()
    picked = column.iloc[positions].dropna()
    if len(picked) < sample_rows // 2:
        present = column.dropna()
        if len(present) > len(picked):
            return present.sample(min(sample_rows, len(present)), random_state=seed)
    return picked


def _value_counts(strings: pd.Series) -> tuple[pa.Array, np.ndarray]:
    """Distinct trimmed values and how often each occurs, placeholders left out; in Arrow, for vectorised checks."""
    counted = pc.value_counts(pa.array(strings, from_pandas=True))
    values, counts = pc.utf8_trim_whitespace(counted.field("values")), counted.field("counts")
    keep = pc.invert(pc.is_in(pc.utf8_lower(values), value_set=PLACEHOLDER_VALUES))
    return values.filter(keep), counts.filter(keep).to_numpy()


PLACEHOLDER_VALUES = pa.array(sorted(PLACEHOLDERS), type=pa.string())


def _mask_of(result: pa.Array) -> np.ndarray:
    return result.to_numpy(zero_copy_only=False).astype(bool)


def _candidates(values: pa.Array) -> dict[str, np.ndarray]:
    """Which distinct values could be of each kind, by cheap vectorised tests, so the exact checks run on few."""
    digits = pc.count_substring_regex(values, r"\d").to_numpy()
    leading_digit = _mask_of(pc.match_substring_regex(values, r"^\d"))
    return {
        "email": _mask_of(pc.match_substring(values, "@")),
        "ssn": digits == 9,
        "card": (digits >= 13) & (digits <= 19) & leading_digit,
        "phone": (digits >= 10) & (digits <= 21),
        "ip": _mask_of(pc.match_substring_regex(values, r"^[0-9A-Fa-f:.]*[.:][0-9A-Fa-f:.]*$")),
        "address": leading_digit & _mask_of(pc.match_substring_regex(values, r"\s")),
    }


DIGITS = {"card": 13, "phone": 10, "ssn": 9}
"""Fewest digits of each kind that may be stored as a number."""


def _judge(name: str, column: pd.Series, values: pd.Series) -> PiiColumn | None:
    hinted = _name_kinds(name)
    text_like = _is_text(column)
    if text_like:
        kinds = list(MATCHERS)
        strings = values.astype(str)
    else:  # a number: a card, or a phone or SSN when the name says so
        kinds = ["card"] + [kind for kind in ("phone", "ssn") if kind in hinted]
        strings = _as_digit_text(values, shortest=min(DIGITS[kind] for kind in kinds))
    best: tuple[float, str] | None = None
    distinct: pa.Array | None = None
    if strings is not None and len(strings):
        distinct, counts = _value_counts(strings)
        total = int(counts.sum())
        if text_like and total:  # every kind needs a digit, an '@' or a ':'; most categories have none
            possible = _mask_of(pc.match_substring_regex(distinct, r"[\d@:]"))
            if counts[possible].sum() < MIN_SHARE_NAMED * total:
                kinds = []
        candidates = _candidates(distinct) if total and kinds else {}
        for kind in kinds if total else ():
            named = kind in hinted
            bar = MIN_SHARE_NAMED if named else MIN_SHARE
            positions = np.flatnonzero(candidates[kind])
            if counts[positions].sum() < bar * total:
                continue
            matcher = MATCHERS[kind]
            texts = distinct.take(pa.array(positions)).to_pylist()
            matched = np.fromiter((matcher(text, named) for text in texts), dtype=bool, count=len(texts))
            share = counts[positions[matched]].sum() / total
            if share >= bar and (best is None or share > best[0]):
                best = (float(share), kind)
    if best is not None:
        share, kind = best
        return PiiColumn(name, kind, "name and content" if kind in hinted else "content", round(share, 4))
    if "person_name" in hinted and text_like and distinct is not None and _looks_like_words(distinct):
        return PiiColumn(name, "person_name", "name", 0.0)
    return None


def _looks_like_words(values: pa.Array) -> bool:
    """A name-only person column must hold words, not codes: `name` of 1, 2, 3 is an id, not a person."""
    if len(values) == 0:
        return False
    return float(np.mean(_mask_of(pc.match_substring_regex(values, r"[^\W\d_]")))) >= 0.5


def detect_pii(table: pd.DataFrame, *, target: str, not_pii: Collection[str] = (), sample_rows: int = 10_000,
               seed: int = 0) -> list[PiiColumn]:
    """Columns holding personal data, in table order. The target and the columns in not_pii are left alone."""
    rows = len(table)
    positions = None
    if rows > sample_rows:
        positions = np.sort(np.random.default_rng(seed).choice(rows, size=sample_rows, replace=False))
    skipped = {str(name) for name in not_pii} | {str(target)}
    found = []
    for label in table.columns:
        name = str(label)
        if name in skipped:
            continue
        column = table[label]
        if isinstance(column, pd.DataFrame):  # a duplicated label: judge its first column
            column = column.iloc[:, 0]
        values = _sample(column, positions, sample_rows=sample_rows, seed=seed)
        verdict = _judge(name, column, values)
        if verdict is not None:
            found.append(verdict)
    return found


# ---------------------------------------------------------------------------------------------------------------
# Masks: how a value of each kind may be shown. They accept their own output, so masking twice changes nothing.


def _mask_words(value: str, *, keep: Collection[str] = ()) -> str:
    masked = []
    for word in value.split():
        bare = word.strip(",.#")
        if bare.lower() in keep:
            masked.append(word)
        elif word.startswith("*") or any(char.isdigit() for char in word):
            masked.append("***")
        else:
            masked.append(f"{word[:1]}***")
    return " ".join(masked) or "***"


def _mask_email(value: str) -> str:
    if "@" not in value:
        return _mask_words(value)
    local, domain = value.rsplit("@", 1)
    tld = domain.rsplit(".", 1)[1] if "." in domain else ""
    return f"{local[:1]}***@{domain[:1]}***" + (f".{tld}" if tld else "")


def _last_digits(value: str, count: int) -> str:
    return re.sub(r"\D", "", value)[-count:]


def _mask_ip(value: str) -> str:
    if ":" in value:
        parts = value.split(":")
        return f"{parts[0]}:{parts[1]}:*"
    parts = value.split(".")
    return f"{parts[0]}.{parts[1]}.*.*" if len(parts) >= 2 else "*.*.*.*"


MASKS: dict[str, Callable[[str], str]] = {
    "email": _mask_email,
    "ssn": lambda value: f"***-**-{_last_digits(value, 4):*>4}",
    "card": lambda value: f"**** **** **** {_last_digits(value, 4):*>4}",
    "phone": lambda value: f"***-***-**{_last_digits(value, 2):*>2}",
    "ip": _mask_ip,
    "address": lambda value: _mask_words(value, keep=STREET_SUFFIXES),
    "person_name": _mask_words,
}


def _text_of(value: object) -> str:
    """A value as the text a person would read: 5551234567.0 read from a CSV with gaps is '5551234567'."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, arrays: not a scalar, so not missing
        return False


def mask_value(kind: str, value: object) -> str:
    """One value of a PII kind as it may be shown."""
    return MASKS[kind](_text_of(value))


# ---------------------------------------------------------------------------------------------------------------
# Free text


def _redact_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return MASKS["card"](digits) if _is_card_digits(digits) else match.group()


def _redact_phone(match: re.Match[str]) -> str:
    return MASKS["phone"](match.group()) if _is_phone(match.group(), False) else match.group()


def _redact_ip(match: re.Match[str]) -> str:
    return _mask_ip(match.group()) if _is_ip(match.group(), False) else match.group()


REDACTIONS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"(?<![\w.%+-])" + _EMAIL.pattern + r"(?![\w-])"), lambda m: _mask_email(m.group())),
    (re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])"), lambda m: MASKS["ssn"](m.group())),
    # not the digits of a decimal fraction ('0.20269775390625' or '-.20269...', whose 14 digits pass the Luhn check:
    # a '.' after anything but a letter) nor of a number with a fraction ('20269775390625.5'); a card read as a
    # float ('4111111111111111.0') or after a word ('no.4111111111111111') is still one
    (re.compile(r"(?<![\w-])(?<![^A-Za-z]\.)(?<!^\.)\d(?:[ -]?\d){12,18}(?![\w-])"
                r"(?!\.(?=\d{1,12}(?!\d))\d*[1-9])"), _redact_card),
    (re.compile(r"(?<![\w+(])(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-])\d{2,4}(?:[\s.-]\d{2,4}){1,3}"
                r"(?![\w:])|(?<![\w+])\+\d{10,15}(?!\w)"), _redact_phone),
    (re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"), _redact_ip),
    (re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"), _redact_ip),
]


_BARE_DIGITS = re.compile(r"(?<!\d)\d{9,19}(?!\d)")  # a bare SSN (9), phone (10-15) or card (13-19)


def redact_unseen_level(text: str) -> str:
    """A category value the model did not see in training, as it may be logged: `redact_text`, and any bare run of
    9 to 19 digits masked too (a phone typed without separators into a category field). Free text cannot tell
    such a run from an id, so `redact_text` leaves it; a value outside the training levels is worth nothing to
    monitoring beyond being unseen, so masking it loses nothing. Known levels are never this function's input."""
    return _BARE_DIGITS.sub(lambda match: "*" * (len(match.group()) - 2) + match.group()[-2:], redact_text(text))


def redact_text(text: str) -> str:
    """Text with every e-mail, SSN, card, phone number and IP address in it masked: for messages and logs."""
    if not any(char.isdigit() or char == "@" for char in text):
        return text
    for pattern, replace in REDACTIONS:
        text = pattern.sub(replace, text)
    return text


# ---------------------------------------------------------------------------------------------------------------
# Policies


@dataclass(frozen=True)
class Protected:
    """The table with its personal data handled per policy, and what was found (kinds and columns, no values)."""

    table: pd.DataFrame
    found: list[PiiColumn]
    action: str  # fail | drop | hash | mask: the policy applied
    named: tuple[str, ...] = ()  # columns dropped because their *name* holds personal data, as masked names

    @cached_property
    def kinds(self) -> dict[str, str]:
        return {pii.column: pii.kind for pii in self.found}

    def notes(self) -> list[str]:
        if not self.found:
            return ["no personal data found by column name or content", *self._named_notes()]
        notes = [pii.sentence() for pii in self.found]
        columns = ", ".join(pii.column for pii in self.found)
        count = f"{len(self.found)} column{'s' if len(self.found) > 1 else ''}"
        if self.action == "drop":
            notes.append(f"dropped {count} with personal data before anything was stored: {columns}")
        elif self.action == "hash":
            notes.append(f"replaced the values of {count} with salted hashes ({HASH_CHARS} hex characters; the same "
                         f"value gives the same hash under one salt): {columns}")
        elif self.action == "mask":
            notes.append(f"replaced the values of {count} with masked text: {columns}")
        notes.append("values of these columns are shown masked wherever cairn shows data")
        return notes + self._named_notes()

    def _named_notes(self) -> list[str]:
        if not self.named:
            return []
        count = f"{len(self.named)} column{'s' if len(self.named) > 1 else ''}"
        return [f"dropped {count} whose name holds personal data (shown masked): {', '.join(self.named)}"]

    def mask(self, column: str, value: object) -> str:
        """How a value may be shown in a report, log or message: masked for PII columns, short text otherwise."""
        if _is_missing(value):
            return str(value)
        kind = self.kinds.get(str(column))
        if kind is None:
            return redact_text(str(value))[:SHOWN_CHARS]
        if self.action == "hash" and isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{HASH_CHARS}}}", value):
            return value  # already a salted hash: safe to show, and what the model sees
        return mask_value(kind, value)


def _distinct_texts(column: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Codes of each row and the text of each distinct value (missing: code -1): work once per distinct value."""
    codes, uniques = factorized(column)
    values = pd.Series(uniques)
    if values.dtype.kind == "f" and len(values) and (values == np.floor(values)).all() and values.abs().max() < 9e18:
        values = values.astype("int64")  # 5551234567.0, read from a CSV with gaps, is the phone 5551234567
    if pd.api.types.is_object_dtype(values.dtype):  # mixed Python objects: read them as a person would
        values = values.map(_text_of)
    return codes, pc.utf8_trim_whitespace(pa.array(values.astype(str), from_pandas=True))


def _normalized(kind: str, texts: pa.Array) -> list[str]:
    """The text that is hashed: '(555) 123-4567' and '555.123.4567' are one phone; 'A@B.com', 'a@b.com' one e-mail."""
    if kind in {"phone", "card", "ssn"}:
        digits = pc.replace_substring_regex(texts, r"\D", "")
        texts = pc.if_else(pc.equal(pc.utf8_length(digits), 0), texts, digits)
    elif kind == "email":
        texts = pc.utf8_lower(texts)
    elif kind == "ip":
        return [_normal_ip(text) for text in texts.to_pylist()]
    else:
        texts = pc.utf8_lower(pc.replace_substring_regex(texts, r"\s+", " "))
    return texts.to_pylist()


def _normal_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def _replace_values(column: pd.Series, replace_all: Callable[[pa.Array], list[str]]) -> pd.Series:
    """Each distinct value replaced once, missing values kept missing: a million rows cost their distinct values."""
    codes, texts = _distinct_texts(column)
    replaced = np.array([*replace_all(texts), None], dtype=object)
    return pd.Series(replaced[codes], index=column.index, name=column.name, dtype=object)


def _salt(spec: Privacy, environ: Mapping[str, str]) -> bytes:
    variable = spec.salt_env or ""
    salt = environ.get(variable, "") if variable else ""
    if not salt:
        raise DataError.single(
            "The salt for hashing personal data is not set.",
            where=f"environment variable {variable or '(none named)'}",
            expected="a secret salt, named by data.privacy.salt_env, for data.privacy.pii: hash",
            got="not set" if variable not in environ else "an empty value",
            fix=f"export {variable or 'CAIRN_PII_SALT'}=<a long random secret> before the run, and keep the same "
                "value for every run of this model (it is never written to the project file, logs or store)",
        )
    return salt.encode()


def _hashes(kind: str, texts: pa.Array, salt: bytes) -> list[str]:
    """HMAC-SHA256 of each normalised value under the salt, first 16 hex characters: stable, not reversible.

    The same as `hmac.digest(salt, value, "sha256").hex()[:16]`, with the keyed inner and outer states computed
    once instead of once per value (three times faster on a million distinct e-mails).
    """
    key = (hashlib.sha256(salt).digest() if len(salt) > 64 else salt).ljust(64, b"\0")  # RFC 2104
    inner_start = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer_start = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    hashes = []
    for text in _normalized(kind, texts):
        inner, outer = inner_start.copy(), outer_start.copy()
        inner.update(text.encode())
        outer.update(inner.digest())
        hashes.append(outer.hexdigest()[:HASH_CHARS])
    return hashes


def protect_columns(table: pd.DataFrame, *, found: list[PiiColumn], spec: Privacy,
                    environ: Mapping[str, str] = os.environ) -> Protected:
    """Apply the policy to columns already found: for serving and monitoring batches, judged like the training data."""
    if spec.pii == "fail" and found:
        raise DataError(
            f"The data holds personal data in {len(found)} column{'s' if len(found) > 1 else ''}, and "
            "data.privacy.pii is 'fail'.",
            [Problem(where=f"column {pii.column!r}", expected="no personal data",
                     got=f"{KIND_WORDS[pii.kind]} (found by {pii.evidence})",
                     fix=f"set data.privacy.pii: drop (or hash, mask), or list {pii.column!r} in "
                         "data.privacy.not_pii if it is not personal data")
             for pii in found],
        )
    salt = _salt(spec, environ) if spec.pii == "hash" else b""
    labels = {str(label): label for label in table.columns}
    present = [pii for pii in found if pii.column in labels]
    if spec.pii == "drop":
        protected = table.drop(columns=[labels[pii.column] for pii in present])
    elif spec.pii in {"hash", "mask"}:
        protected = table.copy(deep=False)  # the PII columns are replaced, never written into
        for pii in present:
            label = labels[pii.column]
            if spec.pii == "hash":
                protected[label] = _replace_values(table[label], lambda texts, k=pii.kind: _hashes(k, texts, salt))
            else:
                protected[label] = _replace_values(
                    table[label], lambda texts, k=pii.kind: [MASKS[k](text) for text in texts.to_pylist()])
    else:
        protected = table
    result = Protected(protected, list(found), spec.pii)
    for note in result.notes():
        log.info("privacy: %s", note)
    return result


def protect(table: pd.DataFrame, *, spec: Privacy, target: str, seed: int = 0,
            environ: Mapping[str, str] = os.environ) -> Protected:
    """Find personal data and handle it per data.privacy.pii, before the table is stored, profiled or shown."""
    if spec.pii == "hash":
        _salt(spec, environ)  # a missing salt fails the run even on data without PII: the project is misconfigured
    unknown = sorted(set(spec.not_pii) - {str(label) for label in table.columns})
    if unknown:
        log.warning("privacy: data.privacy.not_pii names columns the data does not have: %s", ", ".join(unknown))
    table, named = _without_personal_names(table, target=target)
    found = detect_pii(table, target=target, not_pii=spec.not_pii, seed=seed)
    protected = protect_columns(table, found=found, spec=spec, environ=environ)
    return Protected(protected.table, protected.found, protected.action, named) if named else protected


def _without_personal_names(table: pd.DataFrame, *, target: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The table less the columns whose name holds an e-mail, phone, card or SSN, and their masked names.

    A name travels further than a value (profile, features, model.json, the API's schema, every report), and no
    policy can hash a name the model must be called by: such a column is dropped whatever data.privacy.pii says."""
    personal = [label for label in table.columns if str(label) != target and redact_text(str(label)) != str(label)]
    if not personal:
        return table, ()
    masked = tuple(redact_text(str(label)) for label in personal)
    log.warning("privacy: dropped %d column(s) whose name holds personal data: %s", len(personal), ", ".join(masked))
    return table.drop(columns=personal), masked
