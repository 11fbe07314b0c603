"""GET /v1/account: the emulator's single (test-mode) account."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from .common import Route, address


def _requirements() -> dict[str, Any]:
    return {"alternatives": [], "current_deadline": None, "currently_due": [],
            "disabled_reason": None, "errors": [], "eventually_due": [], "past_due": [],
            "pending_verification": []}


def build_account(account_id: str) -> dict[str, Any]:
    return {
        "id": account_id,
        "object": "account",
        "business_profile": {
            "annual_revenue": None, "estimated_worker_count": None, "mcc": None,
            "name": "Kuroco Emulator", "product_description": None,
            "specified_commercial_transactions_act_url": None,
            "support_address": address(), "support_email": None, "support_phone": None,
            "support_url": None, "url": None, "minority_owned_business_designation": None,
        },
        "business_type": None,
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "account"},
        "country": "JP",
        "created": 1700000000,
        "default_currency": "jpy",
        "details_submitted": True,
        "email": "emulator@example.com",
        "external_accounts": {"object": "list", "data": [], "has_more": False,
                              "url": f"/v1/accounts/{account_id}/external_accounts"},
        "future_requirements": _requirements(),
        "metadata": {},
        "payouts_enabled": True,
        "requirements": _requirements(),
        "settings": {
            "branding": {"icon": None, "logo": None, "primary_color": None,
                         "secondary_color": None},
            "card_payments": {"decline_on": {"avs_failure": False, "cvc_failure": False},
                              "statement_descriptor_prefix": None,
                              "statement_descriptor_prefix_kana": None,
                              "statement_descriptor_prefix_kanji": None},
            "dashboard": {"display_name": "Kuroco Emulator", "timezone": "Asia/Tokyo"},
            "payments": {"statement_descriptor": "KUROCO EMULATOR",
                         "statement_descriptor_kana": None, "statement_descriptor_kanji": None,
                         "statement_descriptor_prefix_kana": None,
                         "statement_descriptor_prefix_kanji": None},
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": "standard",
    }


def retrieve(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return build_account(ctx.store.private["account_id"])


ROUTES: list[Route] = [("GET", "/v1/account", retrieve)]
