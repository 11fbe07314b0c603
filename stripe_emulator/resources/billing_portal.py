"""The Billing Portal API: configurations (create, retrieve, update, list; a default one
always exists) and sessions (create). The hosted page itself is ``portal_page.py``."""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..errors import invalid
from ..listing import paginate
from ..params import get_bool, get_dict, get_enum, get_list, get_str, get_url, merge_metadata
from ..state import Store, random_token
from .common import Route, require

PRORATIONS = ("none", "always_invoice", "create_prorations")
CANCEL_MODES = ("at_period_end", "immediately")
ALLOWED_UPDATES = ("price", "quantity", "promotion_code")
CUSTOMER_UPDATES = ("email", "address", "shipping", "phone", "tax_id", "name")
LOCALES = ("auto", "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE",
           "en-IN", "en-NZ", "en-SG", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr",
           "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt",
           "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW")
CANCEL_REASONS = ["too_expensive", "missing_features", "switched_service", "unused",
                  "customer_service", "too_complex", "low_quality", "other"]


def _features() -> dict[str, Any]:
    """The default portal: invoices, card updates and period-end cancellation; no plan
    switching until a configuration lists the products it may switch between."""
    return {
        "customer_update": {"allowed_updates": ["email", "address"], "enabled": False},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True, "payment_method_configuration": None},
        "subscription_cancel": {
            "cancellation_reason": {"enabled": False, "feedback_options": None,
                                    "options": list(CANCEL_REASONS)},
            "enabled": True, "mode": "at_period_end", "proration_behavior": "none"},
        "subscription_pause": {"duration": {"interval_options": [], "type": "indefinite"},
                               "enabled": False},
        "subscription_update": {
            "billing_cycle_anchor": None, "default_allowed_updates": [], "enabled": False,
            "products": [], "proration_behavior": "create_prorations",
            "schedule_at_period_end": {"conditions": []},
            "trial_update_behavior": "end_trial"},
    }


def build_configuration(store: Store, *, is_default: bool = False) -> dict[str, Any]:
    now = store.now()
    return {
        "id": store.new_id("bpc_"),
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {"headline": None, "privacy_policy_url": None,
                             "terms_of_service_url": None},
        "created": now,
        "default_return_url": None,
        "features": _features(),
        "is_default": is_default,
        "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": {},
        "name": None,
        "updated": now,
    }


def default_configuration(store: Store) -> dict[str, Any]:
    with store.transaction():
        for config in store.all("billing_portal.configuration"):
            if config["is_default"]:
                return config
        config = build_configuration(store, is_default=True)
        store.put("billing_portal.configuration", config)
        return config


def _products(ctx: Ctx, raw_products: list[Any]) -> list[dict[str, Any]]:
    products = []
    for i, raw in enumerate(raw_products):
        label = f"features[subscription_update][products][{i}]"
        if not isinstance(raw, dict):
            raise invalid(label, f"Invalid hash: {label}")
        product_id = get_str(raw, "product", required=True, allow_empty=False,
                             label=f"{label}[product]") or ""
        require(ctx, "product", product_id, param=f"{label}[product]", status=400)
        prices = [str(p) for p in get_list(raw, "prices")]
        if not prices:
            raise invalid(f"{label}[prices]", "You must specify at least one price per "
                          "product.", code="parameter_missing")
        for j, price_id in enumerate(prices):
            price = require(ctx, "price", price_id, param=f"{label}[prices][{j}]", status=400)
            if price["product"] != product_id or price["type"] != "recurring":
                raise invalid(f"{label}[prices][{j}]", f"The price {price_id} must be a "
                              f"recurring price of the product {product_id}.")
        products.append({"adjustable_quantity": {"enabled": False, "maximum": 99,
                                                 "minimum": 1},
                         "prices": prices, "product": product_id})
    return products


def _apply_features(ctx: Ctx, features: dict[str, Any], raw: dict[str, Any]) -> None:
    def flag(section: dict[str, Any], name: str, label: str) -> None:
        value = get_bool(section, "enabled", f"features[{label}][enabled]")
        if value is not None:
            features[name]["enabled"] = value

    for name in ("customer_update", "invoice_history", "payment_method_update",
                 "subscription_cancel", "subscription_pause", "subscription_update"):
        section = get_dict(raw, name)
        if section:
            flag(section, name, name)
    update = get_dict(raw, "subscription_update")
    target = features["subscription_update"]
    if "default_allowed_updates" in update:
        allowed = [str(a) for a in get_list(update, "default_allowed_updates")]
        for j, value in enumerate(allowed):
            if value not in ALLOWED_UPDATES:
                raise invalid(f"features[subscription_update][default_allowed_updates][{j}]",
                              f"Invalid value: must be one of {', '.join(ALLOWED_UPDATES)}")
        target["default_allowed_updates"] = allowed
    if "products" in update:
        target["products"] = _products(ctx, get_list(update, "products"))
    proration = get_enum(update, "proration_behavior", PRORATIONS,
                         label="features[subscription_update][proration_behavior]")
    if proration:
        target["proration_behavior"] = proration
    cancel = get_dict(raw, "subscription_cancel")
    mode = get_enum(cancel, "mode", CANCEL_MODES, label="features[subscription_cancel][mode]")
    if mode:
        features["subscription_cancel"]["mode"] = mode
    proration = get_enum(cancel, "proration_behavior", PRORATIONS,
                         label="features[subscription_cancel][proration_behavior]")
    if proration:
        features["subscription_cancel"]["proration_behavior"] = proration
    customer = get_dict(raw, "customer_update")
    if "allowed_updates" in customer:
        allowed = [str(a) for a in get_list(customer, "allowed_updates")]
        if any(a not in CUSTOMER_UPDATES for a in allowed):
            raise invalid("features[customer_update][allowed_updates]",
                          f"Invalid value: must be among {', '.join(CUSTOMER_UPDATES)}")
        features["customer_update"]["allowed_updates"] = allowed
    if target["enabled"] and not (target["products"] and target["default_allowed_updates"]):
        raise invalid("features[subscription_update]", "To enable subscription updates, "
                      "provide `products` and `default_allowed_updates`.")


def _apply(ctx: Ctx, config: dict[str, Any], params: dict[str, Any]) -> None:
    profile = get_dict(params, "business_profile")
    for name in ("headline", "privacy_policy_url", "terms_of_service_url"):
        if name in profile:
            value = (get_url(profile, name) if name.endswith("_url")
                     else get_str(profile, name, label=f"business_profile[{name}]"))
            config["business_profile"][name] = value or None
    if "default_return_url" in params:
        config["default_return_url"] = get_url(params, "default_return_url")
    if "name" in params:
        config["name"] = get_str(params, "name") or None
    if "metadata" in params:
        config["metadata"] = merge_metadata(config["metadata"], params["metadata"])
    login = get_dict(params, "login_page")
    if login:
        enabled = bool(get_bool(login, "enabled", "login_page[enabled]"))
        config["login_page"] = {"enabled": enabled,
                                "url": f"{ctx.base_url}/p/login/test_{random_token(14)}"
                                if enabled else None}
    if "features" in params:
        _apply_features(ctx, config["features"], get_dict(params, "features"))


def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    default_configuration(ctx.store)
    config = build_configuration(ctx.store)
    _apply(ctx, config, params)
    ctx.store.put("billing_portal.configuration", config)
    ctx.store.emit("billing_portal.configuration.created", config, request=ctx.request)
    return config


def retrieve(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    default_configuration(ctx.store)
    return require(ctx, "billing_portal.configuration", id)


def update(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    default_configuration(ctx.store)
    old = require(ctx, "billing_portal.configuration", id)
    config = copy.deepcopy(old)
    _apply(ctx, config, params)
    active = get_bool(params, "active")
    if active is not None:
        if not active and config["is_default"]:
            raise invalid("active", "You cannot deactivate the default configuration.")
        config["active"] = active
    if config != old:
        config["updated"] = ctx.store.now()
        ctx.store.put("billing_portal.configuration", config)
        ctx.store.emit("billing_portal.configuration.updated", config, request=ctx.request)
    return config


def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    default_configuration(ctx.store)
    active = get_bool(params, "active")
    is_default = get_bool(params, "is_default")
    items = [c for c in ctx.store.all("billing_portal.configuration")
             if (active is None or c["active"] == active)
             and (is_default is None or c["is_default"] == is_default)]
    return paginate(items, params, "/v1/billing_portal/configurations",
                    "billing_portal.configuration")


def create_session(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    customer_id = get_str(params, "customer", required=True, allow_empty=False) or ""
    require(ctx, "customer", customer_id, param="customer", status=400)
    config_id = get_str(params, "configuration", allow_empty=False)
    if config_id:
        config = require(ctx, "billing_portal.configuration", config_id,
                         param="configuration", status=400)
        if not config["active"]:
            raise invalid("configuration", "The configuration is inactive.")
    else:
        config = default_configuration(ctx.store)
    return_url = get_url(params, "return_url") or config["default_return_url"]
    locale = get_enum(params, "locale", LOCALES)
    session_id = ctx.store.new_id("bps_")
    session = {
        "id": session_id,
        "object": "billing_portal.session",
        "configuration": config["id"],
        "created": ctx.store.now(),
        "customer": customer_id,
        "customer_account": None,
        "flow": None,
        "livemode": False,
        "locale": locale,
        "on_behalf_of": None,
        "return_url": return_url,
        "url": f"{ctx.base_url}/p/session/{session_id}",
    }
    with ctx.store.transaction():
        ctx.store.private["portal"][session_id] = {"csrf": random_token(32)}
        ctx.store.touch()
        ctx.store.put("billing_portal.session", session)
    return session


ROUTES: list[Route] = [
    ("POST", "/v1/billing_portal/configurations", create),
    ("GET", "/v1/billing_portal/configurations", list_),
    ("GET", "/v1/billing_portal/configurations/<id>", retrieve),
    ("POST", "/v1/billing_portal/configurations/<id>", update),
    ("POST", "/v1/billing_portal/sessions", create_session),
]
