"""Generate the embedded validation-agent dataset (src/sustain/tasks/data/hallucination.jsonl).

The paper's customer-service data is not public, so the benchmark ships a synthetic stand-in:
per-domain policy templates, value pools and chat phrases (data/hallucination_templates.json) and
the intents that draw a conversation from them (here), combined under a fixed seed so the file is
reproducible byte for byte and tests/unit/test_dataset_file.py can check it.
Run: python scripts/make_hallucination_dataset.py
"""

from __future__ import annotations

import json
import random
import re
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sustain.tasks.examples import write_jsonl

SEED = 260119311
OUT_PATH = Path(__file__).resolve().parents[1] / "src" / "sustain" / "tasks" / "data" / "hallucination.jsonl"
GROUNDED, UNGROUNDED, SMALL_TALK = "GROUNDED", "UNGROUNDED", "SMALL_TALK"
PER_DOMAIN = 25
MIN_WORDS = 160
MAX_USER_TURNS = 4
DATA = json.loads((Path(__file__).resolve().parent / "data" / "hallucination_templates.json").read_text("utf-8"))
MONTHS, FIRST_NAMES, SURNAMES = DATA["months"], DATA["first_names"], DATA["surnames"]
POOLS = DATA["pools"]
PRODUCTS, CARRIERS, ROUTES, PLANS, ZONE_A, ZONE_B = (POOLS[k] for k in (
    "products", "carriers", "routes", "plans", "zone_a", "zone_b"))
MERCHANTS, TRANSFER_COUNTRIES, POSTCODES, CAUSES, WORKSPACES = (POOLS[k] for k in (
    "merchants", "transfer_countries", "postcodes", "causes", "workspaces"))
HOTEL_CITIES, ROOMS, REPAIRERS, CARS = (POOLS[k] for k in ("hotel_cities", "rooms", "repairers", "cars"))
CHAT = DATA["chat"]
GREETINGS, GREETING_REPLIES, WELCOMES, OPENERS = (CHAT[k] for k in (
    "greetings", "greeting_replies", "welcomes", "openers"))
VERIFY_ASKS, VERIFY_PROMPTS, VERIFIED = (CHAT[k] for k in ("verify_asks", "verify_prompts", "verified"))
THANKS, THANKS_REPLIES, ACKS, ANYTHING_ELSE, VENTS, EMPATHY = (CHAT[k] for k in (
    "thanks", "thanks_replies", "acks", "anything_else", "vents", "empathy"))
TALK_REASONS = DATA["talk_reasons"]


def fmt(d: date) -> str:
    return f"{MONTHS[d.month - 1]} {d.day}"


def fmt_year(d: date) -> str:
    return f"{fmt(d)}, {d.year}"


def hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def cents(rng: random.Random, lo: float, hi: float) -> float:
    return rng.randrange(int(lo * 100), int(hi * 100)) / 100


def days(n: int) -> timedelta:
    return timedelta(days=n)


def money(cur: str, x: float) -> str:
    x = round(x, 2)
    return f"{cur}{x:,.0f}" if x == int(x) else f"{cur}{x:,.2f}"


@dataclass(frozen=True)
class Claim:
    """A candidate agent response with the sources that back (or refute) it and why."""

    text: str
    sources: tuple[str, ...]
    reason: str


def claim(text: str, sources: str, reason: str) -> Claim:
    """Sources are space-separated tokens: `fnN` for the N-th tool call, otherwise a policy key."""
    return Claim(text, tuple(sources.split()), reason)


def call(name: str, arguments: dict, result: object) -> dict:
    return {"name": name, "arguments": arguments, "result": result}


@dataclass
class Setting:
    """One company's policies and one customer, drawn per example so numbers vary across examples."""

    brand: str
    cur: str
    p: dict
    docs: dict[str, str]
    today: date
    name: str
    surname: str

    def m(self, x: float) -> str:
        return money(self.cur, x)


@dataclass
class Scenario:
    """What an intent template yields: the tool calls, the chat so far and candidate responses."""

    functions: list[dict]
    history: list[str]
    grounded: list[Claim]
    ungrounded: list[Claim]


# --------------------------------------------------------------------------- e-commerce


def shop_status(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    order = str(rng.randint(200000, 989999))
    item, _, lo, hi = rng.choice(PRODUCTS)
    carrier = rng.choice(sorted(CARRIERS))
    status = rng.choice(["in_transit", "in_transit", "processing", "delivered"])
    placed = s.today - days(rng.randint(4, 7) if status == "delivered" else rng.randint(1, 3))
    base = {"order_id": order, "placed_on": placed.isoformat(),
            "items": [{"name": item, "qty": 1, "price": cents(rng, lo, hi)}]}
    if rng.random() < 0.5:
        history = [f"I'm checking on order #{order}, the {item}. What's happening with it?"]
    else:
        history = [f"I ordered a {item} on {fmt(placed)} and I'm wondering where it is.",
                   "I can look into that for you. Could you give me the order number?", f"Sure, it's #{order}."]
    if status == "in_transit":
        shipped = placed + days(1)
        eta = s.today + days(rng.randint(1, 3))
        trk = CARRIERS[carrier] + str(rng.randint(10**9, 10**10 - 1))
        result = {**base, "status": "in_transit", "carrier": carrier, "tracking_number": trk,
                  "shipped_on": shipped.isoformat(), "estimated_delivery": eta.isoformat()}
        grounded = [
            claim(f"Your order #{order} shipped with {carrier} on {fmt(shipped)} and is due to arrive on "
                  f"{fmt(eta)}. You can follow it with tracking number {trk}.", "fn0",
                  "The carrier, ship date, delivery estimate and tracking number all match the order lookup "
                  "in <fn0>."),
            claim(f"Your {item} is on its way with {carrier} and is expected on {fmt(eta)}. If you ever need "
                  f"something faster, express delivery takes 1-2 business days for {s.m(p['express'])}.",
                  "fn0 shipping",
                  "The carrier and delivery date come from <fn0>, and the express delivery time and price are "
                  "stated in the shipping policy <shipping>."),
        ]
        ungrounded = [
            claim(f"Your order #{order} shipped with {carrier} on {fmt(shipped)} and is due to arrive on "
                  f"{fmt(eta + days(2))}.", "fn0",
                  f"The order lookup <fn0> gives an estimated delivery of {fmt(eta)}, not {fmt(eta + days(2))}."),
            claim(f"Your {item} is out for delivery with {carrier} today and should reach you by this evening.",
                  "fn0",
                  f"<fn0> shows the parcel in transit with delivery estimated for {fmt(eta)}; nothing says it is "
                  "out for delivery today."),
        ]
    elif status == "processing":
        ship = s.today + days(1)
        eta = ship + days(rng.randint(3, 5))
        result = {**base, "status": "processing", "carrier": None, "tracking_number": None,
                  "estimated_ship_date": ship.isoformat(), "estimated_delivery": eta.isoformat()}
        grounded = [
            claim(f"Order #{order} hasn't shipped yet: it's still being prepared and is scheduled to ship on "
                  f"{fmt(ship)}, with delivery expected by {fmt(eta)}.", "fn0",
                  "The processing status, ship date and delivery estimate all match the order lookup <fn0>."),
            claim(f"Your {item} is still processing at the moment. The estimated ship date is {fmt(ship)} and "
                  f"the estimated delivery date is {fmt(eta)}.", "fn0",
                  "Both dates and the processing status are taken directly from <fn0>."),
        ]
        ungrounded = [
            claim(f"Order #{order} shipped yesterday and should arrive by {fmt(eta)}.", "fn0",
                  "<fn0> shows the order still processing with no carrier or tracking number, so it has not "
                  "shipped."),
            claim(f"Your {item} is still being prepared, but I've upgraded it to express delivery at no charge, "
                  f"so it will arrive by {fmt(ship + days(1))}.", "fn0 shipping",
                  "No tool call upgraded the shipping; <fn0> estimates delivery on "
                  f"{fmt(eta)}, and the policy <shipping> charges for express delivery."),
        ]
    else:
        delivered = s.today - days(rng.randint(1, 2))
        spot = rng.choice(["front door", "parcel locker", "building reception", "back porch"])
        result = {**base, "status": "delivered", "carrier": carrier, "delivered_on": delivered.isoformat(),
                  "delivered_to": spot, "signature_required": False}
        history = [f"Order #{order} says delivered but there's no {item} here. Where is it?"]
        grounded = [
            claim(f"Our records show order #{order} was delivered by {carrier} on {fmt(delivered)} and left at "
                  f"the {spot}. Could you check there, or with a neighbour?", "fn0",
                  "The delivery date, carrier and drop-off location all match the order lookup <fn0>."),
            claim(f"{carrier} marked your {item} as delivered on {fmt(delivered)}, left at the {spot} with no "
                  "signature required.", "fn0",
                  "The delivery status, date, location and the absence of a signature requirement are all in "
                  "<fn0>."),
        ]
        ungrounded = [
            claim(f"I've opened a missing-parcel claim with {carrier}, and a replacement {item} will ship "
                  "tomorrow.", "fn0",
                  "No tool call opened a claim or created a replacement; <fn0> only shows the order as "
                  "delivered."),
            claim(f"{carrier} shows your parcel is still in transit, so it should turn up tomorrow.", "fn0",
                  f"<fn0> says the order was delivered on {fmt(delivered)}, not that it is still in transit."),
        ]
    return Scenario([call("get_order_status", {"order_id": order}, result)], history, grounded, ungrounded)


def shop_return(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    order = str(rng.randint(200000, 989999))
    item, electronic, lo, hi = rng.choice(PRODUCTS)
    price = cents(rng, lo, hi)
    delivered = s.today - days(rng.randint(2, p["return_days"] - 1))
    window_end = delivered + days(p["return_days"])
    case = rng.choice(["final_sale", "opened", "opened", "unused"]) if electronic else rng.choice(
        ["final_sale", "unused", "unused"])
    opened = case == "opened"
    history = [f"I'd like to return the {item} from order #{order}."
               + (" I've opened it and used it once." if opened else " It's still in its box.")]
    if rng.random() < 0.5:
        history = [f"Can I still send back something I bought from {s.brand}?",
                   "Of course, I can check that. Which order and item is it?",
                   f"Order #{order}, the {item}." + (" It's been opened." if opened else "")]
    args = {"order_id": order, "item": item, "condition": "opened" if opened else "unused"}
    if case == "final_sale":
        result = {"eligible": False, "reason": "final_sale", "delivered_on": delivered.isoformat(),
                  "item_price": price}
        grounded = [
            claim(f"I'm sorry, {s.name}: the {item} on order #{order} was a final-sale purchase, and final-sale "
                  "items can't be returned.", "fn0 returns",
                  "<fn0> marks the item ineligible because it was final sale, and the returns policy <returns> "
                  "excludes final-sale items."),
            claim(f"Unfortunately this {item} isn't eligible for return because it was sold as final sale.",
                  "fn0", "The eligibility check <fn0> returns eligible=false with reason final_sale."),
        ]
        ungrounded = [
            claim(f"Since it was delivered on {fmt(delivered)}, you're within the {p['return_days']}-day window "
                  f"and can return the {item} for a full refund.", "fn0 returns",
                  "<fn0> says the item is not eligible because it was final sale, and <returns> excludes "
                  "final-sale items regardless of the window."),
        ]
    else:
        fee_pct = p["restock"] if opened else 0
        refund = round(price * (1 - fee_pct / 100) - p["label"], 2)
        result = {"eligible": True, "delivered_on": delivered.isoformat(),
                  "return_window_ends": window_end.isoformat(), "item_price": price,
                  "restocking_fee_pct": fee_pct, "return_label_fee": p["label"], "estimated_refund": refund}
        grounded = [
            claim(f"The {item} can be returned until {fmt(window_end)}. Your estimated refund is {s.m(refund)}, "
                  f"after the {s.m(p['label'])} prepaid return label"
                  + (f" and the {fee_pct}% restocking fee." if opened else "."), "fn0",
                  "The return deadline, label fee"
                  + (", restocking fee" if opened else "") + " and estimated refund all come from <fn0>."),
        ]
        if opened:
            grounded.append(claim(
                f"Yes, you can still return it until {fmt(window_end)}. Because opened electronics carry a "
                f"{fee_pct}% restocking fee, that amount and the {s.m(p['label'])} label cost will be deducted "
                "from your refund.", "fn0 returns",
                "The deadline comes from <fn0>, and the restocking fee for opened electronics and the label cost "
                "are stated in <returns>."))
            ungrounded = [
                claim(f"Yes, you can return it until {fmt(window_end)}, and since it's only been used once there's "
                      "no restocking fee.", "fn0 returns",
                      f"<fn0> applies a {fee_pct}% restocking fee, and <returns> charges it on all opened "
                      "electronics."),
                claim(f"You can return it until {fmt(window_end)}; a {fee_pct + 5}% restocking fee applies because "
                      "it's been opened.", "fn0 returns",
                      f"The restocking fee in <fn0> and <returns> is {fee_pct}%, not {fee_pct + 5}%."),
            ]
        else:
            grounded.append(claim(
                f"Good news: unused items can be returned within {p['return_days']} days of delivery, and your "
                f"window runs until {fmt(window_end)}. Once we receive it, refunds usually appear within "
                f"{p['refund_days']} business days.", "fn0 returns refunds",
                "The window length is in <returns>, the exact end date in <fn0>, and the refund timing in "
                "<refunds>."))
            ungrounded = [
                claim(f"You have until {fmt(window_end + days(14))} to send the {item} back.", "fn0",
                      f"<fn0> says the return window ends on {fmt(window_end)}."),
                claim(f"You can return it until {fmt(window_end)}, and we'll email you a free prepaid label.",
                      "fn0 returns",
                      f"<returns> and <fn0> say the label costs {s.m(p['label'])} unless the item was damaged or "
                      "sent in error, which nobody claimed."),
                claim(f"Sure, the {item} is returnable until {fmt(window_end)}, and the refund will reach your "
                      "card within 24 hours of us receiving it.", "fn0 refunds",
                      "<refunds> says returns are inspected within 2 business days and refunds take up to "
                      f"{p['refund_days']} business days, not 24 hours."),
            ]
    return Scenario([call("check_return_eligibility", args, result)], history, grounded, ungrounded)


def shop_refund(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    order = str(rng.randint(200000, 989999))
    ret = f"R-{rng.randint(10000, 99999)}"
    item, _, lo, hi = rng.choice(PRODUCTS)
    price = cents(rng, lo, hi)
    card = f"{rng.choice(['Visa', 'Mastercard', 'Amex'])} ending {rng.randint(1000, 9999)}"
    history = [f"I sent back the {item} from order #{order} last week. When do I get my money?"]
    if rng.random() < 0.5:
        history = [f"I returned a {item} and haven't seen a refund yet.",
                   "Sorry about the wait. Could you share the order number?", f"It's #{order}."]
    if rng.random() < 0.6:
        received = s.today - days(rng.randint(4, 8))
        issued = received + days(2)
        amount = round(price - p["label"], 2)
        result = {"return_id": ret, "order_id": order, "received_on": received.isoformat(),
                  "inspection": "approved", "item_price": price,
                  "deductions": [{"type": "return_label", "amount": p["label"]}], "refund_amount": amount,
                  "refund_method": card, "refund_issued_on": issued.isoformat()}
        grounded = [
            claim(f"We received your return on {fmt(received)} and issued a refund of {s.m(amount)} to your "
                  f"{card} on {fmt(issued)}. It can take up to {p['refund_days']} business days to show on your "
                  "statement.", "fn0 refunds",
                  "The dates, amount and card come from the refund lookup <fn0>; the timing to appear on a "
                  "statement is from <refunds>."),
            claim(f"Your refund of {s.m(amount)} was issued on {fmt(issued)} to the {card}. That's the item price "
                  f"minus the {s.m(p['label'])} return label.", "fn0",
                  "<fn0> lists the refund amount, issue date, card, and the return-label deduction."),
        ]
        ungrounded = [
            claim(f"A full refund of {s.m(price)} was issued to your {card} on {fmt(issued)}.", "fn0",
                  f"<fn0> shows a refund of {s.m(amount)} after a {s.m(p['label'])} label deduction, not the full "
                  "item price."),
            claim(f"Your refund of {s.m(amount)} went to your {card} on {fmt(issued)}, so it should be in your "
                  "account within 1-2 business days.", "fn0 refunds",
                  f"<refunds> says refunds usually appear within {p['refund_days']} business days, not 1-2."),
        ]
    else:
        received = s.today - days(1)
        result = {"return_id": ret, "order_id": order, "received_on": received.isoformat(),
                  "inspection": "pending", "refund_amount": None, "refund_method": card,
                  "refund_issued_on": None}
        grounded = [
            claim(f"Your parcel reached our warehouse on {fmt(received)} and is waiting for inspection, which "
                  "normally happens within 2 business days. Once approved, the refund goes back to your "
                  f"{card}.", "fn0 refunds",
                  "<fn0> shows the return received and inspection pending with the card on file; <refunds> gives "
                  "the 2-day inspection time and refund to the original payment method."),
            claim(f"Return {ret} arrived on {fmt(received)} and is still pending inspection, so no refund has "
                  "been issued yet.", "fn0",
                  "<fn0> has inspection pending and no refund amount or issue date."),
        ]
        ungrounded = [
            claim(f"Your return {ret} has been approved and the refund was sent to your {card} this morning.",
                  "fn0", "<fn0> shows the inspection still pending and no refund issued."),
            claim(f"We received it on {fmt(received)}; inspections take up to 10 business days, and then the "
                  f"refund goes to your {card}.", "fn0 refunds",
                  "<refunds> says parcels are inspected within 2 business days, not 10."),
        ]
    return Scenario([call("get_refund_status", {"order_id": order}, result)], history, grounded, ungrounded)


def shop_cancel(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    order = str(rng.randint(200000, 989999))
    item, _, lo, hi = rng.choice(PRODUCTS)
    total = cents(rng, lo, hi)
    placed_min = rng.randint(8 * 60, 16 * 60)
    window = p["cancel_h"] * 60
    history = [f"I just placed order #{order} for a {item} but ordered the wrong colour. Can I cancel it?"]
    if rng.random() < 0.4:
        history = [f"Is it possible to cancel an order on {s.brand}?",
                   "It depends on when it was placed. What's the order number?",
                   f"#{order}, placed at {hm(placed_min)} today."]
    cancellable = rng.random() < 0.55
    order_res = {"order_id": order, "placed_at": f"{s.today.isoformat()}T{hm(placed_min)}",
                 "status": "pending" if cancellable else "released_to_warehouse", "cancellable": cancellable,
                 "cancellable_until": f"{s.today.isoformat()}T{hm(placed_min + window)}" if cancellable else None,
                 "items": [{"name": item, "qty": 1}], "total": total}
    functions = [call("get_order", {"order_id": order}, order_res)]
    if cancellable:
        functions.append(call("cancel_order", {"order_id": order, "reason": "wrong colour"},
                              {"order_id": order, "cancelled": True, "refund_amount": total,
                               "refund_to": "original payment method"}))
        grounded = [
            claim(f"Done: order #{order} has been cancelled, and {s.m(total)} will be refunded to your original "
                  "payment method.", "fn1",
                  "The cancellation result <fn1> confirms the order is cancelled and the refund amount and "
                  "destination."),
            claim(f"It was still within the {p['cancel_h']}-hour change window, so I've cancelled order "
                  f"#{order}. The {s.m(total)} goes back to your original payment method.", "fn0 fn1 changes",
                  "<changes> sets the cancellation window, <fn0> shows the order was still cancellable, and <fn1> "
                  "confirms the cancellation and refund."),
        ]
        ungrounded = [
            claim(f"Order #{order} is cancelled. You'll receive {s.m(total)} as store credit, available right "
                  "away.", "fn1",
                  "<fn1> says the refund goes to the original payment method, not store credit."),
            claim(f"I've cancelled order #{order}. Just so you know, orders can be cancelled up to 24 hours after "
                  "they're placed.", "fn1 changes",
                  f"<changes> allows cancellation only within {plural(p['cancel_h'], 'hour')} of placing the "
                  "order, not 24 hours."),
        ]
    else:
        grounded = [
            claim(f"I'm sorry, order #{order} has already been released to the warehouse, so it can no longer be "
                  f"cancelled. Once it's delivered, you can return it within {p['return_days']} days instead.",
                  "fn0 changes returns",
                  "<fn0> shows the order released and not cancellable; <changes> says released orders can only "
                  "be returned, and <returns> gives the return window."),
            claim(f"Orders can only be changed within {plural(p['cancel_h'], 'hour')} of being placed, and #{order} "
                  "is already with the warehouse, so I can't cancel it now.", "fn0 changes",
                  "The change window is in <changes>, and <fn0> shows the order released to the warehouse."),
        ]
        ungrounded = [
            claim(f"No problem, I've cancelled order #{order} and the {s.m(total)} refund is on its way.", "fn0",
                  "<fn0> says the order is not cancellable, and no cancellation tool was called."),
            claim(f"Order #{order} was placed less than {plural(p['cancel_h'], 'hour')} ago, so it can still be "
                  "cancelled free of charge.", "fn0",
                  "<fn0> shows the order already released to the warehouse and cancellable=false."),
        ]
    return Scenario(functions, history, grounded, ungrounded)


# --------------------------------------------------------------------------- airline


def air_booking(rng: random.Random, s: Setting, fare: str, dep: date, dep_min: int) -> tuple[str, str, dict]:
    origin, dest, intl = rng.choice(ROUTES)
    if rng.random() < 0.5:
        origin, dest = dest, origin
    pnr = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))
    flight = f"{s.p['code']}{rng.randint(100, 1999)}"
    booking = {"booking_reference": pnr, "passenger": f"{s.name} {s.surname}", "fare": f"Economy {fare}",
               "flight": flight, "origin": origin, "destination": dest, "international": intl,
               "departure": f"{dep.isoformat()}T{hm(dep_min)}",
               "checked_bags_included": 0 if fare == "Light" else 1}
    return pnr, flight, booking


def air_status(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    origin, dest, intl = rng.choice(ROUTES)
    flight = f"{p['code']}{rng.randint(100, 1999)}"
    sched = rng.randrange(6 * 60, 18 * 60, 5)
    delay = rng.choice([0, rng.randrange(40, 160, 5), rng.randrange(190, 295, 5), rng.randrange(310, 360, 5)])
    gate = f"{rng.choice('ABCDE')}{rng.randint(2, 48)}"
    terminal = str(rng.randint(1, 3))
    est = sched + delay
    result = {"flight": flight, "date": s.today.isoformat(), "origin": origin, "destination": dest,
              "scheduled_departure": hm(sched), "estimated_departure": hm(est),
              "status": "on_time" if delay == 0 else "delayed", "delay_minutes": delay, "gate": gate,
              "terminal": terminal}
    history = [f"Is flight {flight} to {dest} on time today?"]
    if rng.random() < 0.5:
        history = [f"I'm flying from {origin} to {dest} this afternoon.",
                   "Happy to check the flight for you. What's the flight number?",
                   f"{flight}. Is it on time, and which gate?"]
    wrong_gate = f"{gate[0]}{int(gate[1:]) + rng.randint(3, 9)}"
    closes = 60 if intl else 45
    if delay == 0:
        grounded = [
            claim(f"Flight {flight} to {dest} is on time, departing at {hm(sched)} from gate {gate} in Terminal "
                  f"{terminal}.", "fn0", "The status, departure time, gate and terminal all match <fn0>."),
            claim(f"{flight} is on schedule for {hm(sched)}. As it's {'an international' if intl else 'a domestic'} "
                  f"flight, check-in and bag drop close {closes} minutes before departure.", "fn0 checkin",
                  "The on-time status and time come from <fn0> (which lists the route), and the closing time for "
                  "this type of flight is in <checkin>."),
        ]
        ungrounded = [
            claim(f"{flight} is on time and now boarding at gate {wrong_gate} in Terminal {terminal}.", "fn0",
                  f"<fn0> lists gate {gate}, not {wrong_gate}, and gives no boarding status."),
            claim(f"{flight} is on time at {hm(sched)}. Check-in closes 30 minutes before departure.",
                  "fn0 checkin", f"<checkin> says check-in closes {closes} minutes before this flight, not 30."),
        ]
    elif delay < 180:
        grounded = [
            claim(f"{flight} is delayed by {delay} minutes and is now expected to leave at {hm(est)} from gate "
                  f"{gate}.", "fn0", "The delay, new departure time and gate are all in <fn0>."),
            claim(f"I'm sorry, {s.name}, your flight to {dest} is running {delay} minutes late; the new estimated "
                  f"departure is {hm(est)} from Terminal {terminal}, gate {gate}.", "fn0",
                  "All figures match the flight status lookup <fn0>."),
        ]
        ungrounded = [
            claim(f"{flight} is delayed by {delay} minutes, so you can pick up a {s.m(p['meal'])} meal voucher "
                  "at the service desk.", "fn0 delays",
                  f"<delays> grants meal vouchers only for delays over 3 hours; <fn0> shows {delay} minutes."),
            claim(f"{flight} is delayed and is now expected to leave at {hm(est + 30)} from gate {gate}.", "fn0",
                  f"<fn0> gives the estimated departure as {hm(est)}, not {hm(est + 30)}."),
        ]
    else:
        hours, mins = divmod(delay, 60)
        grounded = [
            claim(f"I'm sorry, {flight} is delayed by {hours} h {mins} min and is now expected to depart at "
                  f"{hm(est)}. Since the delay is over 3 hours, you can collect a {s.m(p['meal'])} meal voucher "
                  "from the airport service desk.", "fn0 delays",
                  "The delay and new time are from <fn0>; the meal voucher for delays over 3 hours is in "
                  "<delays>."),
            claim(f"{flight} now has an estimated departure of {hm(est)} instead of {hm(sched)}, still from gate "
                  f"{gate}.", "fn0", "The scheduled and estimated times and the gate match <fn0>."),
        ]
        if delay > 300:
            grounded.append(claim(
                f"Your flight is delayed by {delay} minutes, which is more than 5 hours, so if you no longer want "
                "to travel you can cancel and get a refund for the unused part of your ticket.", "fn0 delays",
                "The delay length is from <fn0>, and the refund right for delays over 5 hours is in <delays>."))
            ungrounded = [
                claim(f"Because of the {hours}-hour delay, you're entitled to a full refund plus {s.m(250)} in "
                      "compensation.", "fn0 delays",
                      "<delays> offers a refund of the unused part of the ticket and a meal voucher; no cash "
                      "compensation is mentioned."),
            ]
        else:
            ungrounded = [
                claim(f"{flight} is delayed by {hours} h {mins} min, so you're entitled to cancel and get a full "
                      "refund of your ticket.", "fn0 delays",
                      "<delays> only allows cancellation with refund for delays over 5 hours; <fn0> shows "
                      f"{delay} minutes."),
                claim(f"{flight} is delayed by {hours} h {mins} min; you can collect a {s.m(p['meal'] + 10)} meal "
                      "voucher at the service desk.", "fn0 delays",
                      f"<delays> sets the meal voucher at {s.m(p['meal'])}, not {s.m(p['meal'] + 10)}."),
            ]
    return Scenario([call("get_flight_status", {"flight_number": flight, "date": s.today.isoformat()}, result)],
                    history, grounded, ungrounded)


def air_baggage(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    fare = rng.choice(["Light", "Standard", "Flex"])
    dep = s.today + days(rng.randint(3, 40))
    pnr, _, booking = air_booking(rng, s, fare, dep, rng.randrange(6 * 60, 21 * 60, 5))
    weight = rng.randint(25, 31)
    history = [f"How much luggage can I take on booking {pnr}? My big suitcase is about {weight} kg, and I might "
               "need a second one."]
    if rng.random() < 0.5:
        history = [f"I'm flying to {booking['destination']} on {fmt(dep)} and have a question about bags.",
                   "Sure! Could you give me your booking reference?",
                   f"It's {pnr}. My big suitcase is about {weight} kg, is that a problem?"]
    if fare == "Light":
        grounded = [
            claim(f"Your Economy Light fare includes one cabin bag up to {p['cabin']} kg but no checked bag. You "
                  f"can add a checked bag for {s.m(p['bag_fee'])} online; it's {s.m(p['airport_fee'])} at the "
                  "airport.", "fn0 baggage",
                  "<fn0> shows an Economy Light fare with no checked bags; <baggage> gives the allowance and "
                  "both prices."),
            claim(f"On booking {pnr} there's no checked bag included, so adding one online for "
                  f"{s.m(p['bag_fee'])} is cheaper than paying {s.m(p['airport_fee'])} at the airport.",
                  "fn0 baggage", "<fn0> shows zero checked bags and <baggage> lists the online and airport prices."),
        ]
        ungrounded = [
            claim(f"Your fare includes one checked bag up to 23 kg, so you'd only pay {s.m(p['bag_fee'])} for "
                  "the second suitcase.", "fn0 baggage",
                  "<fn0> shows Economy Light with zero checked bags, and <baggage> says Light includes none."),
            claim(f"Economy Light includes a cabin bag up to {p['cabin'] + 4} kg, and checked bags can be added "
                  f"for {s.m(p['bag_fee'])}.", "baggage",
                  f"<baggage> limits the Light cabin bag to {p['cabin']} kg."),
        ]
    else:
        grounded = [
            claim(f"Your Economy {fare} fare already includes one checked bag up to 23 kg. A second bag costs "
                  f"{s.m(p['bag_fee'])} if you add it online before you fly.", "fn0 baggage",
                  "<fn0> shows the fare and one included bag; <baggage> gives the 23 kg limit and the online "
                  "price."),
            claim(f"A {weight} kg suitcase is over the 23 kg included allowance, so an overweight fee of "
                  f"{s.m(p['ow_fee'])} applies; bags can weigh up to 32 kg.", "baggage",
                  "The 23 kg allowance, the overweight band up to 32 kg and the fee are all in <baggage>."),
        ]
        ungrounded = [
            claim(f"Your {fare} fare includes one checked bag up to 32 kg, so a {weight} kg suitcase is fine "
                  "at no extra cost.", "fn0 baggage",
                  "<baggage> includes bags up to 23 kg and charges an overweight fee for 23-32 kg."),
            claim(f"A second checked bag costs {s.m(p['bag_fee'])} whether you add it online or at the airport.",
                  "baggage", f"<baggage> says extra bags cost {s.m(p['airport_fee'])} at the airport."),
        ]
    return Scenario([call("get_booking", {"booking_reference": pnr}, booking)], history, grounded, ungrounded)


def air_change(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    fare = rng.choice(["Light", "Standard", "Standard", "Flex"])
    dep = s.today + days(rng.randint(5, 30))
    pnr, _, booking = air_booking(rng, s, fare, dep, rng.randrange(7 * 60, 12 * 60, 5))
    new_date = dep + days(rng.randint(1, 3))
    history = [f"Can I move my flight on booking {pnr} to {fmt(new_date)}? Preferably the later one."]
    if rng.random() < 0.5:
        history = [f"My meeting moved, so I need to fly on {fmt(new_date)} instead of {fmt(dep)}.",
                   "I can look at that. What's your booking reference?",
                   f"{pnr}. Is there something in the afternoon or evening?"]
    functions = [call("get_booking", {"booking_reference": pnr}, booking)]
    if fare == "Light":
        grounded = [
            claim(f"I'm sorry, {s.name}, but booking {pnr} is on an Economy Light fare, which can't be changed or "
                  "refunded.", "fn0 changes",
                  "<fn0> shows the Economy Light fare, and <changes> says Light fares cannot be changed."),
            claim("Your ticket is an Economy Light fare, and Light fares can't be changed, so I'm not able to move "
                  "it to another date.", "fn0 changes",
                  "The fare type is in <fn0>; the no-change rule is in <changes>."),
        ]
        ungrounded = [
            claim(f"Light fares can be changed for a {s.m(p['chg_fee'])} fee plus any fare difference, so I can "
                  f"move you to {fmt(new_date)}.", "fn0 changes",
                  "<changes> says Light fares cannot be changed at all."),
        ]
        return Scenario(functions, history, grounded, ungrounded)
    options = []
    for t in sorted(rng.sample(range(13 * 60, 21 * 60, 5), 2)):
        options.append({"flight": f"{p['code']}{rng.randint(100, 1999)}", "departure": hm(t),
                        "seats_left": rng.randint(2, 30), "fare_difference": rng.choice([0, 15, 25, 40, 60, 85])})
    pick = options[-1]
    functions.append(call("search_flights", {"origin": booking["origin"], "destination": booking["destination"],
                                             "date": new_date.isoformat(), "fare": booking["fare"]},
                          {"flights": options}))
    diff = pick["fare_difference"]
    if fare == "Standard":
        total = p["chg_fee"] + diff
        grounded = [
            claim(f"I can move you to {pick['flight']} at {pick['departure']} on {fmt(new_date)}. On your Standard "
                  f"fare that's the {s.m(p['chg_fee'])} change fee plus a {s.m(diff)} fare difference, "
                  f"{s.m(total)} in total.", "fn0 fn1 changes",
                  "The fare is in <fn0>, the flight and fare difference in <fn1>, and the Standard change fee in "
                  "<changes>."),
            claim(f"The later option on {fmt(new_date)} is {pick['flight']} at {pick['departure']}, with "
                  f"{pick['seats_left']} seats left and a fare difference of {s.m(diff)}.", "fn1",
                  "Flight number, time, seats left and fare difference are all in the search results <fn1>."),
        ]
        ungrounded = [
            claim(f"I can move you to {pick['flight']} at {pick['departure']} on {fmt(new_date)}. The change is "
                  f"free on your fare, so you'd only pay the {s.m(diff)} fare difference.", "fn0 fn1 changes",
                  f"<fn0> shows a Standard fare, and <changes> charges Standard fares a {s.m(p['chg_fee'])} "
                  "change fee."),
        ]
        if diff:
            ungrounded.append(claim(
                f"{pick['flight']} at {pick['departure']} on {fmt(new_date)} works, for {s.m(p['chg_fee'])} in "
                "total, since there's no fare difference.", "fn1 changes",
                f"<fn1> lists a fare difference of {s.m(diff)} for that flight, so the total is {s.m(total)}."))
    else:
        grounded = [
            claim(f"Because you're on a Flex fare, there's no change fee: moving to {pick['flight']} at "
                  f"{pick['departure']} on {fmt(new_date)} only costs the {s.m(diff)} fare difference.",
                  "fn0 fn1 changes",
                  "<fn0> shows a Flex fare, <changes> says Flex pays only the fare difference, and <fn1> gives "
                  "the flight and difference."),
            claim(f"There are two options on {fmt(new_date)}: {options[0]['flight']} at "
                  f"{options[0]['departure']} and {pick['flight']} at {pick['departure']}.", "fn1",
                  "Both flights and times are listed in the search results <fn1>."),
        ]
        ungrounded = [
            claim(f"Moving to {pick['flight']} at {pick['departure']} on {fmt(new_date)} costs "
                  f"{s.m(diff + 20)} in fare difference, with no change fee on your Flex fare.", "fn1",
                  f"<fn1> lists a fare difference of {s.m(diff)}, not {s.m(diff + 20)}."),
            claim(f"On a Flex fare you can change for free up to 1 hour before departure, so {pick['flight']} at "
                  f"{pick['departure']} is no problem.", "changes",
                  "<changes> allows changes only until 3 hours before departure, not 1 hour."),
        ]
    return Scenario(functions, history, grounded, ungrounded)


def air_checkin(rng: random.Random, s: Setting) -> Scenario:
    fare = rng.choice(["Light", "Standard", "Flex"])
    dep = s.today + days(rng.randint(1, 6))
    dep_min = rng.randrange(6 * 60, 22 * 60, 5)
    pnr, flight, booking = air_booking(rng, s, fare, dep, dep_min)
    intl = booking["international"]
    closes = 60 if intl else 45
    history = [f"When can I check in for {flight} to {booking['destination']}? Booking ref {pnr}."]
    if rng.random() < 0.5:
        history = ["I've never flown with you before. How does check-in work?",
                   "Online check-in is the easiest way. Would you like me to check the times for your booking?",
                   f"Yes please, it's {pnr}."]
    grounded = [
        claim(f"Your flight {flight} departs at {hm(dep_min)} on {fmt(dep)}, so online check-in opens at "
              f"{hm(dep_min)} on {fmt(dep - days(1))}. As it's {'an international' if intl else 'a domestic'} "
              f"flight, it closes {closes} minutes before departure.", "fn0 checkin",
              "The departure time and route type come from <fn0>; the 24-hour opening and the closing rule come "
              "from <checkin>."),
        claim(f"Check-in for {flight} opens 24 hours before departure and closes at {hm(dep_min - closes)}, "
              f"{closes} minutes before your {hm(dep_min)} departure. Bag drop closes at the same time.",
              "fn0 checkin",
              "<fn0> gives the departure time and whether the flight is international; <checkin> gives the "
              "opening and closing rules."),
    ]
    ungrounded = [
        claim(f"You can check in for {flight} from 48 hours before departure, so from {hm(dep_min)} on "
              f"{fmt(dep - days(2))}.", "fn0 checkin", "<checkin> says online check-in opens 24 hours before "
              "departure, not 48."),
        claim(f"Check-in for {flight} closes 30 minutes before your {hm(dep_min)} departure.", "fn0 checkin",
              f"<checkin> closes check-in {closes} minutes before this {'international' if intl else 'domestic'} "
              "flight."),
    ]
    return Scenario([call("get_booking", {"booking_reference": pnr}, booking)], history, grounded, ungrounded)


# --------------------------------------------------------------------------- telecom


def tel_plans(p: dict) -> list[dict]:
    return [{"name": n, "monthly_price": price + p["bump"] - 0.01, "data_gb": gb} for n, gb, price in PLANS]


def tel_line(rng: random.Random, s: Setting, plan: dict, roaming: bool) -> tuple[str, dict]:
    msisdn = f"07{rng.randint(100, 999)} {rng.randint(100000, 999999)}"
    cycle_end = s.today + days(rng.randint(3, 25))
    line = {"msisdn": msisdn, "holder": f"{s.name} {s.surname}", "plan": plan["name"],
            "monthly_price": plan["monthly_price"], "data_allowance_gb": plan["data_gb"],
            "data_used_gb": round(rng.uniform(1, 9), 1), "roaming_enabled": roaming, "travel_pass_active": False,
            "billing_cycle_ends": cycle_end.isoformat()}
    return msisdn, line


def tel_roaming(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    plan = rng.choice(tel_plans(p))
    roaming_on = rng.random() < 0.7
    msisdn, line = tel_line(rng, s, plan, roaming_on)
    zone_a = rng.random() < 0.5
    country = rng.choice(ZONE_A if zone_a else ZONE_B)
    place = country[0].upper() + country[1:]
    history = [f"I'm travelling to {country} next week. Will my phone work there and what will it cost?"]
    if rng.random() < 0.5:
        history = [f"I'm off to {country} on holiday soon.", "Lovely! Do you have a question about roaming?",
                   f"Yes, my number is {msisdn}. Can I use my data there?"]
    switch = "" if roaming_on else "Roaming is currently switched off on your line, so turn it on before you go. "
    switch_src = "" if roaming_on else " fn0"
    if zone_a:
        grounded = [
            claim(f"{switch}{place} is in Zone A, so you can use your {plan['name']} minutes, texts and data at no "
                  f"extra cost, with a fair-use limit of {p['fair']} GB of data a month.", f"roaming{switch_src}",
                  "<roaming> lists the destination in Zone A with no extra cost and the fair-use limit"
                  + (", and <fn0> shows roaming disabled." if not roaming_on else ".")),
            claim(f"Good news: {country} is a Zone A destination, so roaming costs nothing extra on your plan up to "
                  f"{p['fair']} GB a month.", "roaming",
                  "The Zone A country list and the fair-use limit are in <roaming>."),
        ]
        ungrounded = [
            claim(f"In {country} you get unlimited data at no extra cost, with no fair-use limit.", "roaming",
                  f"<roaming> sets a fair-use limit of {p['fair']} GB per month in Zone A."),
            claim(f"{place} is in Zone A, but you'll need a Travel Pass at {s.m(p['pass_fee'])} a day to use "
                  "your data.", "roaming",
                  "<roaming> says Zone A usage is included at no extra cost; the Travel Pass is for Zone B."),
        ]
    else:
        grounded = [
            claim(f"{switch}{place} is in Zone B, so I'd recommend a Travel Pass: {s.m(p['pass_fee'])} per day with "
                  f"{p['pass_gb']} GB of data. Without it, data is charged at {s.m(p['per_mb'])} per MB.",
                  f"roaming{switch_src}",
                  "The Zone B list, Travel Pass price, data and pay-per-MB rate are in <roaming>"
                  + ("; <fn0> shows roaming disabled." if not roaming_on else ".")),
            claim(f"Your line doesn't have a Travel Pass yet. For {country}, the pass costs {s.m(p['pass_fee'])} a "
                  f"day and includes {p['pass_gb']} GB of data.", "fn0 roaming",
                  "<fn0> shows travel_pass_active=false, and <roaming> gives the Zone B pass price and data."),
        ]
        ungrounded = [
            claim(f"{place} is covered by your plan at no extra cost, up to {p['fair']} GB a month.", "roaming",
                  f"<roaming> puts {country} in Zone B, which needs a Travel Pass or pay-per-MB data."),
            claim(f"For {country} the Travel Pass is {s.m(p['pass_fee'])} per day and includes unlimited data.",
                  "roaming", f"<roaming> says the pass includes {p['pass_gb']} GB of data, not unlimited."),
            claim(f"Your Travel Pass for {country} is already active on {msisdn}, so you're all set.", "fn0",
                  "<fn0> shows travel_pass_active=false, and no tool call activated one."),
        ]
    return Scenario([call("get_line", {"msisdn": msisdn}, line)], history, grounded, ungrounded)


def tel_upgrade(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    plans = tel_plans(p)
    idx = rng.randint(0, 2)
    current, better = plans[idx], plans[idx + 1]
    msisdn, line = tel_line(rng, s, current, True)
    cycle_end = date.fromisoformat(line["billing_cycle_ends"])
    line["data_used_gb"] = round(current["data_gb"] * rng.uniform(0.85, 0.99), 1)
    history = [f"I keep running out of data on {msisdn}. What are my options?"]
    if rng.random() < 0.5:
        history = ["My data ran out again this month.", "Sorry to hear that! Which number is it for?",
                   f"{msisdn}. Is there a bigger plan?"]
    better_gb = "unlimited data" if better["data_gb"] is None else f"{better['data_gb']} GB"
    grounded = [
        claim(f"You're on {current['name']} at {s.m(current['monthly_price'])} a month with {current['data_gb']} "
              f"GB. {better['name']} gives you {better_gb} for {s.m(better['monthly_price'])} a month, and as an "
              "upgrade it takes effect straight away with a prorated first bill.", "fn0 fn1 contract",
              "The current plan is in <fn0>, the next plan's price and data in <fn1>, and the immediate, "
              "prorated upgrade rule in <contract>."),
        claim(f"If you'd rather keep {current['name']}, a 20 GB add-on costs {s.m(p['a20'])} and lasts until your "
              f"billing cycle ends on {fmt(cycle_end)}.", "fn0 addons",
              "The add-on price and expiry rule are in <addons>, and the cycle end date is in <fn0>."),
        claim(f"You've used {line['data_used_gb']} GB of your {current['data_gb']} GB. The next plan up is "
              f"{better['name']} at {s.m(better['monthly_price'])} per month.", "fn0 fn1",
              "Usage and allowance are in <fn0>; the next plan and its price are in <fn1>."),
    ]
    ungrounded = [
        claim(f"{better['name']} gives you {better_gb} for {s.m(better['monthly_price'])} a month; the upgrade "
              "will start from your next billing cycle.", "fn1 contract",
              "<contract> says upgrades take effect immediately; only downgrades wait for the next cycle."),
        claim(f"You can move to {better['name']} for {s.m(better['monthly_price'] - 4)} a month with "
              f"{better_gb}.", "fn1",
              f"<fn1> prices {better['name']} at {s.m(better['monthly_price'])}, not "
              f"{s.m(better['monthly_price'] - 4)}."),
        claim(f"A 20 GB add-on costs {s.m(p['a20'])} and rolls over for three months if you don't use it.",
              "addons", "<addons> says add-ons expire at the end of the billing cycle they were bought in."),
    ]
    functions = [call("get_line", {"msisdn": msisdn}, line),
                 call("list_plans", {"include_promotions": False}, {"plans": plans})]
    return Scenario(functions, history, grounded, ungrounded)


def tel_bill(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    plan = rng.choice(tel_plans(p))
    issued = date(s.today.year, s.today.month, 1)
    due = issued + days(14)
    period_end = issued - days(1)
    month = MONTHS[period_end.month - 1]
    country = rng.choice(ZONE_B)
    mb = rng.randint(120, 900)
    roam = round(mb * p["per_mb"], 2)
    total = round(plan["monthly_price"] + roam, 2)
    account = f"AC{rng.randint(1000000, 9999999)}"
    result = {"account": account, "period": f"{period_end.year}-{period_end.month:02d}",
              "issued_on": issued.isoformat(), "due_date": due.isoformat(), "status": "unpaid", "total": total,
              "items": [{"description": f"{plan['name']} monthly charge", "amount": plan["monthly_price"]},
                        {"description": f"Data roaming - {country} (no Travel Pass)", "usage_mb": mb,
                         "amount": roam}]}
    history = [f"My {month} bill is way higher than usual. Why?"]
    if rng.random() < 0.5:
        history = ["I want to query a charge on my bill.", "Of course. Could you give me your account number?",
                   f"{account}. The {month} one is much higher than normal."]
    grounded = [
        claim(f"Your {month} bill is {s.m(total)}: besides the {s.m(plan['monthly_price'])} plan charge, it "
              f"includes {s.m(roam)} for {mb} MB of data used in {country} without a Travel Pass. It's due by "
              f"{fmt(due)}.", "fn0", "The total, both line items, the usage and the due date all come from <fn0>."),
        claim(f"The extra {s.m(roam)} is roaming data in {country}, which is charged per MB when no Travel Pass is "
              f"active. If the bill isn't paid by {fmt(due)}, a {s.m(p['late'])} late-payment fee is added.",
              "fn0 roaming billing",
              "The roaming charge and due date are in <fn0>; pay-per-MB roaming is described in <roaming> and "
              "the late fee in <billing>."),
    ]
    ungrounded = [
        claim(f"Your {month} bill of {s.m(total)} includes {s.m(roam)} of roaming in {country}. It's due by "
              f"{fmt(due + days(14))}.", "fn0", f"<fn0> gives the due date as {fmt(due)}."),
        claim(f"I've removed the {s.m(roam)} roaming charge, so you now only owe {s.m(plan['monthly_price'])}.",
              "fn0", "No tool call adjusted the bill; <fn0> still shows the roaming charge and the full total."),
    ]
    return Scenario([call("get_bill", {"account": account, "period": result["period"]}, result)], history,
                    grounded, ungrounded)


# --------------------------------------------------------------------------- banking


def bank_lost_card(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    last4 = str(rng.randint(1000, 9999))
    brand_card = rng.choice(["Visa debit", "Mastercard debit", "Visa credit"])
    express = rng.random() < 0.35
    arrive = s.today + days(2 if express else p["repl_days"] + 2)
    frozen_at = f"{s.today.isoformat()}T{hm(rng.randint(7 * 60, 22 * 60))}"
    history = [f"I think I lost my card ending {last4}. Can you block it and send a new one?"]
    if rng.random() < 0.5:
        history = ["I can't find my bank card anywhere.", "I'm sorry to hear that. Which card is it?",
                   f"The {brand_card} ending {last4}. Please freeze it and send me a new one"
                   + (", as fast as possible." if express else ".")]
    functions = [
        call("freeze_card", {"card_last4": last4},
             {"card": f"{brand_card} ending {last4}", "status": "frozen", "frozen_at": frozen_at}),
        call("order_replacement_card", {"card_last4": last4, "delivery": "express" if express else "standard"},
             {"replacement_id": f"RC-{rng.randint(100000, 999999)}", "delivery": "express" if express else "standard",
              "fee": p["express"] if express else 0, "estimated_arrival": arrive.isoformat(),
              "address_on_file": f"**** {rng.choice(['Main St', 'Rue Verte', 'Parkweg', 'Via Roma'])}"}),
    ]
    fee_text = f"for {s.m(p['express'])}" if express else "free of charge"
    grounded = [
        claim(f"I've frozen your card ending {last4}, so it can't be used. Your replacement is being sent by "
              f"{'express' if express else 'standard'} delivery {fee_text} and should arrive by {fmt(arrive)}.",
              "fn0 fn1", "<fn0> confirms the freeze, and <fn1> gives the delivery type, fee and arrival date."),
        claim(f"Your {brand_card} ending {last4} is now frozen, and a new card is on its way for {fmt(arrive)}. If "
              "the old card turns up, you can unfreeze it at any time in the app.", "fn0 fn1 cards",
              "The freeze and arrival date are in <fn0> and <fn1>; unfreezing at any time is in <cards>."),
    ]
    ungrounded = [
        claim(f"I've frozen the card ending {last4} and refunded the recent payments you didn't make.", "fn0",
              "Only the freeze in <fn0> happened; no tool call reviewed or refunded any payments."),
        claim(f"Your card ending {last4} is frozen, and the replacement will arrive tomorrow.", "fn0 fn1",
              f"<fn1> estimates arrival on {fmt(arrive)}, not tomorrow."),
    ]
    if not express:
        ungrounded.append(claim(
            f"The card ending {last4} is frozen. Standard delivery of the replacement costs {s.m(p['express'])} and "
            f"takes about {p['repl_days']} business days.", "fn1 cards",
            "<fn1> shows a fee of 0, and <cards> says standard replacements are free."))
    return Scenario(functions, history, grounded, ungrounded)


def bank_transfer(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    country = rng.choice(TRANSFER_COUNTRIES)
    sent = rng.choice([0, 0, 1500, 2500, 4000])
    remaining = p["limit"] - sent
    amount = rng.choice([1200, 2000, 3000, 4500, 6000])
    balance = cents(rng, amount + 500, amount + 9000)
    iban = f"{rng.choice(['DE', 'NL', 'FR', 'IE'])}** **** {rng.randint(1000, 9999)}"
    result = {"account": iban, "currency": "EUR", "available_balance": balance, "daily_limit": p["limit"],
              "sent_today": sent, "remaining_limit_today": remaining}
    who, whom = rng.choice([("my sister", "your sister"), ("my landlord", "your landlord"),
                            ("a friend", "your friend"), ("my son", "your son")])
    history = [f"Can I send {s.m(amount)} to {who} in {country} today?"]
    if rng.random() < 0.5:
        history = ["I need to make an international payment.", "Sure, where would you like to send money?",
                   f"{s.m(amount)} to {who} in {country}. Can I do it today?"]
    if amount <= remaining:
        grounded = [
            claim(f"Yes, you can send {s.m(amount)} today: you have {s.m(balance)} available and "
                  f"{s.m(remaining)} of today's limit left. As a SWIFT transfer to {country} it costs "
                  f"{s.m(p['swift'])} and usually arrives in 1-3 business days.", "fn0 transfers",
                  "Balance and remaining limit are in <fn0>; the SWIFT fee and timing are in <transfers>."),
            claim(f"International transfers cost {s.m(p['swift'])} and take 1-3 business days, and requests made "
                  "after 16:00 are processed the next business day.", "transfers",
                  "Fee, timing and the 16:00 cut-off are all in <transfers>."),
        ]
        ungrounded = [
            claim(f"Yes, you have {s.m(balance)} available, and the money will reach {whom} within minutes.",
                  "fn0 transfers",
                  "<transfers> says SWIFT transfers take 1-3 business days; only SEPA and internal ones are "
                  "instant."),
            claim(f"You can send it today. International transfers over {s.m(1000)} are free, so there's no fee.",
                  "transfers", f"<transfers> charges {s.m(p['swift'])} for international transfers with no "
                  "exemption."),
        ]
    else:
        grounded = [
            claim(f"Today you have {s.m(remaining)} left of your {s.m(p['limit'])} daily transfer limit, so a "
                  f"{s.m(amount)} transfer won't go through today.", "fn0 transfers",
                  "<fn0> shows the remaining limit and <transfers> the daily limit; the amount exceeds it."),
            claim(f"You've already sent {s.m(sent)} today, which leaves {s.m(remaining)} of your daily limit, less "
                  f"than the {s.m(amount)} you want to send.", "fn0",
                  "Sent-today and remaining-limit figures come from <fn0>."),
        ]
        ungrounded = [
            claim(f"You have {s.m(balance)} available, so sending {s.m(amount)} to {country} today is no problem.",
                  "fn0", f"<fn0> shows only {s.m(remaining)} of today's limit remaining, below {s.m(amount)}."),
        ]
    return Scenario([call("get_account_summary", {"account": iban}, result)], history, grounded, ungrounded)


def bank_dispute(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    last4 = str(rng.randint(1000, 9999))
    merchants = rng.sample(MERCHANTS, 4)
    txns = []
    for merchant in merchants:
        d = s.today - days(rng.randint(1, 25))
        txns.append({"id": f"TX{rng.randint(100000, 999999)}", "date": d.isoformat(), "merchant": merchant,
                     "amount": cents(rng, 4, 180), "status": "posted"})
    txns.sort(key=lambda t: t["date"], reverse=True)
    bad = txns[rng.randrange(len(txns))]
    bad_date = date.fromisoformat(bad["date"])
    history = [f"There's a payment of {s.m(bad['amount'])} to {bad['merchant']} on my card that I don't "
               "recognise."]
    if rng.random() < 0.5:
        history = [f"Something looks off on my card ending {last4}.",
                   "Let me help. Which transaction don't you recognise?",
                   f"{bad['merchant']}, {s.m(bad['amount'])}. I've never shopped there."]
    functions = [call("list_card_transactions", {"card_last4": last4, "days": 30}, {"transactions": txns})]
    opened = rng.random() < 0.5
    if opened:
        dispute = f"DSP-{rng.randint(10000, 99999)}"
        credit_by = s.today + days(14)
        functions.append(call("open_dispute", {"transaction_id": bad["id"], "reason": "unrecognised"},
                              {"dispute_id": dispute, "status": "opened",
                               "provisional_credit_expected_by": credit_by.isoformat()}))
        grounded = [
            claim(f"I've opened dispute {dispute} for the {s.m(bad['amount'])} charge from {bad['merchant']}. A "
                  f"provisional credit is expected by {fmt(credit_by)}, and the investigation can take up to 45 "
                  "days.", "fn1 disputes",
                  "<fn1> confirms the dispute and the credit date; <disputes> gives the 45-day investigation time."),
            claim(f"The {bad['merchant']} payment of {s.m(bad['amount'])} on {fmt(bad_date)} is now under dispute "
                  f"({dispute}), and you should see a provisional credit by {fmt(credit_by)}.", "fn0 fn1",
                  "The transaction details are in <fn0>, the dispute ID and credit date in <fn1>."),
        ]
        ungrounded = [
            claim(f"I've opened dispute {dispute}, and the {s.m(bad['amount'])} has already been credited back to "
                  "your account.", "fn1",
                  f"<fn1> only expects a provisional credit by {fmt(credit_by)}; nothing shows it was credited."),
            claim(f"Dispute {dispute} is open. Investigations usually finish within 5 business days.", "fn1 disputes",
                  "<disputes> says investigations take up to 45 days; nothing supports 5 business days."),
        ]
    else:
        grounded = [
            claim(f"I can see the {s.m(bad['amount'])} payment to {bad['merchant']} on {fmt(bad_date)}. Since it's "
                  f"within {p['dispute_days']} days, you can dispute it, and we'd apply a provisional credit within "
                  "10 business days while we investigate.", "fn0 disputes",
                  "The transaction is in <fn0>; the reporting window and provisional credit are in <disputes>."),
            claim(f"That charge from {bad['merchant']} posted on {fmt(bad_date)} for {s.m(bad['amount'])}. You "
                  f"have {p['dispute_days']} days from the transaction date to report it.", "fn0 disputes",
                  "Merchant, date and amount match <fn0>; the reporting window is in <disputes>."),
        ]
        ungrounded = [
            claim(f"I see the {bad['merchant']} payment on {fmt(bad_date)}. You have 30 days from the transaction "
                  "to dispute it.", "fn0 disputes",
                  f"<disputes> allows {p['dispute_days']} days, not 30."),
            claim(f"I see the {s.m(bad['amount'])} payment to {bad['merchant']}. If you dispute it, the money is "
                  "returned immediately.", "fn0 disputes",
                  "<disputes> says a provisional credit is applied within 10 business days, not immediately."),
        ]
    return Scenario(functions, history, grounded, ungrounded)


# --------------------------------------------------------------------------- utilities


def util_bill(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    account = f"{rng.randint(10000000, 99999999)}"
    period_end = date(s.today.year, s.today.month, 1) - days(1)
    month = MONTHS[period_end.month - 1]
    n_days = period_end.day
    estimated = rng.random() < 0.55
    kwh = rng.randint(180, 520)
    amount = round(kwh * p["rate"] / 100 + n_days * p["stand"] / 100, 2)
    prev = round(amount * rng.uniform(0.55, 0.8), 2)
    result = {"account": account, "period": f"{period_end.year}-{period_end.month:02d}",
              "reading_type": "estimated" if estimated else "actual", "usage_kwh": kwh,
              "unit_rate_p": p["rate"], "standing_charge_p_per_day": p["stand"], "days": n_days,
              "amount": amount, "previous_amount": prev, "tariff": "Standard Variable"}
    history = [f"Why is my {month} electricity bill so high?"]
    if rng.random() < 0.5:
        history = ["I've just had my bill and it's a lot more than usual.",
                   "I'm sorry about that. Could you confirm your account number so I can take a look?",
                   f"It's {account}. The {month} one."]
    if estimated:
        grounded = [
            claim(f"Your {month} bill of {s.m(amount)} was based on an estimated reading of {kwh} kWh, which is "
                  f"why it's higher than last month's {s.m(prev)}. If you send an actual reading, the estimate will "
                  "be corrected on your next bill.", "fn0 readings",
                  "The amount, estimated usage and previous amount are in <fn0>; correction on the next bill is "
                  "in <readings>."),
            claim(f"This bill used an estimate. Submitting a reading by the {p['reading_day']}th of the month "
                  "avoids estimated bills in future.", "fn0 readings",
                  "<fn0> marks the reading as estimated; the submission deadline is in <readings>."),
        ]
        ungrounded = [
            claim(f"Your {month} bill of {s.m(amount)} was estimated. Send me a reading and I'll cancel it and "
                  "issue a corrected bill within 24 hours.", "fn0 readings",
                  "<readings> says estimated bills are corrected on the next bill, not reissued within 24 hours."),
            claim(f"Your {month} bill was based on an actual meter reading of {kwh} kWh.", "fn0",
                  "<fn0> shows reading_type estimated, not actual."),
        ]
    else:
        grounded = [
            claim(f"Your {month} bill used an actual reading: {kwh} kWh at {p['rate']}p per kWh, plus {n_days} days "
                  f"of standing charge at {p['stand']}p, for {s.m(amount)} in total.", "fn0",
                  "Usage, unit rate, standing charge, days and amount are all in <fn0>."),
            claim(f"The {s.m(amount)} bill is based on an actual reading of {kwh} kWh, so it reflects what you "
                  f"used; last month's bill was {s.m(prev)}.", "fn0",
                  "<fn0> gives the reading type, usage, amount and previous amount."),
        ]
        ungrounded = [
            claim(f"Your {month} bill covers {kwh} kWh at {round(p['rate'] - 2.5, 1)}p per kWh plus the standing "
                  "charge.", "fn0 tariffs",
                  f"<fn0> and <tariffs> give a unit rate of {p['rate']}p, not {round(p['rate'] - 2.5, 1)}p."),
            claim(f"Your {month} bill of {s.m(amount)} was estimated, so it will be corrected once we have a "
                  "reading.", "fn0", "<fn0> shows the bill used an actual reading."),
        ]
    return Scenario([call("get_latest_bill", {"account": account}, result)], history, grounded, ungrounded)


def util_payplan(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    account = f"{rng.randint(10000000, 99999999)}"
    balance = cents(rng, 180, 900)
    dd = rng.random() < 0.4
    options = [{"months": k, "monthly_amount": round(balance / k, 2)} for k in (3, 6, 12) if k <= p["months"]]
    pick = rng.choice(options)
    functions = [
        call("get_balance", {"account": account},
             {"balance_due": balance, "overdue_since": (s.today - days(rng.randint(10, 60))).isoformat(),
              "payment_method": "direct_debit" if dd else "card"}),
        call("get_payment_plan_options", {"account": account}, {"interest": 0, "options": options}),
    ]
    history = ["I'm struggling to pay my energy bill this month. Is there anything you can do?"]
    if rng.random() < 0.5:
        history = ["I've fallen behind on my bills and I'm worried.",
                   "I'm sorry to hear that, we'll find a way to help. What's your account number?",
                   f"{account}. Could I pay it off in instalments?"]
    grounded = [
        claim(f"You owe {s.m(balance)}, and we can spread it over {pick['months']} months at "
              f"{s.m(pick['monthly_amount'])} a month, with no interest or fees.", "fn0 fn1 payments",
              "The balance is in <fn0>, the instalment option in <fn1>, and the no-interest, no-fee terms in "
              "<payments>."),
        claim("Here are your options: " + ", ".join(f"{o['months']} months at {s.m(o['monthly_amount'])}"
                                                   for o in options) + ", all interest-free.", "fn1",
              "Every option and the zero interest come from <fn1>."),
    ]
    if not dd:
        grounded.append(claim(
            f"You could split the {s.m(balance)} over {pick['months']} months at {s.m(pick['monthly_amount'])} "
            f"each, and switching to Direct Debit would also give you a {s.m(p['dd'])} monthly discount.",
            "fn0 fn1 payments",
            "<fn0> shows you pay by card and the balance, <fn1> the plan, and <payments> the Direct Debit "
            "discount."))
    ungrounded = [
        claim(f"We can spread the {s.m(balance)} over {pick['months']} months; a small 2% interest charge is "
              "added to payment plans.", "fn1 payments",
              "<payments> and <fn1> say payment plans carry no interest or fees."),
        claim(f"You can spread the {s.m(balance)} over up to 24 months.", "fn1 payments",
              f"<payments> allows up to {p['months']} months, and <fn1> offers nothing longer."),
        claim(f"Over {pick['months']} months that would be {s.m(pick['monthly_amount'] + 12)} a month.", "fn1",
              f"<fn1> gives {s.m(pick['monthly_amount'])} a month for that plan."),
    ]
    return Scenario(functions, history, grounded, ungrounded)


def util_outage(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    postcode = rng.choice(POSTCODES)
    start = rng.randrange(6 * 60, 16 * 60, 5)
    restore = start + rng.randrange(120, 420, 15)
    homes = rng.randint(40, 1800)
    cause = rng.choice(CAUSES)
    result = {"postcode": postcode, "outage": True, "type": "unplanned", "started_at": hm(start),
              "estimated_restoration": hm(restore), "customers_affected": homes, "cause": cause,
              "engineers_on_site": rng.random() < 0.7}
    history = [f"My power's gone off at {postcode}. Is there a problem in the area?"]
    if rng.random() < 0.5:
        history = ["All the lights just went out in my flat.", "That's frustrating. What's your postcode?",
                   f"{postcode}. Is it just me, and when will it be back?"]
    grounded = [
        claim(f"Yes, there's an unplanned power cut affecting around {homes:,} homes in {postcode}, caused by "
              f"{cause}. Engineers expect power to be back by {hm(restore)}.", "fn0",
              "The outage type, number affected, cause and restoration time are all in <fn0>."),
        claim(f"The outage started at {hm(start)} and power should be restored by {hm(restore)}. If it lasts more "
              f"than 12 hours, you'll receive {s.m(p['comp'])} compensation automatically.", "fn0 outages",
              "Start and restoration times are in <fn0>; the 12-hour compensation rule is in <outages>."),
    ]
    ungrounded = [
        claim(f"There's a known fault in {postcode} and power should be back by {hm(restore - 90)}.", "fn0",
              f"<fn0> estimates restoration at {hm(restore)}, not {hm(restore - 90)}."),
        claim(f"If the power isn't back within 6 hours, you'll get {s.m(p['comp'])} compensation.", "fn0 outages",
              "<outages> pays compensation only after more than 12 hours."),
        claim(f"Power should be back by {hm(restore)}. To get compensation, you'll need to call us and apply "
              "within 7 days.", "fn0 outages",
              "<outages> says compensation is paid automatically; no application deadline is mentioned."),
    ]
    return Scenario([call("check_outages", {"postcode": postcode}, result)], history, grounded, ungrounded)


# --------------------------------------------------------------------------- SaaS


def saas_refund(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    ws = rng.choice(WORKSPACES)
    plan = rng.choice(["Pro", "Team"])
    case = rng.choice(["annual_in", "annual_in", "monthly", "annual_out"])
    annual = case != "monthly"
    since = {"annual_in": rng.randint(2, p["refund_days"] - 1), "monthly": rng.randint(2, 20),
             "annual_out": rng.randint(p["refund_days"] + 5, 120)}[case]
    paid_on = s.today - days(since)
    amount = rng.choice([96, 120, 144, 180, 240, 300]) * (10 if plan == "Team" else 1) if annual else rng.choice(
        [12, 15, 25, 49])
    renews = paid_on + days(365 if annual else 30)
    eligible = case == "annual_in"
    functions = [
        call("get_subscription", {"workspace": ws},
             {"workspace": ws, "plan": plan, "billing_cycle": "annual" if annual else "monthly",
              "last_payment": {"date": paid_on.isoformat(), "amount": amount}, "renews_on": renews.isoformat()}),
        call("check_refund_eligibility", {"workspace": ws},
             {"eligible": eligible, "days_since_payment": since, "refundable_amount": amount if eligible else 0,
              "reason": {"annual_in": "annual_within_window", "monthly": "monthly_non_refundable",
                         "annual_out": "outside_refund_window"}[case]}),
    ]
    history = [f"I was charged {s.m(amount)} for {s.brand} on {fmt(paid_on)}. Can I get a refund?"]
    if rng.random() < 0.5:
        history = ["We've decided to stop using the product. Can I get my money back?",
                   "Sorry to see you go! Which workspace is it?", f"It's {ws}."]
    if case == "annual_in":
        grounded = [
            claim(f"Your annual {plan} payment of {s.m(amount)} was made {since} days ago, which is within the "
                  f"{p['refund_days']}-day window, so you're eligible for a full refund of {s.m(amount)}.",
                  "fn0 fn1 billing",
                  "The payment is in <fn0>, eligibility and days since payment in <fn1>, and the refund window in "
                  "<billing>."),
            claim(f"Yes: the eligibility check shows the full {s.m(amount)} is refundable because your annual plan "
                  f"was bought on {fmt(paid_on)}.", "fn0 fn1",
                  "<fn1> confirms eligibility and the refundable amount; <fn0> gives the purchase date."),
        ]
        ungrounded = [
            claim(f"You're eligible for a refund of {s.m(amount * 0.9)}, which is your {s.m(amount)} payment minus "
                  "a 10% processing fee.", "fn1 billing",
                  f"<billing> promises a full refund and <fn1> shows {s.m(amount)} refundable; no fee exists."),
        ]
    elif case == "monthly":
        grounded = [
            claim(f"I'm sorry, your {plan} plan is billed monthly, and monthly payments are non-refundable. If you "
                  f"downgrade, the change applies at your next renewal on {fmt_year(renews)}.", "fn0 fn1 billing",
                  "<fn0> shows monthly billing and the renewal date, <fn1> marks it non-refundable, and <billing> "
                  "says downgrades apply at renewal."),
            claim(f"Monthly payments like your {s.m(amount)} charge on {fmt(paid_on)} can't be refunded.",
                  "fn0 fn1 billing",
                  "<fn0> has the charge, <fn1> says not eligible, and <billing> says monthly payments are "
                  "non-refundable."),
        ]
        ungrounded = [
            claim(f"Monthly payments aren't usually refundable, but I can refund your {s.m(amount)} as a one-time "
                  "exception.", "fn1 billing",
                  "<billing> says monthly payments are non-refundable and <fn1> gives 0 refundable; no exception "
                  "exists."),
        ]
    else:
        grounded = [
            claim(f"Your annual payment was {since} days ago, outside the {p['refund_days']}-day refund window, so "
                  "it isn't refundable.", "fn1 billing",
                  "<fn1> gives the days since payment and ineligibility; the window is in <billing>."),
            claim(f"Annual plans can only be refunded within {p['refund_days']} days of purchase, and yours was "
                  f"bought on {fmt_year(paid_on)}, so I can't refund it. It renews on {fmt_year(renews)}.",
                  "fn0 fn1 billing",
                  "The dates are in <fn0>, the ineligibility in <fn1>, and the window in <billing>."),
        ]
        ungrounded = [
            claim(f"Your payment was {since} days ago, which is still within our 180-day refund window, so you'll "
                  f"get {s.m(amount)} back.", "fn1 billing",
                  f"<billing> sets a {p['refund_days']}-day window and <fn1> says the payment is not eligible."),
        ]
    return Scenario(functions, history, grounded, ungrounded)


def saas_seats(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    ws = rng.choice(WORKSPACES)
    used = rng.randint(p["seats"] - 6, p["seats"] - 1)
    new = rng.randint(2, 6)
    guests = rng.randint(0, 8)
    result = {"workspace": ws, "plan": "Team", "seats_included": p["seats"], "seats_used": used,
              "guests": guests, "billing_cycle": "monthly", "next_invoice": (s.today + days(rng.randint(3, 28)))
              .isoformat()}
    history = [f"We're hiring {new} people. Can I add them to our {s.brand} workspace {ws}?"]
    if rng.random() < 0.5:
        history = ["Quick question about seats on our Team plan.", "Sure, which workspace?",
                   f"{ws}. We've got {new} new starters next month."]
    free = p["seats"] - used
    if new <= free:
        grounded = [
            claim(f"You're using {used} of the {p['seats']} seats included in your Team plan, so you can add {new} "
                  "more people at no extra cost.", "fn0 seats",
                  "Seat usage is in <fn0>, and <seats> only charges for seats beyond those included."),
        ]
    else:
        extra = new - free
        grounded = [
            claim(f"You're using {used} of {p['seats']} included seats, so adding {new} people needs {extra} extra "
                  f"{'seat' if extra == 1 else 'seats'} at {s.m(p['seat_price'])} per user per month, added to your "
                  "next invoice.", "fn0 seats",
                  "Seat counts are in <fn0>; the extra-seat price and invoicing are in <seats>."),
        ]
    grounded.append(claim(
        f"If any of the {new} only need to view content, invite them as guests: view-only guests don't use a seat.",
        "seats", "<seats> says view-only guests don't use a seat."))
    ungrounded = [
        claim(f"Additional seats on the Team plan are {s.m(p['seat_price'] - 3)} per user per month.", "seats",
              f"<seats> prices additional seats at {s.m(p['seat_price'])}."),
        claim(f"You have {p['seats'] - used} free seats, and new seats are free for the first month anyway.",
              "fn0 seats", "<seats> says additional seats are billed on the next invoice; no free month exists."),
        claim(f"You can add all {new}, and they'll be able to sign in with SAML single sign-on on your Team plan.",
              "fn0 security", "<security> limits SAML single sign-on to the Enterprise plan; <fn0> shows Team."),
    ]
    return Scenario([call("get_workspace", {"workspace": ws}, result)], history, grounded, ungrounded)


def saas_restore(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    ws = rng.choice(WORKSPACES)
    restorable = rng.random() < 0.65
    deleted = s.today - days(rng.randint(2, p["retention"] - 2) if restorable else rng.randint(p["retention"] + 3,
                                                                                                 p["retention"] + 60))
    until = deleted + days(p["retention"])
    who = f"{rng.choice(FIRST_NAMES).lower()}@{ws.split('-')[0]}.io"
    result = {"workspace": ws, "deleted_on": deleted.isoformat(), "deleted_by": who,
              "status": "restorable" if restorable else "purged",
              "restorable_until": until.isoformat() if restorable else None}
    history = [f"Someone deleted our workspace {ws} by mistake! Can we get it back?"]
    if rng.random() < 0.5:
        history = ["I can't find our workspace anymore.", "Let me check. What's the workspace name?",
                   f"{ws}. I think a colleague deleted it."]
    if restorable:
        grounded = [
            claim(f"Good news: {ws} was deleted on {fmt(deleted)} by {who} and can still be restored from the admin "
                  f"console until {fmt(until)}.", "fn0 deletion",
                  "Deletion date, who deleted it and the deadline are in <fn0>; restoring from the admin console "
                  "is in <deletion>."),
            claim(f"It's still restorable: deleted workspaces can be recovered for {p['retention']} days, and for "
                  f"{ws} that runs until {fmt(until)}.", "fn0 deletion",
                  "The retention period is in <deletion> and the exact deadline in <fn0>."),
        ]
        ungrounded = [
            claim(f"{ws} can be restored until {fmt(until + days(30))}.", "fn0",
                  f"<fn0> says it is restorable until {fmt(until)}."),
            claim(f"{ws} can be restored, but any files uploaded in the last 7 days before deletion will be lost.",
                  "fn0 deletion", "Nothing in <deletion> or <fn0> mentions losing recent files on restore."),
        ]
    else:
        grounded = [
            claim(f"I'm sorry, {ws} was deleted on {fmt(deleted)}, more than {p['retention']} days ago, so its data "
                  "has been permanently erased and can't be restored.", "fn0 deletion",
                  "<fn0> shows the deletion date and status purged; <deletion> says data is erased after the "
                  "retention period."),
        ]
        ungrounded = [
            claim(f"{ws} is past the self-service window, but our engineers can still recover it from backups "
                  "within 5 days.", "fn0 deletion",
                  "<fn0> shows the workspace purged and <deletion> says data is permanently erased; no backup "
                  "recovery is offered."),
        ]
    return Scenario([call("find_deleted_workspace", {"workspace": ws}, result)], history, grounded, ungrounded)


# --------------------------------------------------------------------------- hotels


def hotel_reservation(rng: random.Random, s: Setting, rate: str) -> tuple[str, date, dict]:
    conf = f"{rng.choice('HMOB')}{rng.randint(1000000, 9999999)}"
    arrival = s.today + days(rng.randint(5, 60))
    nights = rng.randint(1, 5)
    per_night = rng.choice([95, 120, 139, 165, 189, 240])
    res = {"confirmation": conf, "hotel": f"{s.brand} {rng.choice(HOTEL_CITIES)}", "guest": f"{s.name} {s.surname}",
           "arrival": arrival.isoformat(), "nights": nights, "room": rng.choice(ROOMS), "rate": rate,
           "breakfast_included": rng.random() < 0.4, "adults": rng.randint(1, 2), "total": per_night * nights}
    return conf, arrival, res


def hotel_cancel(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    flexible = rng.random() < 0.65
    conf, arrival, res = hotel_reservation(rng, s, "Flexible" if flexible else "Non-refundable")
    deadline = arrival - days(p["cut_days"])
    res["free_cancellation_until"] = f"{deadline.isoformat()}T{p['cut_h']}:00" if flexible else None
    history = [f"I need to cancel reservation {conf}. Will I be charged?"]
    if rng.random() < 0.5:
        history = [f"My plans changed and I can't make it to {res['hotel']}.",
                   "Sorry to hear that. Could you share your confirmation number?", f"It's {conf}."]
    functions = [call("get_reservation", {"confirmation": conf}, res)]
    if flexible:
        grounded = [
            claim(f"Your booking is on a Flexible rate, so you can cancel free of charge until {p['cut_h']}:00 on "
                  f"{fmt(deadline)}. After that, the first night would be charged.", "fn0 cancellation",
                  "<fn0> shows the Flexible rate and the deadline; <cancellation> says the first night is charged "
                  "after it."),
        ]
        if rng.random() < 0.5:
            functions.append(call("cancel_reservation", {"confirmation": conf},
                                  {"confirmation": conf, "status": "cancelled", "cancellation_fee": 0,
                                   "refund_amount": res["total"]}))
            grounded = [
                claim(f"Reservation {conf} is cancelled with no fee, and the {s.m(res['total'])} will be refunded.",
                      "fn1", "<fn1> confirms the cancellation, zero fee and refund amount."),
                claim(f"Since you're before the free-cancellation deadline of {fmt(deadline)}, I've cancelled {conf} "
                      f"at no charge and refunded {s.m(res['total'])}.", "fn0 fn1",
                      "The deadline is in <fn0> and the fee-free cancellation and refund in <fn1>."),
            ]
            ungrounded = [
                claim(f"Reservation {conf} is cancelled. A {s.m(p['late'])} admin fee will be deducted from your "
                      "refund.", "fn1", "<fn1> shows a cancellation fee of 0 and a full refund."),
            ]
        else:
            ungrounded = [
                claim(f"You're on a Flexible rate, so you can cancel for free until {p['cut_h']}:00 on "
                      f"{fmt(deadline + days(1))}.", "fn0",
                      f"<fn0> gives the free-cancellation deadline as {fmt(deadline)}."),
                claim("Flexible rates can be cancelled free of charge right up to the day of arrival.",
                      "cancellation",
                      f"<cancellation> requires cancelling {plural(p['cut_days'], 'day')} before arrival."),
            ]
    else:
        grounded = [
            claim(f"I'm sorry, {s.name}: reservation {conf} is on a Non-refundable rate, which can't be cancelled, "
                  "changed or refunded.", "fn0 cancellation",
                  "<fn0> shows the Non-refundable rate, and <cancellation> says such rates can't be cancelled."),
        ]
        ungrounded = [
            claim(f"Your rate is non-refundable, but as a courtesy I can cancel {conf} and refund 50% of the "
                  f"{s.m(res['total'])}.", "fn0 cancellation",
                  "<cancellation> says non-refundable rates cannot be refunded, and no tool call cancelled or "
                  "refunded anything."),
            claim(f"Reservation {conf} can be cancelled free until {p['cut_h']}:00 on {fmt(deadline)}.",
                  "fn0 cancellation", "<fn0> shows a Non-refundable rate with no free-cancellation deadline."),
        ]
    return Scenario(functions, history, grounded, ungrounded)


def hotel_early(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    conf, arrival, res = hotel_reservation(rng, s, rng.choice(["Flexible", "Non-refundable"]))
    available = rng.random() < 0.6
    history = [f"I'm arriving early on {fmt(arrival)}. Can I check in before 15:00? Booking {conf}."]
    if rng.random() < 0.5:
        history = [f"My flight lands in the morning on {fmt(arrival)}.", "Would you like to arrange an early check-in?",
                   f"Yes please, confirmation {conf}."]
    functions = [call("get_reservation", {"confirmation": conf}, res),
                 call("check_early_checkin", {"confirmation": conf, "date": arrival.isoformat()},
                      {"available": available, "earliest_time": "12:00" if available else None,
                       "fee": p["early"] if available else None})]
    if available:
        grounded = [
            claim(f"Early check-in from 12:00 is available on {fmt(arrival)} for {s.m(p['early'])}. Would you like "
                  "me to add it to your booking?", "fn1",
                  "<fn1> shows availability, the 12:00 time and the fee."),
            claim(f"Yes, you can check in from 12:00 on {fmt(arrival)} instead of 15:00, for a fee of "
                  f"{s.m(p['early'])}.", "fn1 checkin",
                  "The availability and fee are in <fn1>; the standard 15:00 check-in is in <checkin>."),
        ]
        ungrounded = [
            claim(f"Early check-in from 12:00 is available on {fmt(arrival)}, and it's complimentary for your "
                  "booking.", "fn1 checkin", f"<fn1> and <checkin> give a fee of {s.m(p['early'])}."),
            claim(f"Good news, your room will be ready from 10:00 on {fmt(arrival)}.", "fn1",
                  "<fn1> gives the earliest time as 12:00."),
        ]
    else:
        grounded = [
            claim(f"Unfortunately early check-in isn't available on {fmt(arrival)}, so your room will be ready from "
                  "the standard check-in time of 15:00.", "fn1 checkin",
                  "<fn1> shows no availability; the 15:00 check-in time is in <checkin>."),
            claim(f"There's no early check-in on {fmt(arrival)}, I'm afraid. If it helps on the way out, late "
                  f"check-out until 14:00 costs {s.m(p['late'])}, subject to availability.", "fn1 checkin",
                  "<fn1> shows early check-in unavailable, and the late check-out terms are in <checkin>."),
        ]
        ungrounded = [
            claim(f"I've reserved early check-in from 12:00 on {fmt(arrival)} for {s.m(p['early'])}.", "fn1",
                  "<fn1> says early check-in is not available on that date."),
        ]
    return Scenario(functions, history, grounded, ungrounded)


def hotel_amenities(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    conf, arrival, res = hotel_reservation(rng, s, rng.choice(["Flexible", "Non-refundable"]))
    dog = rng.choice(["a small dachshund", "a 7 kg terrier", "a little spaniel"])
    history = [f"Does booking {conf} include breakfast? I'll be travelling with {dog}, and I'll need parking too."]
    if rng.random() < 0.5:
        history = [f"A few questions before my stay on {fmt(arrival)}, ref {conf}.", "Of course, go ahead!",
                   f"Is breakfast included, and can I bring {dog}? Also, can I reserve parking?"]
    if res["breakfast_included"]:
        grounded = [
            claim("Breakfast is included in your rate, and it's served from 06:30 to 10:30.", "fn0 amenities",
                  "<fn0> shows breakfast included; the serving hours are in <amenities>."),
        ]
        ungrounded = [
            claim(f"Breakfast isn't included in your rate; you can add it for {s.m(p['bf'])} per adult.",
                  "fn0 amenities", "<fn0> shows breakfast_included=true."),
        ]
    else:
        grounded = [
            claim(f"Your rate doesn't include breakfast, but you can have it for {s.m(p['bf'])} per adult, served "
                  "06:30-10:30.", "fn0 amenities",
                  "<fn0> shows breakfast not included; the price and hours are in <amenities>."),
        ]
        ungrounded = [
            claim("Breakfast is included in your rate, served 06:30-10:30.", "fn0",
                  "<fn0> shows breakfast_included=false."),
        ]
    grounded += [
        claim(f"Dogs up to 10 kg are welcome for {s.m(p['pet'])} per night, and breakfast is {s.m(p['bf'])} per "
              "adult when it's not part of your rate.", "amenities",
              "Both the pet policy and the breakfast price are in <amenities>."),
        claim(f"On-site parking is {s.m(p['park'])} per night, but spaces can't be reserved in advance.", "parking",
              "The parking price and no-reservation rule are in <parking>."),
    ]
    ungrounded += [
        claim(f"I can reserve a parking space for your arrival on {fmt(arrival)} at {s.m(p['park'])} per night.",
              "parking", "<parking> says spaces cannot be reserved in advance."),
        claim(f"Pets of any size are welcome for {s.m(p['pet'])} per night.", "amenities",
              "<amenities> only accepts dogs up to 10 kg."),
    ]
    return Scenario([call("get_reservation", {"confirmation": conf}, res)], history, grounded, ungrounded)


# --------------------------------------------------------------------------- insurance


def ins_status(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    no = f"CLM-{rng.randint(100000, 999999)}"
    kind = rng.choice(["Home contents - water damage", "Home contents - theft", "Home contents - accidental damage"])
    status = rng.choice(["awaiting_documents", "under_assessment", "approved", "approved"])
    submitted = s.today - days(rng.randint(8, 30))
    result = {"claim_number": no, "type": kind, "status": status, "submitted_on": submitted.isoformat()}
    history = [f"What's happening with my claim {no}?"]
    if rng.random() < 0.5:
        history = [f"I made a claim on {fmt(submitted)} and haven't heard anything.",
                   "Let me check on that for you. What's the claim number?", f"It's {no}."]
    if status == "awaiting_documents":
        missing = rng.choice(["repair invoice", "police report", "proof of purchase", "photos of the damage"])
        result.update({"documents_received": ["claim form"], "documents_missing": [missing]})
        grounded = [
            claim(f"Your claim {no} is waiting for the {missing}. Once we receive it, we'll assess the claim within "
                  f"{p['assess']} business days.", "fn0 claims",
                  "The missing document is listed in <fn0>; the assessment time is in <claims>."),
            claim(f"We've received your claim form for {no}, but we still need the {missing} before we can "
                  "assess it.", "fn0", "<fn0> lists the claim form as received and the document still missing."),
        ]
        ungrounded = [
            claim(f"Your claim {no} has been approved, and the payment will follow within 5 business days.", "fn0",
                  "<fn0> shows the claim awaiting documents, not approved."),
        ]
    elif status == "under_assessment":
        complete = submitted + days(rng.randint(1, 6))
        due = complete + days(p["assess"] + 4)
        result.update({"documents_complete_on": complete.isoformat(), "assessment_due_by": due.isoformat()})
        grounded = [
            claim(f"We have all the documents for claim {no}, and it's being assessed now; a decision is due by "
                  f"{fmt(due)}.", "fn0", "<fn0> shows the claim under assessment with the decision due date."),
            claim(f"Your documents were complete on {fmt(complete)}, so the {kind.split(' - ')[1]} claim is with our "
                  f"assessors, who decide within {p['assess']} business days.", "fn0 claims",
                  "The completion date and status are in <fn0>; the assessment time is in <claims>."),
        ]
        ungrounded = [
            claim(f"Claim {no} is under assessment and a decision is due by {fmt(due + days(10))}.", "fn0",
                  f"<fn0> gives the assessment due date as {fmt(due)}."),
        ]
    else:
        approved = s.today - days(rng.randint(0, 2))
        loss = rng.choice([640, 890, 1250, 1850, 2400, 3100])
        payout = loss - p["excess"]
        pay_by = approved + days(7)
        result.update({"approved_on": approved.isoformat(), "assessed_loss": loss, "excess": p["excess"],
                       "payout": payout, "payment_due_by": pay_by.isoformat()})
        grounded = [
            claim(f"Claim {no} was approved on {fmt(approved)}: the assessed loss of {s.m(loss)} minus your "
                  f"{s.m(p['excess'])} excess gives a payout of {s.m(payout)}, due by {fmt(pay_by)}.", "fn0",
                  "The approval date, loss, excess, payout and payment date are all in <fn0>."),
            claim(f"Your payout is {s.m(payout)} after the {s.m(p['excess'])} excess, and approved payments are made "
                  "within 5 business days.", "fn0 claims excess",
                  "The payout and excess are in <fn0>; <excess> explains the deduction and <claims> the payment "
                  "time."),
        ]
        ungrounded = [
            claim(f"Claim {no} was approved, and you'll receive the full {s.m(loss)} by {fmt(pay_by)}.",
                  "fn0 excess", f"<fn0> shows a payout of {s.m(payout)} after the {s.m(p['excess'])} excess that "
                  "<excess> says is deducted."),
            claim(f"Claim {no} was approved with a payout of {s.m(payout)}, which will be paid within 24 hours.",
                  "fn0 claims", f"<fn0> gives a payment date of {fmt(pay_by)} and <claims> says 5 business days."),
        ]
    return Scenario([call("get_claim", {"claim_number": no}, result)], history, grounded, ungrounded)


def ins_travel(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    policy = f"TRV{rng.randint(1000000, 9999999)}"
    valid_to = s.today + days(rng.randint(60, 300))
    result = {"policy_number": policy, "product": "Travel Essentials - Annual Multi-trip", "status": "active",
              "valid_to": valid_to.isoformat(), "travellers": [f"{s.name} {s.surname}"], "baggage_cover": True}
    lost = rng.random() < 0.5
    city = rng.choice(["Malaga", "Reykjavik", "Crete", "Marrakesh", "Lyon", "Dubrovnik"])
    item = rng.choice(["laptop", "camera", "designer coat", "tablet"])
    if lost:
        history = [f"The airline has lost my suitcase on the way to {city}. What can I claim on policy {policy}?"]
    else:
        history = [f"I've landed in {city} but my bag didn't arrive. It's been 14 hours. Am I covered? "
                   f"Policy {policy}."]
    if rng.random() < 0.5:
        history = ["I'm having a nightmare with my luggage.", "I'm sorry! Can you tell me what happened?",
                   history[0]]
    if lost:
        grounded = [
            claim(f"Your policy covers lost baggage up to {s.m(p['lost'])} per trip, with a {s.m(p['single'])} "
                  "limit for any single item. Please report the loss to the airline within 7 days.",
                  "fn0 travel", "<fn0> shows an active policy with baggage cover; the limits and 7-day reporting "
                  "rule are in <travel>."),
            claim(f"Yes, your Travel Essentials policy is active until {fmt(valid_to)} and includes baggage cover, "
                  f"up to {s.m(p['lost'])} per trip.", "fn0 travel",
                  "Status, end date and baggage cover are in <fn0>; the per-trip limit is in <travel>."),
        ]
        ungrounded = [
            claim(f"Your policy covers lost baggage up to {s.m(p['lost'])}, so your {item} will be covered in full "
                  "whatever it cost.", "travel", f"<travel> caps any single item at {s.m(p['single'])}."),
            claim(f"Lost bags are covered up to {s.m(p['lost'])} per trip; you have 30 days to report the loss to "
                  "the airline.", "travel", "<travel> requires reporting to the airline within 7 days."),
        ]
    else:
        grounded = [
            claim(f"As your bag has been delayed for more than 12 hours, your active policy covers up to "
                  f"{s.m(p['delay'])} for essential purchases; just keep the receipts.", "fn0 travel",
                  "<fn0> shows the policy active with baggage cover, and <travel> gives the 12-hour rule, limit "
                  "and receipts requirement."),
        ]
        ungrounded = [
            claim(f"You're covered for up to {s.m(p['delay'])} of essentials, and you don't need receipts.",
                  "travel", "<travel> says essential purchases are paid with receipts."),
            claim(f"After 12 hours' delay you can claim up to {s.m(p['delay'] * 2)} for essentials.", "travel",
                  f"<travel> sets the limit at {s.m(p['delay'])}."),
        ]
    return Scenario([call("get_policy", {"policy_number": policy}, result)], history, grounded, ungrounded)


def ins_windscreen(rng: random.Random, s: Setting) -> Scenario:
    p = s.p
    policy = f"MTR{rng.randint(1000000, 9999999)}"
    car = rng.choice(CARS)
    shops = []
    for name in rng.sample(REPAIRERS, 2):
        shops.append({"name": name, "distance_km": round(rng.uniform(1.2, 18), 1),
                      "next_slot": (s.today + days(rng.randint(1, 6))).isoformat()})
    shops.sort(key=lambda r: r["distance_km"])
    near = shops[0]
    slot = date.fromisoformat(near["next_slot"])
    result = {"policy_number": policy, "product": "Comprehensive Motor", "vehicle": car, "windscreen_cover": True,
              "approved_repairers_nearby": shops}
    history = [f"A stone chipped the windscreen on my {car.split(' ', 1)[1]}. Is that covered? Policy {policy}."]
    if rng.random() < 0.5:
        history = ["I've got a crack in my windscreen.", "Sorry to hear that. Could you share your policy number?",
                   f"{policy}. What will it cost me, and where can I get it fixed?"]
    grounded = [
        claim(f"A windscreen repair is covered with no excess on your policy. The nearest approved repairer, "
              f"{near['name']}, is {near['distance_km']} km away and has a slot on {fmt(slot)}.", "fn0 motor",
              "<motor> says repairs carry no excess; the repairer, distance and slot come from <fn0>."),
        claim(f"If the windscreen needs replacing rather than repairing, there's a {s.m(p['ws'])} excess and it must "
              f"be done by an approved repairer such as {near['name']}.", "fn0 motor",
              "The replacement excess and approved-repairer rule are in <motor>; the repairer name is from <fn0>."),
    ]
    ungrounded = [
        claim(f"Windscreen replacements are covered with no excess, and {near['name']} can do it on {fmt(slot)}.",
              "fn0 motor", f"<motor> says replacements carry a {s.m(p['ws'])} excess; only repairs have none."),
        claim("Your windscreen is covered, and you can use any garage you like; just send us the invoice.",
              "motor", "<motor> requires replacements to be done by an approved repairer."),
    ]
    if slot != s.today + days(1):
        ungrounded.append(claim(f"{near['name']} is the nearest approved repairer, and they can see you tomorrow.",
                                "fn0", f"<fn0> gives their next slot as {fmt(slot)}, not tomorrow."))
    return Scenario([call("get_policy", {"policy_number": policy}, result)], history, grounded, ungrounded)


# --------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class Domain:
    """A service sector: its brands (with per-brand policy values), policy draws and texts, intent
    templates and label quota."""

    brands: dict[str, dict]
    cur: str
    policy: dict[str, list]
    docs: dict[str, str]
    intents: tuple[Callable[[random.Random, Setting], Scenario], ...]
    signoffs: tuple[str, ...]
    ungrounded: int
    small_talk: int


class PolicyText(string.Formatter):
    """Policy templates: `{key!m}` is money in the domain's currency, `{key!j}` a list joined by commas,
    `{key:word}` the count with the word in the plural when it is not 1."""

    def __init__(self, cur: str) -> None:
        self.cur = cur

    def convert_field(self, value: object, conversion: str | None) -> object:
        if conversion == "m":
            return money(self.cur, value)
        if conversion == "j":
            return ", ".join(value)
        return super().convert_field(value, conversion)

    def format_field(self, value: object, format_spec: str) -> str:
        return plural(value, format_spec) if format_spec.isalpha() else super().format_field(value, format_spec)


def draw_policy(rng: random.Random, domain: Domain, brand: str) -> tuple[dict, dict]:
    """One company's policy values, drawn in the data file's order, and its policy texts."""
    p = {key: rng.choice(choices) for key, choices in domain.policy.items()} | domain.brands[brand]
    text = PolicyText(domain.cur)
    fields = {**p, **POOLS, "brand": brand, "cur": domain.cur}
    return p, {key: text.vformat(doc, (), fields) for key, doc in domain.docs.items()}


INTENTS = {
    "shop": (shop_status, shop_return, shop_refund, shop_cancel),
    "air": (air_status, air_baggage, air_change, air_checkin),
    "tel": (tel_roaming, tel_upgrade, tel_bill),
    "bank": (bank_lost_card, bank_transfer, bank_dispute),
    "util": (util_bill, util_payplan, util_outage),
    "saas": (saas_refund, saas_seats, saas_restore),
    "hotel": (hotel_cancel, hotel_early, hotel_amenities),
    "ins": (ins_status, ins_travel, ins_windscreen),
}
DOMAINS = tuple(
    Domain(d["brands"], d["currency"], d["policy"], d["docs"], INTENTS[name], tuple(d["signoffs"]),
           d["ungrounded"], d["small_talk"])
    for name, d in DATA["domains"].items())
TALK_KINDS = tuple(TALK_REASONS)
TOKEN = re.compile(r"<(\w+)>")


def roles(texts: list[str]) -> list[dict]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)]


def word_count(ex: dict) -> int:
    parts = ex["context"] + [m["content"] for m in ex["conversation_history"]]
    parts += [json.dumps(ex["functions"]), ex["response"]]
    return sum(len(part.split()) for part in parts)


def user_turns(history: list[str]) -> int:
    return (len(history) + 1) // 2


def lead_in(rng: random.Random, s: Setting, history: list[str]) -> list[str]:
    """Vary how the chat opens: a bare greeting in the first message, a greeting exchange, or an ID check."""
    room = MAX_USER_TURNS - user_turns(history)
    style = rng.choice(["opener", "opener", "greeting", "verify"][: 2 + min(room, 2)])
    if style == "opener":
        return [rng.choice(OPENERS) + history[0]] + history[1:]
    if style == "greeting":
        return [rng.choice(GREETINGS), rng.choice(GREETING_REPLIES).format(brand=s.brand)] + history
    return [rng.choice(VERIFY_ASKS), rng.choice(VERIFY_PROMPTS), f"{s.name} {s.surname}.",
            rng.choice(VERIFIED).format(name=s.name)] + history


def small_talk(rng: random.Random, domain: Domain, s: Setting, sc: Scenario, kind: str) -> tuple[list, list, str]:
    """Return (functions, history, response) for a turn that makes no factual claim."""
    fill = {"name": s.name, "brand": s.brand, "signoff": rng.choice(domain.signoffs)}
    answered = sc.history + [rng.choice(sc.grounded).text]
    if kind == "greeting":
        return [], [f"{rng.choice(GREETINGS)} {sc.history[0]}"], rng.choice(WELCOMES).format(**fill)
    if kind == "thanks":
        return sc.functions, answered + [rng.choice(THANKS)], rng.choice(THANKS_REPLIES).format(**fill)
    if kind == "anything_else":
        return sc.functions, answered + [rng.choice(ACKS)], rng.choice(ANYTHING_ELSE).format(**fill)
    return sc.functions, answered + [rng.choice(VENTS)], rng.choice(EMPATHY).format(**fill)


def draw(rng: random.Random, domain: Domain, intent: Callable, label: str, kind: str | None) -> dict:
    """One example: the scenario, the chosen response, and a context padded with off-topic policy excerpts."""
    brand = rng.choice(list(domain.brands))
    p, docs = draw_policy(rng, domain, brand)
    s = Setting(brand, domain.cur, p, docs, date(2025, 3, 3) + days(rng.randint(0, 270)),
                rng.choice(FIRST_NAMES), rng.choice(SURNAMES))
    sc = intent(rng, s)
    cited = [t for c in sc.grounded + sc.ungrounded for t in c.sources if not t.startswith("fn")]
    keys = list(dict.fromkeys(cited))
    if label == SMALL_TALK:
        functions, history, response = small_talk(rng, domain, s, sc, kind)
        chosen = None
    else:
        chosen = rng.choice(sc.grounded if label == GROUNDED else sc.ungrounded)
        functions, history, response = sc.functions, sc.history, chosen.text
    if kind != "greeting":
        history = lead_in(rng, s, history)
    assert len(keys) <= 4 and len(history) % 2 == 1 and user_turns(history) <= MAX_USER_TURNS
    spare = [k for k in s.docs if k not in keys]
    rng.shuffle(spare)
    target = rng.randint(max(1, len(keys)), min(4, len(keys) + 2))
    while len(keys) < target:
        keys.append(spare.pop())
    rng.shuffle(keys)
    while True:
        ex = {"context": [s.docs[k] for k in keys], "functions": functions, "conversation_history": roles(history),
              "response": response}
        if word_count(ex) >= MIN_WORDS or len(keys) == 4 or not spare:
            break
        keys.insert(rng.randint(0, len(keys)), spare.pop())
    if chosen is None:
        reference = {"result": SMALL_TALK, "sources": [], "reason": TALK_REASONS[kind]}
    else:
        def ref(token: str) -> str:
            return f"functions[{int(token[2:])}]" if token.startswith("fn") else f"context[{keys.index(token)}]"

        assert set(TOKEN.findall(chosen.reason)) <= set(chosen.sources)
        sources = sorted((ref(t) for t in chosen.sources), key=lambda r: (r[0] == "f", int(r[r.index("[") + 1:-1])))
        reason = TOKEN.sub(lambda mt: ref(mt.group(1)), chosen.reason)
        if label == UNGROUNDED:
            reason = "Not supported: " + reason[0].lower() + reason[1:]
        reference = {"result": label, "sources": sources, "reason": reason}
    return {**ex, "label": label, "reference": reference}


def build_examples() -> list[dict]:
    """All examples in file order, ids assigned after a seeded shuffle so labels and domains interleave."""
    rng = random.Random(SEED)
    seen: set[str] = set()
    examples = []
    talk = 0
    for domain in DOMAINS:
        labels = [UNGROUNDED] * domain.ungrounded + [SMALL_TALK] * domain.small_talk
        labels += [GROUNDED] * (PER_DOMAIN - len(labels))
        for i, label in enumerate(labels):
            kind = TALK_KINDS[talk % len(TALK_KINDS)] if label == SMALL_TALK else None
            talk += label == SMALL_TALK
            intent = domain.intents[i % len(domain.intents)]
            for _ in range(100):
                ex = draw(rng, domain, intent, label, kind)
                if ex["response"] not in seen:
                    break
            else:
                raise RuntimeError(f"could not draw a unique response for {intent.__name__}/{label}")
            seen.add(ex["response"])
            examples.append(ex)
    rng.shuffle(examples)
    return [{"id": f"cs-{n:04d}", **ex} for n, ex in enumerate(examples, 1)]


def main(out_path: Path = OUT_PATH) -> None:
    write_jsonl(Path(out_path), build_examples())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_PATH)
