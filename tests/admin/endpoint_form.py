"""The admin's endpoint form as a browser posts it: every field, blank unless given."""

from __future__ import annotations


def endpoint_form(api, **fields) -> dict:
    data = {"api": api.pk, "path": "stripe/x", "operation": "plans", "summary": "",
            "description": "", "enabled": "on", "rate_limit_count": "0",
            "rate_limit_period": "60", "products_list": "", "return_url": "",
            "return_err_url": "", "trial_period_days": "", "proration_behavior": "",
            "access_token_lifetime": "", "refresh_token_lifetime": ""}
    data.update(fields)
    return data
