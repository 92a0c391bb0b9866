"""Generate the embedded agent task's data (src/sustain/tasks/data/agent/): facts.json (the small table the
tools look up: fictional cities and a fictional shop's catalogue, so no model knows the answers without its
tools), tools.json (the OpenAI schemas of tools.py's functions) and tasks.jsonl (32 tasks with expected ends).

Every expected answer is computed here by the shipped tools.py itself over the facts written, so the tasks
and the tools cannot disagree. Numbers a model may round are chosen so rounding and truncating agree.
Reproducible byte for byte (tests/unit/test_task_agent.py checks it). Run: python scripts/make_agent_dataset.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sustain.tasks.examples import write_jsonl

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "sustain" / "tasks" / "data" / "agent"

CITIES = [
    {"name": "Valdora", "country": "Merovia", "elevation_m": 340, "founded": 1187, "timezone": "UTC+2"},
    {"name": "Kestrel Bay", "country": "Aldland", "elevation_m": 12, "founded": 1642, "timezone": "UTC-4"},
    {"name": "Moravel", "country": "Merovia", "elevation_m": 905, "founded": 1034, "timezone": "UTC+2"},
    {"name": "Ostrana", "country": "Velsk", "elevation_m": 221, "founded": 1398, "timezone": "UTC+3"},
    {"name": "Lumen Falls", "country": "Aldland", "elevation_m": 713, "founded": 1811, "timezone": "UTC-5"},
    {"name": "Brindlemoor", "country": "Corvany", "elevation_m": 812, "founded": 1266, "timezone": "UTC+1"},
    {"name": "Tarsk", "country": "Velsk", "elevation_m": 158, "founded": 1521, "timezone": "UTC+3"},
    {"name": "Solvane", "country": "Corvany", "elevation_m": 47, "founded": 1703, "timezone": "UTC+1"},
]
PRODUCTS = [
    {"name": "Aurora desk lamp", "sku": "AL-204", "price_eur": 34.5, "stock": 12, "weight_kg": 1.2},
    {"name": "Nimbus kettle", "sku": "NK-310", "price_eur": 27.0, "stock": 5, "weight_kg": 1.1},
    {"name": "Cobalt mug", "sku": "CM-118", "price_eur": 8.9, "stock": 40, "weight_kg": 0.35},
    {"name": "Fjord backpack", "sku": "FB-502", "price_eur": 64.0, "stock": 3, "weight_kg": 0.9},
    {"name": "Ember candle", "sku": "EC-077", "price_eur": 6.25, "stock": 25, "weight_kg": 0.2},
    {"name": "Tundra blanket", "sku": "TB-640", "price_eur": 49.99, "stock": 7, "weight_kg": 1.6},
]
UNITS = ["km", "m", "mi", "ft", "kg", "lb", "l", "gal", "c", "f"]


def _tool(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}}}


TOOLS = [
    _tool("lookup_city", "Facts about a city: country, elevation in metres, year founded, time zone.",
          {"city": {"type": "string", "description": "The city's name, e.g. Valdora."}}),
    _tool("lookup_product", "A product of the shop's catalogue: SKU, price in euros, stock, weight in kg.",
          {"product": {"type": "string", "description": "The product's name or SKU, e.g. Cobalt mug."}}),
    _tool("add_to_cart", "Add a quantity of a product, by SKU, to the user's cart (at most its stock).",
          {"sku": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$", "description": "The SKU, e.g. CM-118."},
           "quantity": {"type": "integer", "minimum": 1}}),
    _tool("calculator", "The value of an arithmetic expression: + - * / ** % and parentheses.",
          {"expression": {"type": "string", "description": "e.g. (3 + 4) * 2.5"}}),
    _tool("convert_units", "Convert a value between units of length (km, m, mi, ft), mass (kg, lb), volume "
          "(l, gal) or temperature (c, f); the result is rounded to 2 decimals.",
          {"value": {"type": "number"}, "from_unit": {"type": "string", "enum": UNITS},
           "to_unit": {"type": "string", "enum": UNITS}}),
]
CITY_TOOLS = ["lookup_city", "calculator", "convert_units"]
SHOP_TOOLS = ["lookup_product", "calculator", "convert_units"]
CART_TOOLS = ["lookup_product", "add_to_cart", "calculator"]


def _num(x: float) -> str:
    """A number as a final answer states it: no trailing zeros, no thousands separators."""
    return f"{round(x, 2):.2f}".rstrip("0").rstrip(".")


def _whole(x: float) -> str:
    """A number a model may round or truncate to a whole one: both must read the same."""
    assert x - int(x) < 0.5, f"{x} rounds up: choose other data"
    return str(int(x))


def tasks(t: dict[str, Any]) -> list[dict[str, Any]]:
    """The tasks, their expected ends computed by the tools (`t`: tools.py's namespace)."""
    city, product, calc, conv = t["lookup_city"], t["lookup_product"], t["calculator"], t["convert_units"]
    rows = [
        ("city-elevation", "What is the elevation of Valdora in metres?", CITY_TOOLS,
         {"final_contains": str(city("Valdora")["elevation_m"])}),
        ("city-country", "In which country is Kestrel Bay?", CITY_TOOLS,
         {"final_contains": city("Kestrel Bay")["country"]}),
        ("city-founded", "In what year was Moravel founded?", CITY_TOOLS,
         {"final_contains": str(city("Moravel")["founded"])}),
        ("city-timezone", "Which time zone is Ostrana in?", CITY_TOOLS,
         {"final_contains": city("Ostrana")["timezone"]}),
        ("city-age-gap", "How many years passed between the founding of Tarsk and the founding of Solvane?",
         CITY_TOOLS, {"final_contains": str(city("Solvane")["founded"] - city("Tarsk")["founded"])}),
        ("city-feet", "What is the elevation of Lumen Falls in feet?", CITY_TOOLS,
         {"final_contains": _whole(conv(city("Lumen Falls")["elevation_m"], "m", "ft"))}),
        ("city-higher", "How many metres higher is Brindlemoor than Valdora?", CITY_TOOLS,
         {"final_contains": str(city("Brindlemoor")["elevation_m"] - city("Valdora")["elevation_m"])}),
        ("city-two-countries", "Which countries are Tarsk and Brindlemoor in? Name both.", CITY_TOOLS,
         {"final_contains": [city("Tarsk")["country"], city("Brindlemoor")["country"]]}),
        ("shop-sku", "What is the SKU of the Nimbus kettle?", SHOP_TOOLS,
         {"final_contains": product("Nimbus kettle")["sku"]}),
        ("shop-price", "How much does the Fjord backpack cost?", SHOP_TOOLS,
         {"final_contains": _num(product("Fjord backpack")["price_eur"])}),
        ("shop-stock", "How many Ember candles are in stock?", SHOP_TOOLS,
         {"final_contains": str(product("Ember candle")["stock"])}),
        ("shop-three-lamps", "How much do 3 Aurora desk lamps cost in total?", SHOP_TOOLS,
         {"final_contains": _num(calc(f"3 * {product('Aurora desk lamp')['price_eur']}"))}),
        ("shop-weight-sum", "What do a Cobalt mug and a Tundra blanket weigh together, in kg?", SHOP_TOOLS,
         {"final_contains": _num(calc(f"{product('Cobalt mug')['weight_kg']} + "
                                      f"{product('Tundra blanket')['weight_kg']}"))}),
        ("shop-pounds", "What does the Tundra blanket weigh in pounds?", SHOP_TOOLS,
         {"final_contains": _num(conv(product("Tundra blanket")["weight_kg"], "kg", "lb"))}),
        ("shop-budget", "I have 100 euros. How many Cobalt mugs can I buy at most?", SHOP_TOOLS,
         {"final_contains": _whole(calc(f"100 / {product('Cobalt mug')['price_eur']}"))}),
        ("shop-kettle-candles", "What is the total price of a Nimbus kettle and two Ember candles?", SHOP_TOOLS,
         {"final_contains": _num(calc(f"{product('Nimbus kettle')['price_eur']} + "
                                      f"2 * {product('Ember candle')['price_eur']}"))}),
    ]
    rows += _cart_tasks(product, calc) + _arithmetic_tasks(calc, conv)
    return [{"id": id, "task": text, "tools": tools, "expected": expected} for id, text, tools, expected in rows]


def _cart_tasks(product: Any, calc: Any) -> list[tuple[str, str, list[str], dict[str, Any]]]:
    sku = lambda name: product(name)["sku"]  # noqa: E731
    backpacks = min(4, product("Fjord backpack")["stock"])
    return [
        ("cart-lamps", "Add 2 Aurora desk lamps to my cart.", CART_TOOLS,
         {"state": {"cart": {sku("Aurora desk lamp"): 2}}}),
        ("cart-kettle-mugs", "Put one Nimbus kettle and three Cobalt mugs in my cart.", CART_TOOLS,
         {"state": {"cart": {sku("Nimbus kettle"): 1, sku("Cobalt mug"): 3}}}),
        ("cart-backpack", "Add a Fjord backpack to the cart.", CART_TOOLS,
         {"state": {"cart": {sku("Fjord backpack"): 1}}}),
        ("cart-stock-limit", "Add 4 Fjord backpacks to my cart, or as many as are in stock if fewer.", CART_TOOLS,
         {"state": {"cart": {sku("Fjord backpack"): backpacks}}}),
        ("cart-candles-price", "Add 2 Ember candles to my cart and tell me what they cost together.", CART_TOOLS,
         {"state": {"cart": {sku("Ember candle"): 2}},
          "final_contains": _num(calc(f"2 * {product('Ember candle')['price_eur']}"))}),
        ("cart-blanket", "Add one Tundra blanket to my cart.", CART_TOOLS,
         {"state": {"cart": {sku("Tundra blanket"): 1}}}),
    ]


def _arithmetic_tasks(calc: Any, conv: Any) -> list[tuple[str, str, list[str], dict[str, Any]]]:
    calculator, units = ["calculator"], ["convert_units", "calculator"]
    return [
        ("calc-product", "Use the calculator: what is 1234 * 5678?", calculator,
         {"final_contains": _num(calc("1234 * 5678")), "calls": ["calculator"]}),
        ("calc-brackets", "What is (17.5 + 4.25) * 8?", calculator,
         {"final_contains": _num(calc("(17.5 + 4.25) * 8"))}),
        ("calc-power", "What is 2 to the power of 20?", calculator, {"final_contains": _num(calc("2 ** 20"))}),
        ("calc-sum", "Use the calculator to compute 98765 - 43210 + 1111.", calculator,
         {"final_contains": _num(calc("98765 - 43210 + 1111")), "calls": ["calculator"]}),
        ("calc-percent", "What is 7 percent of 2450?", calculator, {"final_contains": _num(calc("2450 * 7 / 100"))}),
        ("units-km-mi", "Convert 42 km to miles.", units, {"final_contains": _num(conv(42, "km", "mi"))}),
        ("units-lb-kg", "How many kilograms is 150 lb?", units, {"final_contains": _num(conv(150, "lb", "kg"))}),
        ("units-f-c", "What is 100 degrees Fahrenheit in Celsius?", units,
         {"final_contains": _num(conv(100, "f", "c"))}),
        ("units-gal-l", "Convert 5 gallons to litres.", units, {"final_contains": _num(conv(5, "gal", "l"))}),
        ("units-mi-ft", "How many feet are in one mile?", units, {"final_contains": _num(conv(1, "mi", "ft"))}),
    ]


def _dump(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main(out_dir: Path = OUT_DIR) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    _dump(out_dir / "facts.json", {"cities": CITIES, "products": PRODUCTS})
    _dump(out_dir / "tools.json", TOOLS)
    source = OUT_DIR / "tools.py"
    namespace: dict[str, Any] = {"__name__": "tools", "__file__": str(out_dir / "tools.py")}
    exec(compile(source.read_text(encoding="utf-8"), str(source), "exec"), namespace)
    rows = tasks(namespace)
    write_jsonl(out_dir / "tasks.jsonl", rows)
    print(f"wrote {len(rows)} tasks, {len(TOOLS)} tools and their facts to {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
