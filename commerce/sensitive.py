"""Find anything shaped like a payment card number, without echoing it.

A candidate is 13-19 digits that pass the Luhn check, start with 2-6 (the
major networks: Mastercard 2/5, Amex and JCB 3, Visa 4, Discover, UnionPay
and Maestro 6) and are not all one digit. Leaving out 0, 1, 7, 8 and 9 keeps
millisecond timestamps (``1732300000000``) and many account ids from being
flagged; about one in ten random digit runs passes Luhn.

Digits are either contiguous, or written in a card layout with one kind of
separator (space or dash): groups of four with a shorter last group
(``4111 1111 1111 1111``, ``4222-2222-2222-2``), or Amex/Diners ``4-6-5`` /
``4-6-4``. Within a longer run of groups (``4111 1111 1111 1111 2028``)
every window of whole groups is tried. An ungrouped run longer than 19 digits
is an identifier, not a card; so is a UUID in its canonical 8-4-4-4-12 form
(random hex can put a Luhn-valid 4-4-4-4 layout inside one, and ids such as
``customer_id`` are UUIDs).

JSON bodies are walked recursively; each finding carries the path of the
field (``customer.notes[2]``) so the API can name it. JSON integers are
checked too (a card number sent as a number is still a card number).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from commerce.errors import SensitiveDataError

_RUN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,}(?![0-9])")  # >= 13 digits
_GROUP = re.compile(r"[0-9]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIRST_DIGITS = frozenset("23456")
_UUID = re.compile(
    r"(?<![0-9A-Fa-f-])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}"
    r"-[0-9A-Fa-f]{12}(?![0-9A-Fa-f-])"
)


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn (mod 10) check.

    Examples
    --------
    >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
    (True, False)
    """
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    return (
        13 <= len(digits) <= 19
        and digits[0] in _FIRST_DIGITS
        and len(set(digits)) > 1
        and luhn_valid(digits)
    )


def _card_layout(lengths: list[int]) -> bool:
    if len(lengths) == 1:
        return True
    if lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4


@dataclass(frozen=True)
class CardMatch:
    """Where a card-like number sits in a text (no digits kept)."""

    start: int
    end: int
    length: int  # number of digits


def find_card_numbers(text: str) -> list[CardMatch]:
    """Card-like numbers in free text (see the module docstring for the rules).

    Examples
    --------
    >>> [m.length for m in find_card_numbers("pay 4111-1111-1111-1111 now")]
    [16]
    >>> find_card_numbers("order 1234567890123456, phone 555 123 4567")
    []
    """
    found: list[CardMatch] = []
    if "-" in text:  # UUIDs blanked out, keeping every other character's position
        text = _UUID.sub(lambda m: "u" * len(m.group()), text)
    for run in _RUN.finditer(text):
        groups = list(_GROUP.finditer(run.group()))
        base, raw = run.start(), run.group()
        seps = [raw[groups[k].end()] for k in range(len(groups) - 1)]
        i = 0
        while i < len(groups):
            hit = None
            count = 0
            for j in range(i, len(groups)):
                count += len(groups[j].group())
                if count > 19 or (j > i and seps[j - 1] != seps[i]):
                    break
                lengths = [len(g.group()) for g in groups[i : j + 1]]
                digits = "".join(g.group() for g in groups[i : j + 1])
                if count >= 13 and _card_layout(lengths) and _is_card(digits):
                    hit = j  # keep extending: prefer the longest window
            if hit is None:
                i += 1
                continue
            found.append(
                CardMatch(
                    base + groups[i].start(),
                    base + groups[hit].end(),
                    sum(len(g.group()) for g in groups[i : hit + 1]),
                )
            )
            i = hit + 1
    return found


def _child(path: str, key: str) -> str:
    part = key if _IDENT.fullmatch(key) else f"[{key!r}]"
    if not path:
        return part
    return f"{path}.{part}" if _IDENT.fullmatch(key) else f"{path}{part}"


@dataclass(frozen=True)
class Finding:
    """A field holding a card-like number; ``in_key`` when it is an object key."""

    path: str
    in_key: bool = False


def _walk(root: object) -> Iterator[Finding]:
    # iterative (a deeply nested body cannot exhaust the recursion limit), in
    # document order; a key's finding is queued just before its value
    stack: list[tuple[object, str] | Finding] = [(root, "")]
    while stack:
        item = stack.pop()
        if isinstance(item, Finding):
            yield item
            continue
        value, path = item
        if isinstance(value, str):
            if find_card_numbers(value):
                yield Finding(path or "$")
        elif isinstance(value, int) and not isinstance(value, bool):
            if _is_card(str(abs(value))):
                yield Finding(path or "$")
        elif isinstance(value, dict):
            children: list[tuple[object, str] | Finding] = []
            for k, v in value.items():
                sub = _child(path, str(k))
                if find_card_numbers(str(k)):
                    children.append(Finding(sub, in_key=True))
                children.append((v, sub))
            stack.extend(reversed(children))
        elif isinstance(value, list | tuple):
            stack.extend(reversed([(v, f"{path}[{i}]") for i, v in enumerate(value)]))


def scan_json(value: object) -> list[Finding]:
    """Every field of a decoded JSON value that holds a card-like number.

    Examples
    --------
    >>> scan_json({"customer": {"notes": ["hi", "card 4242 4242 4242 4242"]}})
    [Finding(path='customer.notes[1]', in_key=False)]
    """
    return list(_walk(value))


def reject_card_numbers(value: object) -> None:
    """Raise :class:`SensitiveDataError` naming every field with a card number."""
    findings = scan_json(value)
    if findings:
        raise SensitiveDataError(sorted({f.path for f in findings}))


def mask_card_numbers(text: str) -> str:
    """Replace each card-like number's digits with ``*`` but the last four.

    Examples
    --------
    >>> mask_card_numbers("card 4111 1111 1111 1111.")
    'card **** **** **** 1111.'
    """
    out = list(text)
    for m in find_card_numbers(text):
        positions = [i for i in range(m.start, m.end) if text[i].isdigit()]
        for i in positions[:-4]:
            out[i] = "*"
    return "".join(out)
