"""Test cards: what each number does when charged, and the card a form or API call names."""

from __future__ import annotations

from dataclasses import dataclass

# Card number -> behaviour. Any other Luhn-valid number behaves like 4242 4242 4242 4242.
CARDS = {
    "4242424242424242": "ok",
    "4000000000000002": "generic_decline",
    "4000000000009995": "insufficient_funds",
    "4000000000000341": "fail_renewals",  # attaches, first charge ok, later charges fail
}
DECLINES = ("generic_decline", "insufficient_funds")
# Stripe's test payment method ids, usable in test mode wherever a pm_ id is expected.
TEST_TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeCustomerFail": "4000000000000341",
}


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass
class Card:
    number: str
    exp_month: int
    exp_year: int
    cvc: str
    name: str

    @property
    def behaviour(self) -> str:
        return CARDS.get(self.number, "ok")

    @property
    def brand(self) -> str:
        return {"4": "visa", "5": "mastercard", "3": "amex"}.get(self.number[:1], "unknown")
