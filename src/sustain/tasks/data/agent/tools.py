"""The embedded agent task's tools (task=agent), run in the jail one call at a time.

Lookups over a small shipped table (facts.json: cities and a shop's catalogue), a shopping cart kept in
STATE (the episode's state, passed in and out by sustain), a calculator and a unit conversion. A tool
that cannot answer raises: the model reads the error and may try again.
"""

import ast
import json
import operator
from pathlib import Path

STATE = {"cart": {}}
FACTS = json.loads(Path(__file__).with_name("facts.json").read_text(encoding="utf-8"))

_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.Pow: operator.pow, ast.Mod: operator.mod, ast.USub: operator.neg, ast.UAdd: operator.pos}
# Each unit as a factor to its kind's base unit (temperatures are converted apart).
_UNITS = {"km": ("length", 1000.0), "m": ("length", 1.0), "mi": ("length", 1609.344), "ft": ("length", 0.3048),
          "kg": ("mass", 1.0), "lb": ("mass", 0.45359237), "l": ("volume", 1.0), "gal": ("volume", 3.785411784),
          "c": ("temperature", None), "f": ("temperature", None)}


def _find(kind, what, name):
    wanted = name.strip().lower()
    for entry in FACTS[kind]:
        if wanted in (entry["name"].lower(), entry.get("sku", "").lower()):
            return entry
    raise KeyError(f"no {what} named {name!r}; known: {', '.join(e['name'] for e in FACTS[kind])}")


def lookup_city(city):
    """Facts about a city: country, elevation in metres, year founded, time zone."""
    return _find("cities", "city", city)


def lookup_product(product):
    """A product of the shop's catalogue by name or SKU: SKU, price in euros, stock, weight in kg."""
    return _find("products", "product", product)


def add_to_cart(sku, quantity):
    """Add `quantity` of a product (by SKU) to the cart; refused beyond the stock."""
    product = _find("products", "product", sku)
    cart = STATE.setdefault("cart", {})
    total = cart.get(product["sku"], 0) + quantity
    if total > product["stock"]:
        raise ValueError(f"only {product['stock']} of {product['sku']} in stock, the cart would hold {total}")
    cart[product["sku"]] = total
    return {"cart": cart}


def calculator(expression):
    """The value of an arithmetic expression (+ - * / ** % and parentheses), rounded to 6 decimals."""
    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            if isinstance(node.op, ast.Pow) and abs(value(node.right)) > 100:
                raise ValueError("exponent too large")
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.operand))
        raise ValueError(f"not arithmetic: {ast.unparse(node)}")
    result = value(ast.parse(expression, mode="eval").body)
    return round(result, 6) if isinstance(result, float) else result


def convert_units(value, from_unit, to_unit):
    """`value` in `from_unit` converted to `to_unit`, rounded to 2 decimals."""
    (kind, factor), (to_kind, to_factor) = _UNITS[from_unit.lower()], _UNITS[to_unit.lower()]
    if kind != to_kind:
        raise ValueError(f"cannot convert {kind} ({from_unit}) to {to_kind} ({to_unit})")
    if kind == "temperature":
        celsius = value if from_unit.lower() == "c" else (value - 32) * 5 / 9
        result = celsius if to_unit.lower() == "c" else celsius * 9 / 5 + 32
    else:
        result = value * factor / to_factor
    return round(result, 2)
