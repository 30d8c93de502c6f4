"""A generated corpus for evaluation: documents in every supported format about distinct
projects, each with facts a generated question asks for and planted PII (valid values
of every type, and look-alikes that fail their checks, which must not be reported)."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from mlfabric.errors import InvalidInput
from mlfabric.extras import require
from mlfabric.records import Record

FORMATS = ("md", "txt", "html", "docx", "pdf")
PLACES = ("Lisbon", "Oslo", "Turin", "Dublin", "Porto", "Krakow", "Valencia", "Tallinn",
          "Bergen", "Ghent", "Lyon", "Bologna", "Seville", "Utrecht", "Gdansk", "Graz",
          "Aarhus", "Bilbao", "Malmo", "Leipzig", "Riga", "Vilnius", "Brno", "Cork", "Nantes",
          "Salzburg", "Tampere", "Split", "Zagreb", "Ljubljana")
DOMAINS = ("cold chain monitoring", "solar irrigation", "fraud detection",
           "wind turbine maintenance", "customer churn prediction", "hospital triage",
           "warehouse robotics", "flood forecasting", "retail pricing", "rail signalling",
           "vaccine logistics", "crop disease detection", "parking guidance",
           "water leak detection", "air quality sensing", "library digitisation",
           "traffic light timing", "ferry scheduling", "school meal planning",
           "forest fire watch")
CITIES = ("Amsterdam", "Vienna", "Prague", "Warsaw", "Madrid", "Athens", "Helsinki",
          "Budapest", "Copenhagen", "Brussels", "Stockholm", "Munich")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
CODENAMES = ("Falcon", "Juniper", "Basalt", "Meridian", "Quartz", "Tundra", "Harbor",
             "Cobalt", "Saffron", "Nimbus", "Orchid", "Granite")
FIRST = ("James", "Mary", "Robert", "Linda", "Michael", "Susan", "David", "Karen",
         "Richard", "Nancy", "Thomas", "Lisa", "Daniel", "Sandra", "Paul", "Donna")
LAST = ("Miller", "Johnson", "Walker", "Turner", "Parker", "Collins", "Stewart", "Morris",
        "Murphy", "Cooper", "Howard", "Ward", "Brooks", "Kelly", "Sanders", "Price")
FILLER = ("The team reviews progress with local partners and records every decision in "
          "the shared log. Field visits confirm that the installed equipment behaves as "
          "the design documents describe. Weekly notes summarise open risks, mitigation "
          "steps and the people responsible for each of them. Lessons learned are shared "
          "with neighbouring programmes so that later phases avoid earlier mistakes.")
# (fact sentence, question, answer): {t} is the project's topic, {v} the value.
FACTS = (
    ("The {t} budget is {v} euros.", "What is the {t} budget?", "{v} euros"),
    ("The {t} team works from {v}.", "Where does the {t} team work?", "{v}"),
    ("The {t} codename is {v}.", "What is the {t} codename?", "{v}"),
    ("The {t} launch is planned for {v}.", "When is the {t} launch planned?", "{v}"),
    ("The {t} review happens every {v} weeks.", "How often does the {t} review happen?",
     "every {v} weeks"),
)


@dataclass(frozen=True)
class Corpus(Record):
    """A generated corpus: where its documents and its truth file went."""

    path: str
    truth: str
    documents: int
    questions: int
    pii: dict[str, int]
    created_at: float


def _value(kind: int, rng: random.Random) -> str:
    return [lambda: f"{rng.randint(11, 95)},{rng.randint(100, 999)}",
            lambda: rng.choice(CITIES), lambda: rng.choice(CODENAMES),
            lambda: f"{rng.choice(MONTHS)} {rng.randint(2027, 2031)}",
            lambda: str(rng.randint(2, 9))][kind]()


def planted_pii(rng: random.Random) -> tuple[dict[str, str], list[str]]:
    """Valid values of every type, and look-alikes that fail their checks."""
    iban = require("stdnum.iban", "rag")
    luhn = require("stdnum.luhn", "rag")
    cf = require("stdnum.it.codicefiscale", "rag")
    ssn = require("stdnum.us.ssn", "rag")
    phonenumbers = require("phonenumbers", "rag")
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    letters = lambda n: "".join(rng.choice("BCDFGLMNPRSTVZ") for _ in range(n))  # noqa: E731
    bban = digits(18)
    good_iban = f"DE{iban.calc_check_digits('DE00' + bban)}{bban}"
    bad_iban = good_iban[:4] + str((int(good_iban[4]) + 1) % 10) + good_iban[5:]
    card15 = "4" + digits(14)
    card = card15 + luhn.calc_check_digit(card15)
    bad_card = card15 + str((int(luhn.calc_check_digit(card15)) + 1) % 10)
    cf15 = f"{letters(6)}{rng.randint(40, 99)}{rng.choice('ABCDEHLMPRST')}" \
           f"{rng.randint(10, 28)}{rng.choice('ABCDEFGHILM')}{rng.randint(100, 999)}"
    good_cf = cf15 + cf.calc_check_digit(cf15)
    bad_cf = cf15 + chr((ord(good_cf[-1]) - 65 + 1) % 26 + 65)
    while True:
        number = f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
        if ssn.is_valid(number):
            break
    while True:
        phone = f"+1 {rng.choice(['212', '415', '617', '312'])} {rng.randint(201, 989)} " \
                f"{rng.randint(1000, 9999)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(phone)):
            break
    first, last = rng.choice(FIRST), rng.choice(LAST)
    spaced = lambda s: " ".join(s[i:i + 4] for i in range(0, len(s), 4))  # noqa: E731
    valid = {"person": f"{first} {last}", "email": f"{first}.{last}@example.org".lower(),
             "phone": phone, "iban": spaced(good_iban), "credit_card": spaced(card),
             "codice_fiscale": good_cf, "ssn": number,
             "ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"}
    lookalikes = [spaced(bad_iban), spaced(bad_card), bad_cf,
                  f"000-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}", "999.12.0.300"]
    return valid, lookalikes


def _document(topic: str, facts: list[str], valid: dict[str, str], lookalikes: list[str]
              ) -> list[tuple[int, str]]:
    """(heading level or 0 for a paragraph, text) in document order."""
    v = valid
    return [
        (1, f"The {topic} project"),
        (2, "Overview"), (0, f"{facts[0]} {FILLER}"),
        (2, "Plan"), (0, " ".join(facts[1:]) + f" {FILLER}"),
        (2, "Contacts"),
        (0, f"The project lead is {v['person']}, reachable at {v['email']} or on "
            f"{v['phone']}. The lead's tax code is {v['codice_fiscale']} and the US social "
            f"security number on file is {v['ssn']}."),
        (2, "Finance"),
        (0, f"Payments go to the account {v['iban']}; the project card is "
            f"{v['credit_card']}. Old reference numbers {lookalikes[0]}, {lookalikes[1]} and "
            f"{lookalikes[2]} are void, as is file number {lookalikes[3]}."),
        (2, "Operations"),
        (0, f"The monitoring server runs at {v['ip']}; build {lookalikes[4]} was withdrawn. "
            f"{FILLER}"),
    ]


def _pdf_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pdf(path: Path, blocks: list[tuple[int, str]]) -> None:
    """A plain one-font PDF of the blocks, wrapped at 90 characters, one page per 50
    lines (what a text-only report printer writes)."""
    import textwrap

    lines = [w for _, text in blocks for w in (textwrap.wrap(text, 90) or [""]) + [""]]
    pages = [lines[i:i + 50] for i in range(0, len(lines), 50)]
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for page in pages:
        body = "BT /F1 10 Tf 14 TL 50 760 Td " + " ".join(f"({_pdf_text(x)}) Tj T*"
                                                          for x in page) + " ET"
        objects.append(f"<< /Length {len(body.encode('latin-1'))} >>\nstream\n{body}\n"
                       "endstream")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents "
                       f"{len(objects)} 0 R /Resources << /Font << /F1 3 0 R >> >> >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{obj}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
            "%%EOF\n").encode()
    path.write_bytes(bytes(out))


def write_document(path: Path, blocks: list[tuple[int, str]]) -> None:
    """``blocks`` in the format ``path``'s suffix names."""
    fmt = path.suffix[1:]
    if fmt == "md":
        path.write_text("\n\n".join(f"{'#' * lv} {t}" if lv else t for lv, t in blocks) + "\n")
    elif fmt == "txt":
        path.write_text("\n\n".join(t for _, t in blocks) + "\n")
    elif fmt == "html":
        body = "".join(f"<h{lv}>{t}</h{lv}>" if lv else f"<p>{t}</p>" for lv, t in blocks)
        path.write_text(f"<!doctype html><html><head><title>{blocks[0][1]}</title>"
                        f"<style>p {{ margin: 0 }}</style></head><body>{body}</body></html>")
    elif fmt == "docx":
        doc = require("docx", "rag").Document()
        for lv, t in blocks:
            doc.add_heading(t, lv) if lv else doc.add_paragraph(t)
        doc.save(str(path))
    elif fmt == "pdf":
        write_pdf(path, blocks)
    else:
        raise InvalidInput(f"no writer for '.{fmt}'", field="format", value=fmt)


def make_corpus(path: str, *, documents: int = 20, truth: str | None = None,
                seed: int = 0) -> Corpus:
    """Write ``documents`` documents (formats in turn) into ``path`` and the QA set and
    planted PII into ``truth`` (default ``PATH.truth.json``, beside it, not in it)."""
    if not 1 <= documents <= len(PLACES) * len(DOMAINS):
        raise InvalidInput(f"documents must be in 1..{len(PLACES) * len(DOMAINS)}",
                           field="documents", value=documents)
    rng = random.Random(seed)
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    pairs = [(p, d) for d in DOMAINS for p in PLACES]
    rng.shuffle(pairs)
    qa, planted = [], []
    for n, (place, domain) in enumerate(pairs[:documents]):
        topic = f"{place} {domain}"
        name = f"{n:04d}-{place.lower()}-{domain.replace(' ', '-')}.{FORMATS[n % len(FORMATS)]}"
        kinds = rng.sample(range(len(FACTS)), 3)
        facts = []
        for k in kinds:
            sentence, question, answer = FACTS[k]
            value = _value(k, rng)
            facts.append(sentence.format(t=topic, v=value))
            qa.append({"question": question.format(t=topic), "answer": answer.format(v=value),
                       "document": name, "sentence": facts[-1]})
        valid, lookalikes = planted_pii(rng)
        planted += [{"document": name, "type": t, "value": v} for t, v in valid.items()]
        write_document(root / name, _document(topic, facts, valid, lookalikes))
    truth_path = Path(truth) if truth else root.with_name(root.name + ".truth.json")
    truth_path.write_text(json.dumps({"seed": seed, "qa": qa, "pii": planted}, indent=1))
    kinds_count: dict[str, int] = {}
    for p in planted:
        kinds_count[p["type"]] = kinds_count.get(p["type"], 0) + 1
    return Corpus(str(root), str(truth_path), documents, len(qa), kinds_count, time.time())
