"""Generate the embedded code dataset (src/sustain/tasks/data/code.jsonl).

Short function-writing problems in the style of HumanEval / MBPP (2601.08844's programming family),
written here: a signature, a one-paragraph description, a reference solution and hidden unit tests
(plain asserts, never shown to the model). Every reference solution is run against its tests before
the file is written, so a broken problem cannot ship. Run: python scripts/make_code_dataset.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from sustain.tasks.examples import write_jsonl

OUT_PATH = Path(__file__).resolve().parents[1] / "src" / "sustain" / "tasks" / "data" / "code.jsonl"

# (entry point, signature, description, reference solution, hidden tests)
PROBLEMS = [
    ("add", "add(a: int, b: int) -> int", "Return the sum of a and b.",
     "def add(a, b):\n    return a + b\n",
     "assert add(2, 3) == 5\nassert add(-4, 4) == 0\nassert add(0, 0) == 0\n"),
    ("reverse_words", "reverse_words(text: str) -> str",
     "Return the words of text in reverse order, separated by single spaces. Words are separated by any "
     "whitespace in the input.",
     "def reverse_words(text):\n    return ' '.join(reversed(text.split()))\n",
     "assert reverse_words('hello big world') == 'world big hello'\nassert reverse_words('  a   b ') == 'b a'\n"
     "assert reverse_words('') == ''\n"),
    ("is_palindrome", "is_palindrome(text: str) -> bool",
     "Return True when text reads the same forwards and backwards, ignoring case and every character "
     "that is not a letter or a digit.",
     "def is_palindrome(text):\n    s = [c.lower() for c in text if c.isalnum()]\n    return s == s[::-1]\n",
     "assert is_palindrome('A man, a plan, a canal: Panama')\nassert not is_palindrome('hello')\n"
     "assert is_palindrome('')\nassert is_palindrome('No 1 on')\n"),
    ("fizzbuzz", "fizzbuzz(n: int) -> list[str]",
     "Return the list of strings for 1..n: 'Fizz' for multiples of 3, 'Buzz' for multiples of 5, "
     "'FizzBuzz' for multiples of both, else the number itself as a string.",
     "def fizzbuzz(n):\n    out = []\n    for i in range(1, n + 1):\n        s = ('Fizz' if i % 3 == 0 else '') + ('Buzz' if i % 5 == 0 else '')\n"
     "        out.append(s or str(i))\n    return out\n",
     "assert fizzbuzz(5) == ['1', '2', 'Fizz', '4', 'Buzz']\nassert fizzbuzz(15)[-1] == 'FizzBuzz'\nassert fizzbuzz(0) == []\n"),
    ("count_vowels", "count_vowels(text: str) -> int",
     "Return how many vowels (a, e, i, o, u, in either case) text contains.",
     "def count_vowels(text):\n    return sum(c in 'aeiouAEIOU' for c in text)\n",
     "assert count_vowels('Hello World') == 3\nassert count_vowels('xyz') == 0\nassert count_vowels('AEIOUaeiou') == 10\n"),
    ("factorial", "factorial(n: int) -> int", "Return n! for a non-negative integer n (0! is 1).",
     "def factorial(n):\n    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result\n",
     "assert factorial(0) == 1\nassert factorial(5) == 120\nassert factorial(10) == 3628800\n"),
    ("fibonacci", "fibonacci(n: int) -> int",
     "Return the n-th Fibonacci number, where fibonacci(0) is 0 and fibonacci(1) is 1.",
     "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
     "assert fibonacci(0) == 0\nassert fibonacci(1) == 1\nassert fibonacci(10) == 55\nassert fibonacci(50) == 12586269025\n"),
    ("is_prime", "is_prime(n: int) -> bool", "Return True when n is a prime number; numbers below 2 are not prime.",
     "def is_prime(n):\n    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n        if n % i == 0:\n"
     "            return False\n        i += 1\n    return True\n",
     "assert is_prime(2) and is_prime(13) and is_prime(7919)\nassert not is_prime(1) and not is_prime(0)\n"
     "assert not is_prime(91) and not is_prime(-7)\n"),
    ("second_largest", "second_largest(numbers: list[int]) -> int",
     "Return the second largest distinct value in numbers; the list holds at least two distinct values.",
     "def second_largest(numbers):\n    return sorted(set(numbers))[-2]\n",
     "assert second_largest([3, 1, 4, 1, 5]) == 4\nassert second_largest([7, 7, 2]) == 2\nassert second_largest([-1, -5]) == -5\n"),
    ("flatten", "flatten(nested: list) -> list",
     "Return a flat list of all non-list items in nested, in order, however deeply the lists nest.",
     "def flatten(nested):\n    out = []\n    for item in nested:\n        if isinstance(item, list):\n            out.extend(flatten(item))\n"
     "        else:\n            out.append(item)\n    return out\n",
     "assert flatten([1, [2, [3, [4]], 5]]) == [1, 2, 3, 4, 5]\nassert flatten([]) == []\nassert flatten([[], ['a']]) == ['a']\n"),
    ("word_count", "word_count(text: str) -> dict[str, int]",
     "Return a dict mapping each lower-cased word of text to how often it occurs; words are runs of "
     "letters, everything else separates them.",
     "import re\n\ndef word_count(text):\n    counts = {}\n    for w in re.findall('[a-zA-Z]+', text):\n"
     "        counts[w.lower()] = counts.get(w.lower(), 0) + 1\n    return counts\n",
     "assert word_count('The cat and the hat.') == {'the': 2, 'cat': 1, 'and': 1, 'hat': 1}\nassert word_count('') == {}\n"
     "assert word_count('a-b a') == {'a': 2, 'b': 1}\n"),
    ("running_sum", "running_sum(numbers: list[int]) -> list[int]",
     "Return the list whose i-th element is the sum of numbers[0] through numbers[i].",
     "def running_sum(numbers):\n    out, total = [], 0\n    for x in numbers:\n        total += x\n        out.append(total)\n    return out\n",
     "assert running_sum([1, 2, 3, 4]) == [1, 3, 6, 10]\nassert running_sum([]) == []\nassert running_sum([5, -5]) == [5, 0]\n"),
    ("gcd", "gcd(a: int, b: int) -> int", "Return the greatest common divisor of two positive integers.",
     "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n",
     "assert gcd(12, 18) == 6\nassert gcd(17, 5) == 1\nassert gcd(100, 100) == 100\n"),
    ("caesar", "caesar(text: str, shift: int) -> str",
     "Shift every ASCII letter of text by shift places in the alphabet, wrapping around and keeping its "
     "case; other characters stay as they are.",
     "def caesar(text, shift):\n    out = []\n    for c in text:\n        if 'a' <= c <= 'z':\n            out.append(chr((ord(c) - 97 + shift) % 26 + 97))\n"
     "        elif 'A' <= c <= 'Z':\n            out.append(chr((ord(c) - 65 + shift) % 26 + 65))\n        else:\n"
     "            out.append(c)\n    return ''.join(out)\n",
     "assert caesar('abc', 1) == 'bcd'\nassert caesar('Xyz!', 3) == 'Abc!'\nassert caesar('Hello', -1) == 'Gdkkn'\n"),
    ("chunk", "chunk(items: list, size: int) -> list[list]",
     "Split items into consecutive lists of length size; the last one may be shorter.",
     "def chunk(items, size):\n    return [items[i:i + size] for i in range(0, len(items), size)]\n",
     "assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]\nassert chunk([], 3) == []\nassert chunk([1, 2], 5) == [[1, 2]]\n"),
    ("roman", "roman(n: int) -> str", "Return the Roman numeral for an integer n from 1 to 3999.",
     "def roman(n):\n    out = ''\n    for value, sym in [(1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'), (100, 'C'), (90, 'XC'),\n"
     "                       (50, 'L'), (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'), (4, 'IV'), (1, 'I')]:\n"
     "        while n >= value:\n            out += sym\n            n -= value\n    return out\n",
     "assert roman(1) == 'I'\nassert roman(4) == 'IV'\nassert roman(1994) == 'MCMXCIV'\nassert roman(3999) == 'MMMCMXCIX'\n"),
    ("are_anagrams", "are_anagrams(a: str, b: str) -> bool",
     "Return True when a and b contain the same letters the same number of times, ignoring case and spaces.",
     "def are_anagrams(a, b):\n    norm = lambda s: sorted(s.replace(' ', '').lower())\n    return norm(a) == norm(b)\n",
     "assert are_anagrams('Listen', 'Silent')\nassert are_anagrams('dormitory', 'dirty room')\nassert not are_anagrams('abc', 'abd')\n"),
    ("merge_sorted", "merge_sorted(a: list[int], b: list[int]) -> list[int]",
     "Merge two lists that are each sorted in ascending order into one sorted list.",
     "def merge_sorted(a, b):\n    return sorted(a + b)\n",
     "assert merge_sorted([1, 4, 9], [2, 3, 10]) == [1, 2, 3, 4, 9, 10]\nassert merge_sorted([], [1]) == [1]\n"
     "assert merge_sorted([2, 2], [2]) == [2, 2, 2]\n"),
    ("digit_sum", "digit_sum(n: int) -> int", "Return the sum of the decimal digits of n; a minus sign is ignored.",
     "def digit_sum(n):\n    return sum(int(d) for d in str(abs(n)))\n",
     "assert digit_sum(1234) == 10\nassert digit_sum(0) == 0\nassert digit_sum(-905) == 14\n"),
    ("unique_in_order", "unique_in_order(items: list) -> list",
     "Return items without duplicates, keeping the first occurrence of each value in its original order.",
     "def unique_in_order(items):\n    seen, out = set(), []\n    for x in items:\n        if x not in seen:\n            seen.add(x)\n"
     "            out.append(x)\n    return out\n",
     "assert unique_in_order([3, 1, 3, 2, 1]) == [3, 1, 2]\nassert unique_in_order([]) == []\nassert unique_in_order(['a', 'a']) == ['a']\n"),
    ("balanced", "balanced(text: str) -> bool",
     "Return True when the brackets (), [] and {} in text are balanced and properly nested; other "
     "characters are ignored.",
     "def balanced(text):\n    pairs, stack = {')': '(', ']': '[', '}': '{'}, []\n    for c in text:\n        if c in '([{':\n"
     "            stack.append(c)\n        elif c in pairs:\n            if not stack or stack.pop() != pairs[c]:\n"
     "                return False\n    return not stack\n",
     "assert balanced('([]{})')\nassert not balanced('([)]')\nassert balanced('a(b)c')\nassert not balanced('((')\nassert balanced('')\n"),
    ("to_binary", "to_binary(n: int) -> str", "Return the binary representation of a non-negative integer n, without a prefix.",
     "def to_binary(n):\n    return bin(n)[2:]\n",
     "assert to_binary(0) == '0'\nassert to_binary(5) == '101'\nassert to_binary(255) == '11111111'\n"),
    ("max_profit", "max_profit(prices: list[int]) -> int",
     "Given daily prices, return the largest profit from buying on one day and selling on a later day, "
     "or 0 when no profit is possible.",
     "def max_profit(prices):\n    best, low = 0, float('inf')\n    for p in prices:\n        low = min(low, p)\n"
     "        best = max(best, p - low)\n    return best\n",
     "assert max_profit([7, 1, 5, 3, 6, 4]) == 5\nassert max_profit([7, 6, 4, 3, 1]) == 0\nassert max_profit([]) == 0\n"),
    ("title_case", "title_case(text: str) -> str",
     "Capitalise the first letter of every space-separated word of text and lower-case the rest of it.",
     "def title_case(text):\n    return ' '.join(w[:1].upper() + w[1:].lower() for w in text.split(' '))\n",
     "assert title_case('hello WORLD') == 'Hello World'\nassert title_case('a') == 'A'\nassert title_case('') == ''\n"),
    ("transpose", "transpose(matrix: list[list[int]]) -> list[list[int]]",
     "Return the transpose of a rectangular matrix given as a list of rows.",
     "def transpose(matrix):\n    return [list(row) for row in zip(*matrix)]\n",
     "assert transpose([[1, 2, 3], [4, 5, 6]]) == [[1, 4], [2, 5], [3, 6]]\nassert transpose([[1]]) == [[1]]\nassert transpose([]) == []\n"),
    ("compress", "compress(text: str) -> str",
     "Run-length encode text: each run of a repeated character becomes the character followed by the "
     "run's length, e.g. 'aaab' -> 'a3b1'.",
     "def compress(text):\n    out, i = [], 0\n    while i < len(text):\n        j = i\n        while j < len(text) and text[j] == text[i]:\n"
     "            j += 1\n        out.append(f'{text[i]}{j - i}')\n        i = j\n    return ''.join(out)\n",
     "assert compress('aaab') == 'a3b1'\nassert compress('') == ''\nassert compress('abcc') == 'a1b1c2'\n"),
    ("is_leap_year", "is_leap_year(year: int) -> bool",
     "Return True for leap years of the Gregorian calendar: divisible by 4, except centuries not divisible by 400.",
     "def is_leap_year(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n",
     "assert is_leap_year(2024)\nassert not is_leap_year(1900)\nassert is_leap_year(2000)\nassert not is_leap_year(2023)\n"),
    ("median", "median(numbers: list[float]) -> float",
     "Return the median of a non-empty list: the middle value after sorting, or the mean of the two "
     "middle values when the length is even.",
     "def median(numbers):\n    s = sorted(numbers)\n    m = len(s) // 2\n    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2\n",
     "assert median([3, 1, 2]) == 2\nassert median([4, 1, 3, 2]) == 2.5\nassert median([7]) == 7\n"),
    ("find_missing", "find_missing(numbers: list[int]) -> int",
     "numbers holds every integer from 1 to n exactly once except one; return the missing one.",
     "def find_missing(numbers):\n    n = len(numbers) + 1\n    return n * (n + 1) // 2 - sum(numbers)\n",
     "assert find_missing([1, 2, 4, 5]) == 3\nassert find_missing([2]) == 1\nassert find_missing([1]) == 2\n"),
    ("to_snake_case", "to_snake_case(name: str) -> str",
     "Convert a camelCase or PascalCase identifier to snake_case: an underscore before each upper-case "
     "letter that is not the first character, and everything lower-cased.",
     "def to_snake_case(name):\n    out = ''\n    for i, c in enumerate(name):\n        out += ('_' if c.isupper() and i else '') + c.lower()\n    return out\n",
     "assert to_snake_case('camelCase') == 'camel_case'\nassert to_snake_case('PascalCaseName') == 'pascal_case_name'\n"
     "assert to_snake_case('x') == 'x'\n"),
]


def build_examples() -> list[dict[str, str]]:
    return [
        {"id": f"code-{i:03d}", "entry_point": entry, "signature": signature, "prompt": description,
         "reference": reference, "tests": tests}
        for i, (entry, signature, description, reference, tests) in enumerate(PROBLEMS, start=1)
    ]


def check(examples: list[dict[str, str]]) -> None:
    """Every reference solution passes its own tests (run in this process: the code is ours)."""
    for example in examples:
        exec(compile(example["reference"] + "\n" + example["tests"], example["id"], "exec"), {})


def main(out: Path = OUT_PATH) -> None:
    examples = build_examples()
    check(examples)
    write_jsonl(out, examples)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_PATH)
