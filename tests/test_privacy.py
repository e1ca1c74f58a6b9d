"""Personal data: found by name and content in real Ames plus planted PII, handled per policy, never shown raw."""

from __future__ import annotations

import hmac
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.config.schema import Privacy
from cairn.errors import DataError
from cairn.privacy import PiiColumn, Protected, detect_pii, protect, protect_columns, redact_text

AMES = Path(__file__).resolve().parents[1] / "examples" / "house-prices" / "data" / "ames.csv.gz"
TARGET = "Sale_Price"
SALT_ENV = "CAIRN_TEST_PII_SALT"

FIRST = ["John", "Maria", "Wei", "Aisha", "Carlos", "Emma", "Liam", "Olivia", "Noah", "Sofia", "Hiroshi", "Fatima"]
LAST = ["Smith", "Garcia", "Chen", "Khan", "Lopez", "Johnson", "Brown", "Mueller", "Nguyen", "Obrien", "Kowalski"]
DOMAINS = ["example.com", "mail.example.org", "state.university.edu", "company.co.uk", "gmail.com"]
STREETS = ["Oak", "Maple", "Elm", "Lincoln", "Duff", "Grand View", "Country Club"]
SUFFIXES = ["Street", "St", "Ave", "Avenue", "Road", "Rd", "Blvd", "Lane", "Dr", "Way", "Court"]
TEST_CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "340000000000009", "6011 0000 0000 0004",
              "4012888888881881", "5555 5555 5555 4444", "3782 822463 10005"]
PLANTED = {  # column -> (kind, evidence)
    "email": ("email", "name and content"),
    "phone": ("phone", "name and content"),
    "ssn": ("ssn", "name and content"),
    "card_number": ("card", "name and content"),
    "ip": ("ip", "name and content"),
    "address": ("address", "name and content"),
    "customer_name": ("person_name", "name"),
    "contact": ("email", "content"),
}


def luhn_check_digit(body: str) -> str:
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str((10 - total % 10) % 10)


def card_numbers(rng: np.random.Generator, count: int, *, valid: bool) -> list[str]:
    numbers = []
    for _ in range(count):
        body = str(rng.choice(["4", "5", "6"])) + "".join(map(str, rng.integers(0, 10, 14)))
        check = luhn_check_digit(body)
        numbers.append(body + (check if valid else str((int(check) + 1 + int(rng.integers(0, 9))) % 10)))
    return numbers


def card_text(digits: str, style: int) -> str:
    groups = [digits[i:i + 4] for i in range(0, len(digits), 4)]
    return [" ".join(groups), "-".join(groups), digits][style % 3]


def nanp(rng: np.random.Generator) -> tuple[str, str, str]:
    return str(rng.integers(201, 990)), str(rng.integers(201, 990)), f"{rng.integers(0, 10_000):04d}"


def phone_text(rng: np.random.Generator, style: int) -> str:
    area, exchange, line = nanp(rng)
    return [f"({area}) {exchange}-{line}", f"{area}-{exchange}-{line}", f"{area}.{exchange}.{line}",
            f"+1 {area} {exchange} {line}", f"{area}{exchange}{line}", f"+44 20 {exchange}{line[0]} {line[1:]}1",
            f"+49 30 {area}{exchange}{line[:2]}"][style % 7]


def ssn_text(rng: np.random.Generator) -> str:
    area = int(rng.integers(1, 900))
    area = 667 if area == 666 else area
    return f"{area:03d}-{rng.integers(1, 100):02d}-{rng.integers(1, 10_000):04d}"


def ip_text(rng: np.random.Generator, index: int) -> str:
    if index % 4 == 3:
        return f"2001:db8:{rng.integers(0, 65536):x}::{rng.integers(1, 65536):x}"
    return ".".join(str(part) for part in rng.integers(1, 255, 4))


@pytest.fixture(scope="module")
def ames() -> pd.DataFrame:
    return pd.read_csv(AMES)


@pytest.fixture(scope="module")
def planted(ames) -> pd.DataFrame:
    """Ames plus realistic PII columns: some values missing, some cards not Luhn-valid."""
    rng = np.random.default_rng(7)
    rows = len(ames)
    first, last = rng.choice(FIRST, rows), rng.choice(LAST, rows)
    domains = rng.choice(DOMAINS, rows)
    valid_cards = iter(card_numbers(rng, rows, valid=True))
    invalid_cards = iter(card_numbers(rng, rows, valid=False))
    cards = []
    for index in range(rows):
        if index % 5 == 4:
            cards.append(card_text(next(invalid_cards), index))
        elif index % 11 == 0:
            cards.append(TEST_CARDS[index % len(TEST_CARDS)])
        else:
            cards.append(card_text(next(valid_cards), index))
    table = ames.copy()
    people = list(zip(first, last, domains, strict=True))
    table["email"] = [f"{a.lower()}.{b.lower()}{i}@{d}" for i, (a, b, d) in enumerate(people)]
    table["phone"] = [phone_text(rng, i) for i in range(rows)]
    table["ssn"] = [ssn_text(rng) for _ in range(rows)]
    table["card_number"] = cards
    table["ip"] = [ip_text(rng, i) for i in range(rows)]
    table["address"] = [f"{rng.integers(1, 9999)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}" for _ in range(rows)]
    table["customer_name"] = [f"{a} {b}" for a, b in zip(first, last, strict=True)]
    table["contact"] = [f"{b.lower()}{i}@{d}" for i, (b, d) in enumerate(zip(last, domains, strict=True))]
    for column in PLANTED:  # a few gaps, as real exports have
        table.loc[table.index % 97 == 5, column] = None
    return table


def raw_values(table: pd.DataFrame) -> list[str]:
    return sorted({str(v) for column in PLANTED for v in table[column].dropna()})


def assert_no_raw_value(planted: pd.DataFrame, shown: pd.DataFrame) -> None:
    """No planted value survives as a cell, nor inside the text of its row."""
    cells = {str(v) for column in shown.columns for v in shown[column].dropna().unique()}
    survivors = cells.intersection(raw_values(planted))
    assert not survivors, f"{len(survivors)} raw values survive, e.g. {sorted(survivors)[:3]}"
    columns = [column for column in PLANTED if column in shown.columns]
    rows = pd.Series("", index=shown.index)
    for column in columns:
        rows = rows + "\x1f" + shown[column].astype(object).fillna("").astype(str)
    for column in PLANTED:
        for index, value in planted[column].dropna().items():
            assert str(value) not in rows[index], f"row {index} shows the raw {column}"


def assert_text_has_no_raw_value(planted: pd.DataFrame, text: str) -> None:
    leaked = [value for value in raw_values(planted) if value in text]
    assert not leaked, f"raw values in text, e.g. {leaked[:3]}"


@pytest.fixture(scope="module")
def found(planted) -> list[PiiColumn]:
    return detect_pii(planted, target=TARGET)


# --- detection ------------------------------------------------------------------------------------------------


def test_untouched_ames_has_no_pii(ames):  # its seconds: bench/checks.py
    found = detect_pii(ames, target=TARGET)
    assert found == []
    assert "Street" in ames.columns and set(ames["Street"].unique()) == {"Pave", "Grvl"}


def test_every_planted_column_is_found_with_its_kind_and_evidence(found):
    assert {pii.column: (pii.kind, pii.evidence) for pii in found} == PLANTED


def test_shares_are_of_non_missing_values(found):
    shares = {pii.column: pii.share for pii in found}
    for column in ["email", "phone", "ssn", "ip", "address", "contact"]:
        assert shares[column] == 1.0, column
    assert shares["card_number"] == pytest.approx(0.8, abs=0.02)  # one in five planted cards fails Luhn
    assert shares["customer_name"] == 0.0


def test_target_and_not_pii_are_left_alone(planted):
    found = detect_pii(planted, target="email", not_pii=["ip", "customer_name"])
    assert {pii.column for pii in found} == set(PLANTED) - {"email", "ip", "customer_name"}


def test_invalid_luhn_numbers_are_not_cards(ames):
    rng = np.random.default_rng(3)
    table = ames[[TARGET]].copy()
    table["card_number"] = [card_text(n, i) for i, n in enumerate(card_numbers(rng, len(table), valid=False))]
    table["account"] = card_numbers(rng, len(table), valid=False)
    assert detect_pii(table, target=TARGET) == []


def test_zip_codes_years_and_ids_are_not_phones_or_cards(ames):
    rng = np.random.default_rng(5)
    rows = len(ames)
    table = ames[[TARGET, "Year_Built", "Year_Sold", "Lot_Area"]].copy()
    table["zip"] = [f"{z:05d}" for z in rng.integers(1000, 99_999, rows)]
    table["zip_plus4"] = [f"{z:05d}-{p:04d}" for z, p in zip(rng.integers(1000, 99_999, rows),
                                                             rng.integers(0, 10_000, rows), strict=True)]
    table["zip_number"] = rng.integers(50_000, 50_999, rows)
    table["sold_at_epoch"] = rng.integers(1_600_000_000, 1_700_000_000, rows)
    table["order_id"] = rng.integers(10**15, 10**16, rows)  # about one in ten passes Luhn by chance
    table["price_text"] = [f"{p:.2f}" for p in rng.uniform(1e6, 9e6, rows)]
    table["sold_on"] = pd.date_range("2006-01-01", periods=rows, freq="D").strftime("%Y-%m-%d")
    assert detect_pii(table, target=TARGET) == []


def test_numbers_stored_as_numbers_are_found(ames):
    rng = np.random.default_rng(11)
    table = ames[[TARGET]].copy()
    table["mobile"] = [int("".join(nanp(rng))) for _ in range(len(table))]
    table["cc_number"] = [int(n) for n in card_numbers(rng, len(table), valid=True)]
    table["reference"] = [int(n) for n in card_numbers(rng, len(table), valid=True)]
    table.loc[::50, "mobile"] = np.nan  # a gap turns the column into floats, as read_csv does
    found = {pii.column: (pii.kind, pii.evidence) for pii in detect_pii(table, target=TARGET)}
    assert found == {"mobile": ("phone", "name and content"), "cc_number": ("card", "name and content"),
                     "reference": ("card", "content")}


def test_social_security_numbers_without_dashes_need_the_name(ames):
    rng = np.random.default_rng(17)
    table = ames[[TARGET]].copy()
    numbers = [ssn_text(rng).replace("-", "") for _ in range(len(table))]
    table["social_security_number"] = [int(n) for n in numbers]
    table["SSN"] = numbers
    table["batch"] = numbers
    found = {pii.column: (pii.kind, pii.evidence) for pii in detect_pii(table, target=TARGET)}
    assert found == {"social_security_number": ("ssn", "name and content"), "SSN": ("ssn", "name and content")}


def test_bare_ten_digit_numbers_are_phones_only_in_a_phone_column(ames):
    rng = np.random.default_rng(13)
    table = ames[[TARGET]].copy()
    table["customer_id"] = [int("".join(nanp(rng))) for _ in range(len(table))]
    table["reference_code"] = ["".join(nanp(rng)) for _ in range(len(table))]
    table["cell"] = ["".join(nanp(rng)) for _ in range(len(table))]
    found = {pii.column: (pii.kind, pii.evidence) for pii in detect_pii(table, target=TARGET)}
    assert found == {"cell": ("phone", "name and content")}


def test_person_names_need_a_person_in_the_column_name(ames):
    table = ames[[TARGET, "Neighborhood"]].copy()
    names = [f"{a} {b}" for a, b in zip(np.resize(FIRST, len(table)), np.resize(LAST, len(table)), strict=True)]
    for column in ["name", "first_name", "LastName", "surname", "full_name", "customerName", "Contact_Person"]:
        table[column] = names
    for column in ["product_name", "Street_name", "file_name", "name_length"]:
        table[column] = names if column != "name_length" else 10
    found = {pii.column: pii.evidence for pii in detect_pii(table, target=TARGET) if pii.kind == "person_name"}
    assert found == {column: "name" for column in
                     ["name", "first_name", "LastName", "surname", "full_name", "customerName", "Contact_Person"]}


def test_a_million_rows_are_sampled(planted):
    columns = list(PLANTED) + ["Neighborhood", "MS_Zoning", "Street", "Lot_Area", "Year_Built", TARGET]
    big = planted[columns].sample(1_000_000, replace=True, random_state=0).reset_index(drop=True)
    found = detect_pii(big, target=TARGET)  # on a sample of them; its seconds: bench/checks.py
    assert {pii.column for pii in found} == set(PLANTED)


# --- policies -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dropped(planted) -> Protected:
    return protect(planted, spec=Privacy(pii="drop"), target=TARGET)


@pytest.fixture(scope="module")
def masked(planted) -> Protected:
    return protect(planted, spec=Privacy(pii="mask"), target=TARGET)


def hashed(table: pd.DataFrame, salt: str) -> Protected:
    return protect(table, spec=Privacy(pii="hash", salt_env=SALT_ENV), target=TARGET, environ={SALT_ENV: salt})


@pytest.fixture(scope="module")
def hashed_planted(planted) -> Protected:
    return hashed(planted, "s3cret")


def test_drop_removes_exactly_the_pii_columns(dropped, ames):
    assert dropped.action == "drop"
    pd.testing.assert_frame_equal(dropped.table, ames)


def test_default_policy_is_drop():
    assert Privacy().pii == "drop"


def test_hash_is_stable_for_a_salt_and_differs_across_salts(planted, ames, hashed_planted):
    first = hashed_planted
    again = protect_columns(planted, found=first.found, spec=Privacy(pii="hash", salt_env=SALT_ENV),
                            environ={SALT_ENV: "s3cret"})
    other = protect_columns(planted, found=first.found, spec=Privacy(pii="hash", salt_env=SALT_ENV),
                            environ={SALT_ENV: "another"})
    pd.testing.assert_frame_equal(first.table, again.table)
    pd.testing.assert_frame_equal(first.table[ames.columns], ames)
    for column in PLANTED:
        values = first.table[column]
        assert values.isna().equals(planted[column].isna()), column
        assert values.dropna().map(lambda v: re.fullmatch(r"[0-9a-f]{16}", v) is not None).all(), column
        assert values.nunique() == planted[column].nunique(), column  # still usable as a category
        assert not (values.dropna() == other.table[column].dropna()).any(), column
    assert_no_raw_value(planted, first.table)


def test_hash_is_hmac_sha256_of_the_normalised_value(planted, hashed_planted):
    """Documented so that a serving layer or an analyst holding the salt can reproduce a hash."""
    row = planted["email"].first_valid_index()
    expected = hmac.digest(b"s3cret", planted.loc[row, "email"].lower().encode(), "sha256").hex()[:16]
    assert hashed_planted.table.loc[row, "email"] == expected


def test_protect_leaves_the_input_table_untouched(planted):
    before = planted.copy(deep=True)
    hashed(planted, "s3cret")
    protect(planted, spec=Privacy(pii="mask"), target=TARGET)
    pd.testing.assert_frame_equal(planted, before)


def test_hash_joins_spellings_of_one_value(planted):
    table = planted.head(40).copy()
    table["phone"] = ["(515) 555-0123", "515-555-0123", "515.555.0123", "+1 515 555 0123"] * 10
    table["email"] = ["Jane.Doe@Example.com", "jane.doe@example.com"] * 20
    result = hashed(table, "s3cret").table
    assert result["phone"].nunique() == 2 and result["email"].nunique() == 1  # +1 is part of the number


def test_a_list_in_a_personal_column_is_hashed_as_its_text(planted):
    """JSON lines may bring a list where an e-mail belongs: hashed as the text it reads as, not a TypeError."""
    table = planted.head(4).copy()
    table["email"] = [["jane.doe@example.com"], "jane.doe@example.com", {"a": "b"}, None]
    result = hashed(table, "s3cret").table["email"]
    assert result.iloc[0] != result.iloc[1] and re.fullmatch(r"[0-9a-f]{16}", result.iloc[0])
    assert re.fullmatch(r"[0-9a-f]{16}", result.iloc[2]) and result.iloc[3] is None
    assert "jane" not in " ".join(map(str, result))


def test_hash_without_the_salt_names_the_variable(planted, ames):
    for environ in ({}, {SALT_ENV: ""}):
        for table in (planted, ames):
            with pytest.raises(DataError) as error:
                protect(table, spec=Privacy(pii="hash", salt_env=SALT_ENV), target=TARGET, environ=environ)
            assert SALT_ENV in str(error.value)


def test_mask_hides_every_value(planted, ames, masked):
    pd.testing.assert_frame_equal(masked.table[ames.columns], ames)
    assert_no_raw_value(planted, masked.table)
    table = masked.table
    assert table["ssn"].dropna().str.fullmatch(r"\*\*\*-\*\*-\d{4}").all()
    assert table["card_number"].dropna().str.fullmatch(r"\*\*\*\* \*\*\*\* \*\*\*\* \d{4}").all()
    assert table["email"].dropna().str.fullmatch(r"[a-z]\*\*\*@[a-z]\*\*\*\.[a-z]+").all()
    assert table["customer_name"].isna().sum() == planted["customer_name"].isna().sum()


def test_dropped_and_hashed_tables_hold_no_raw_value(planted, dropped, hashed_planted):
    assert_no_raw_value(planted, dropped.table)
    assert_no_raw_value(planted, hashed_planted.table)


def test_fail_names_columns_and_kinds_and_the_fix_but_no_value(planted, ames):
    with pytest.raises(DataError) as error:
        protect(planted, spec=Privacy(pii="fail"), target=TARGET)
    message = str(error.value)
    for column in PLANTED:
        assert f"'{column}'" in message
    assert "e-mail addresses" in message and "payment card numbers" in message and "person names" in message
    assert "data.privacy.pii: drop" in message and "data.privacy.not_pii" in message
    assert_text_has_no_raw_value(planted, message)
    assert protect(ames, spec=Privacy(pii="fail"), target=TARGET).found == []


def test_notes_name_columns_and_kinds_never_values(planted, ames, caplog):
    with caplog.at_level("DEBUG", logger="cairn.privacy"):
        protected = protect(planted, spec=Privacy(pii="mask"), target=TARGET)
    notes = protected.notes()
    assert "email holds e-mail addresses (found by name and content: 100% of sampled values)" in notes
    assert "customer_name holds person names (found by its name)" in notes
    assert any(note.startswith("replaced the values of 8 columns with masked text") for note in notes)
    assert caplog.text and "customer_name" in caplog.text
    assert_text_has_no_raw_value(planted, "\n".join(notes) + repr(protected.found) + caplog.text)
    assert protect(ames, spec=Privacy(), target=TARGET).notes() == ["no personal data found by column name or content"]


# --- showing values -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("email", "john.smith@example.com", "j***@e***.com"),
    ("contact", "garcia12@company.co.uk", "g***@c***.uk"),
    ("ssn", "123-45-6789", "***-**-6789"),
    ("card_number", "4111 1111 1111 1111", "**** **** **** 1111"),
    ("card_number", 4111111111111111, "**** **** **** 1111"),
    ("phone", "(515) 555-0123", "***-***-**23"),
    ("phone", 5155550123.0, "***-***-**23"),
    ("ip", "192.168.1.20", "192.168.*.*"),
    ("ip", "2001:db8:85a3::8a2e:370:7334", "2001:db8:*"),
    ("address", "1234 Oak Street", "*** O*** Street"),
    ("customer_name", "John Smith", "J*** S***"),
    ("Neighborhood", "North_Ames", "North_Ames"),
    ("Sale_Price", 215000, "215000"),
    ("Neighborhood", "x" * 60, "x" * 40),
])
def test_mask_formats(dropped, column, value, expected):
    assert dropped.mask(column, value) == expected
    assert dropped.mask(column, expected) == expected  # masking twice changes nothing


def test_mask_leaves_missing_values_and_hashes_alone(hashed_planted):
    protected = hashed_planted
    digest = protected.table["email"].dropna().iloc[0]
    assert protected.mask("email", digest) == digest
    assert protected.mask("email", None) == "None"
    assert protected.mask("email", "john.smith@example.com") == "j***@e***.com"


def test_mask_of_an_ordinary_column_still_redacts_pii_inside_text(dropped):
    assert dropped.mask("Misc_Feature", "call 515-555-0123 or bob@example.com") == "call ***-***-**23 or b***@e***.com"


def test_redact_text_masks_pii_in_messages():
    message = ("could not convert 'jane.doe@example.com' in row 17 (card 4111 1111 1111 1111, ssn 123-45-6789, "
               "phone +1 (515) 555-0123, from 10.20.30.40 and 2001:db8::7334) on 2024-01-05 10:30:00")
    redacted = redact_text(message)
    for raw in ["jane.doe@example.com", "4111 1111 1111 1111", "123-45-6789", "555-0123", "10.20.30.40",
                "2001:db8::7334"]:
        assert raw not in redacted
    assert redacted == ("could not convert 'j***@e***.com' in row 17 (card **** **** **** 1111, ssn ***-**-6789, "
                        "phone ***-***-**23, from 10.20.*.* and 2001:db8:*) on 2024-01-05 10:30:00")


def test_redact_text_leaves_ordinary_messages_alone():
    for message in ["Sale_Price is missing in 3% of rows", "read 2,930 rows x 74 columns in 0.12 s",
                    "fingerprint 3f9a1c0d2b7e", "Lot_Area 31770 above 25000.5 on 2010-05-12", "version 3.11.4",
                    "a 4111111111111112 id that fails Luhn",
                    # decimals whose digits pass the Luhn check, as a data-quality note quotes them
                    "price71_82 has 10 negative values, such as '-0.20269775390625'", "0.20269775390625",
                    "-.20269775390625", "20269775390625.5"]:
        assert redact_text(message) == message
    assert redact_text("my card: 4111 1111 1111 1111.") == "my card: **** **** **** 1111."  # a full stop after it
    assert redact_text("4111111111111111.0") == "**** **** **** 1111.0"  # a card column read as floats
    assert redact_text("ref no.4111111111111111") == "ref no.**** **** **** 1111"


def test_a_column_whose_name_holds_personal_data_is_dropped_and_named_masked():
    """Issue 17 sweep: a name travels into model.json, the API schema and every report; no policy can hash it."""
    from cairn.privacy import protect

    table = pd.DataFrame({"price": [1.0, 2.0, 3.0], "area": [10, 20, 30],
                          "notes_for_jane.roe@example.org": ["a", "b", "c"], "call 515-555-0142": [1, 2, 3]})
    for policy in ("drop", "hash", "mask"):
        protected = protect(table, spec=Privacy(pii=policy, salt_env="SALT"), target="price",
                            environ={"SALT": "x"})
        assert list(protected.table.columns) == ["price", "area"]
        note = protected.notes()[-1]
        assert note.startswith("dropped 2 columns whose name holds personal data (shown masked)")
        assert "jane.roe@example.org" not in note and "515-555-0142" not in note
    untouched = protect(table[["price", "area"]], spec=Privacy(pii="drop"), target="price")
    assert untouched.named == () and untouched.notes() == ["no personal data found by column name or content"]


def test_an_unseen_category_value_has_bare_digit_runs_masked_too():
    from cairn.privacy import redact_unseen_level

    assert redact_unseen_level("5155550173") == "********73"  # a phone typed without separators
    assert redact_unseen_level("call 123456789 now") == "call *******89 now"  # a bare SSN
    assert "4111" not in redact_unseen_level("4111111111111111")
    assert redact_unseen_level("North_Ames") == "North_Ames" and redact_unseen_level("20") == "20"
    assert redact_unseen_level("12345678") == "12345678"  # 8 digits: a date or a code, kept
