"""Generate the embedded financial-sentiment dataset (src/sustain/tasks/data/financial_sentiment.jsonl).

A stand-in for the Financial PhraseBank sentences of 2504.06307, whose licence forbids shipping them:
short news sentences about fictional companies, labelled by what they mean for the company's investors.
positive: results, guidance, orders or ratings moving up; negative: the same moving down, losses,
lay-offs, fines; neutral: facts with no direction (dates, appointments, listings, descriptions).
Templates and value pools are combined under a fixed seed, so the file is reproducible byte for byte
and tests/unit/test_financial_sentiment_data.py checks it. Run: python scripts/make_financial_sentiment_dataset.py
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from sustain.tasks.examples import write_jsonl

SEED = 250406307
PER_LABEL = 110
OUT_PATH = Path(__file__).resolve().parents[1] / "src" / "sustain" / "tasks" / "data" / "financial_sentiment.jsonl"

COMPANIES = {
    "shipping": ["Nordvik Shipping", "Baltic Carriers", "Harbourline Logistics"],
    "retail": ["Kestrel Retail", "Marlow & Finch", "Grünwald Stores"],
    "software": ["Quillon Software", "Tessaract Systems", "Brightlane Digital"],
    "pulp and paper": ["Lakeside Paper", "Silvanus Forest Products"],
    "banking": ["Aldercrest Bank", "Meridian Savings Group"],
    "telecom": ["Corvo Telecom", "Stratus Mobile"],
    "engineering": ["Halvorsen Engineering", "Ironbridge Industries", "Kaltio Machinery"],
    "pharmaceuticals": ["Veridia Pharma", "Oakmont Therapeutics"],
    "energy": ["Solvik Energy", "Westmarch Power"],
    "food": ["Fjordland Foods", "Copperkettle Brands"],
}
PERIODS = ["the first quarter", "the second quarter", "the third quarter", "the fourth quarter",
           "the first half", "the January-September period", "the financial year"]
REPORTS = ["first-quarter", "half-year", "third-quarter", "full-year"]
CURRENCIES = ["EUR", "USD", "GBP", "SEK"]
REGIONS = ["Europe", "North America", "the Nordic countries", "Asia", "Germany", "the Baltic region"]
CITIES = ["Helsinki", "Hamburg", "Gothenburg", "Rotterdam", "Tampere", "Leeds", "Lyon", "Gdansk"]
CLIENTS = ["a Norwegian utility", "the Finnish Defence Forces", "a German carmaker", "a US retailer",
           "the city of Rotterdam", "a Swedish telecom operator", "a Dutch port operator"]
PEOPLE = ["Anna Lindqvist", "Markus Heikkinen", "Claire Dubois", "Tomasz Nowak", "Sarah Whitfield",
          "Jens Albrecht", "Elina Saarinen", "David Okoro"]
DATES = ["12 February", "28 April", "3 May", "24 July", "6 August", "23 October", "4 November"]
EXCHANGES = ["Nasdaq Helsinki", "Nasdaq Stockholm", "the Frankfurt Stock Exchange", "Euronext Amsterdam"]
AGENCIES = ["Moody's", "S&P Global", "Fitch"]
YEARS = ["2024", "2025", "2026"]

POSITIVE = [
    "{company}'s net sales rose {pct} % to {cur} {amt} million in {period}, beating analysts' estimates.",
    "{company} raised its full-year guidance after operating profit climbed to {cur} {amt} million.",
    "Shares of {company} jumped {pct} % after the {sector} group won a {cur} {amt} million order from {client}.",
    "{company} swung to a net profit of {cur} {amt} million in {period} from a loss a year earlier.",
    "{company} will raise its dividend to {cur} {dps} per share on the back of record cash flow.",
    "Order intake at {company} grew {pct} % year on year to {cur} {amt} million in {period}.",
    "{company}'s operating margin improved to {margin} % in {period}, up from {low_margin} % a year ago.",
    "{agency} upgraded {company}'s credit rating, citing lower debt and steady demand in {region}.",
    "{company} signed a {cur} {amt} million supply agreement with {client}, its largest contract to date.",
    "Comparable sales at {company} increased {pct} % in {region}, and the company expects growth to continue.",
    "{company} cut its net debt by {pct} % in {period} and now expects earnings to exceed last year's.",
]
NEGATIVE = [
    "{company}'s operating profit fell {pct} % to {cur} {amt} million in {period}, missing forecasts.",
    "{company} cut its full-year outlook, citing weaker demand in {region}.",
    "Shares of {company} slumped {pct} % after the {sector} company warned of a loss for {period}.",
    "{company} will lay off {staff} employees and close its plant in {city}.",
    "{company} swung to a net loss of {cur} {amt} million in {period} from a profit a year earlier.",
    "{company} suspended its dividend as net debt rose to {cur} {amt} million.",
    "Regulators fined {company} {cur} {amt} million for breaching competition rules in {region}.",
    "Net sales at {company} decreased by {pct} % to {cur} {amt} million in {period}.",
    "{agency} downgraded {company}'s credit rating, citing falling margins and rising leverage.",
    "{client} cancelled a {cur} {amt} million order with {company}, which now expects lower revenue.",
    "{company}'s operating margin shrank to {low_margin} % in {period} from {margin} % a year earlier.",
]
NEUTRAL = [
    "{company} will publish its {report} report on {date} {year}.",
    "{company} has appointed {person} as chief financial officer, effective {date}.",
    "The annual general meeting of {company} will be held in {city} on {date} {year}.",
    "{company} operates {plants} production sites in {region} and employs about {staff} people.",
    "{company}'s shares will be listed on {exchange} under the ticker {ticker}.",
    "{company} is a {sector} company headquartered in {city}.",
    "The agreement with {client} does not change {company}'s financial guidance for {year}.",
    "{company} has transferred {shares} treasury shares to its share-based incentive plan.",
    "{person} will present {company}'s strategy at a capital markets day in {city} on {date}.",
    "{company} reports its results in {cur} and follows the IFRS accounting standards.",
    "The board of {company} consists of {plants} members, {person} serving as its chair.",
]


def _values(rng: random.Random) -> dict[str, str]:
    sector = rng.choice(sorted(COMPANIES))
    margin = rng.randint(8, 22)
    company = rng.choice(COMPANIES[sector])
    return {
        "sector": sector, "company": company, "period": rng.choice(PERIODS), "report": rng.choice(REPORTS),
        "cur": rng.choice(CURRENCIES), "amt": f"{rng.randint(12, 2400) / 10:.1f}",
        "pct": f"{rng.randint(21, 389) / 10:.1f}", "dps": f"{rng.randint(15, 180) / 100:.2f}",
        "margin": str(margin), "low_margin": f"{rng.randint(10, margin * 10 - 25) / 10:.1f}",
        "region": rng.choice(REGIONS), "city": rng.choice(CITIES), "client": rng.choice(CLIENTS),
        "person": rng.choice(PEOPLE), "date": rng.choice(DATES), "year": rng.choice(YEARS),
        "exchange": rng.choice(EXCHANGES), "agency": rng.choice(AGENCIES),
        "ticker": "".join(ch for ch in company.upper() if ch.isalpha())[:4],
        "staff": str(rng.randrange(40, 4000, 10)), "plants": str(rng.randint(3, 14)),
        "shares": f"{rng.randrange(5000, 250000, 500):,}",
    }


def _sentences(rng: random.Random, templates: list[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < PER_LABEL:
        template = templates[len(out) % len(templates)]
        sentence = template.format(**_values(rng))
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence[0].upper() + sentence[1:])
    return out


def build_examples() -> list[dict[str, str]]:
    rng = random.Random(SEED)
    labelled = [
        (sentence, label)
        for label, templates in (("positive", POSITIVE), ("negative", NEGATIVE), ("neutral", NEUTRAL))
        for sentence in _sentences(rng, templates)
    ]
    rng.shuffle(labelled)
    return [{"id": f"fs-{i:04d}", "sentence": s, "label": label} for i, (s, label) in enumerate(labelled, 1)]


def main(out: Path = OUT_PATH) -> None:
    write_jsonl(out, build_examples())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_PATH)
