"""PII discovery and redaction, pure: no I/O beyond the name lists read once.

Each type pairs a pattern with a validator from a maintained library, so a look-alike
that fails the check is not reported: IBANs (ISO 7064 mod 97-10), credit-card numbers
(Luhn), Italian codici fiscali (check character) and US SSNs (format and the SSA's
never-issued ranges) through ``python-stdnum``; phone numbers through ``phonenumbers``
(Google's libphonenumber); IP addresses through :mod:`ipaddress`. Person names are a
gazetteer match: a capitalised first name from the US Census 1990 first-name lists
followed by a capitalised surname from its surname list (the lists the ``names``
package ships).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import itertools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mlfabric.errors import InvalidInput
from mlfabric.extras import require

# Checksum- or rule-validated types first: where two findings overlap, the earlier wins.
TYPES = ("iban", "credit_card", "codice_fiscale", "ssn", "email", "ip", "phone", "person")
CHECKSUM_TYPES = ("iban", "credit_card", "codice_fiscale", "ssn")
MODES = ("none", "mask", "hash", "drop")

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_IBAN_HEAD = re.compile(r"\b[A-Z]{2}\d{2} ?$")
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
_CF_DIGIT = "[0-9LMNPQRSTUV]"
_CF = re.compile(rf"\b[A-Z]{{6}}{_CF_DIGIT}{{2}}[ABCDEHLMPRST]{_CF_DIGIT}{{2}}[A-Z]"
                 rf"{_CF_DIGIT}{{3}}[A-Z]\b", re.IGNORECASE)
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}|:)(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_WORD = re.compile(r"\b[A-Z][a-z]+(?:-[A-Z][a-z]+)?\b")


@dataclass(frozen=True)
class Finding:
    """One piece of PII in a text: its type, where it is, and its value."""

    type: str
    start: int
    end: int
    value: str


def check_types(types: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The PII types named, checked (``None``: none)."""
    out = tuple(t.strip() for t in (types or ()) if t.strip())
    bad = [t for t in out if t not in TYPES]
    if bad:
        raise InvalidInput(f"unknown PII type '{bad[0]}': expected some of {', '.join(TYPES)}",
                           field="types", value=bad[0])
    return out


def _stdnum(module: str):  # type: ignore[no-untyped-def]
    return require(f"stdnum.{module}", "rag")


def _iban(text: str) -> list[tuple[int, int]]:
    iban = _stdnum("iban")
    out = []
    for m in _IBAN.finditer(text):
        value = m.group()
        # The pattern may run on into following capitalised groups: shrink to a valid IBAN.
        while len(value.replace(" ", "")) >= 15:
            if iban.is_valid(value):
                out.append((m.start(), m.start() + len(value)))
                break
            value = value[:-1].rstrip()
    return out


def _card(text: str) -> list[tuple[int, int]]:
    luhn = _stdnum("luhn")
    # Digits right after an IBAN's country and check digits are its account, not a card.
    return [m.span() for m in _CARD.finditer(text)
            if 13 <= len(d := re.sub(r"\D", "", m.group())) <= 19 and luhn.is_valid(d)
            and not _IBAN_HEAD.search(text, max(0, m.start() - 6), m.start())]


def _cf(text: str) -> list[tuple[int, int]]:
    cf = _stdnum("it.codicefiscale")
    return [m.span() for m in _CF.finditer(text) if cf.is_valid(m.group().upper())]


def _ssn(text: str) -> list[tuple[int, int]]:
    ssn = _stdnum("us.ssn")
    return [m.span() for m in _SSN.finditer(text) if ssn.is_valid(m.group())]


def _ip(text: str) -> list[tuple[int, int]]:
    out = []
    for m in [*_IPV4.finditer(text), *_IPV6.finditer(text)]:
        try:
            ipaddress.ip_address(m.group())
        except ValueError:
            continue
        out.append(m.span())
    return out


def _phone(text: str, region: str = "US") -> list[tuple[int, int]]:
    phonenumbers = require("phonenumbers", "rag")
    leniency = phonenumbers.Leniency.VALID
    return [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, region,
                                                                       leniency=leniency)]


@functools.cache
def _census(name: str) -> frozenset[str]:
    """A Census 1990 name list the ``names`` package ships, upper case."""
    folder = Path(require("names", "rag").__file__).parent
    with open(folder / name, encoding="ascii") as f:
        return frozenset(line.split(None, 1)[0] for line in f if line.strip())


def _person(text: str) -> list[tuple[int, int]]:
    first = _census("dist.male.first") | _census("dist.female.first")
    last = _census("dist.all.last")
    words = list(_WORD.finditer(text))
    out = []
    for a, b in itertools.pairwise(words):
        if (text[a.end():b.start()] == " " and a.group().upper() in first
                and b.group().split("-")[0].upper() in last
                and (not out or out[-1][1] <= a.start())):
            out.append((a.start(), b.end()))
    return out


def _email(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _EMAIL.finditer(text)]


_FINDERS = {"iban": _iban, "credit_card": _card, "codice_fiscale": _cf, "ssn": _ssn,
            "email": _email, "ip": _ip, "phone": _phone, "person": _person}


def find_pii(text: str, types: tuple[str, ...] = TYPES) -> list[Finding]:
    """Every PII finding in ``text`` of ``types``, in order, none overlapping (a
    validated type wins over a looser one that covers the same characters)."""
    taken: list[tuple[int, int]] = []
    found = []
    for t in TYPES:
        if t not in types:
            continue
        for start, end in _FINDERS[t](text):
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            found.append(Finding(t, start, end, text[start:end]))
    return sorted(found, key=lambda f: f.start)


def counts(findings: list[Finding]) -> dict[str, int]:
    """Findings by type."""
    return dict(sorted(Counter(f.type for f in findings).items()))


def token(finding: Finding, key: bytes) -> str:
    """The keyed hash that stands for a value in ``hash`` mode: equal values give equal
    tokens within one index, and the value cannot be read back without the key."""
    digest = hmac.new(key, finding.value.encode(), hashlib.sha256).hexdigest()[:12]
    return f"[{finding.type.upper()}:{digest}]"


def redact(text: str, findings: list[Finding], mode: str, key: bytes = b"") -> str:
    """``text`` with ``findings`` masked (``[EMAIL]``) or replaced by keyed hashes."""
    if mode not in ("mask", "hash"):
        raise InvalidInput(f"cannot redact text in mode '{mode}'", field="mode", value=mode)
    out, last = [], 0
    for f in sorted(findings, key=lambda f: f.start):
        out.append(text[last:f.start])
        out.append(token(f, key) if mode == "hash" else f"[{f.type.upper()}]")
        last = f.end
    out.append(text[last:])
    return "".join(out)


def mask(text: str) -> str:
    """``text`` with every PII finding of every type masked: what leaves as an answer."""
    return redact(text, find_pii(text), "mask")
