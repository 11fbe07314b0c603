"""The gateway's per-process Stripe client: reused per key, replaced as soon as a key is saved."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from payments import gateway
from payments.models import StripeSettings

pytestmark = pytest.mark.django_db(transaction=True)

WRONG_KEY = "sk_test_wrong_key_123"


def saved_by_another_process(**fields) -> None:
    """What another worker's save looks like here: the row changes, no cache of ours is cleared."""
    version = StripeSettings.objects.get(pk=1).updated_at + timedelta(seconds=1)
    StripeSettings.objects.filter(pk=1).update(updated_at=version, **fields)


def test_one_client_per_key_is_reused(stripe_enabled):
    assert gateway.client() is gateway.client()
    other = StripeSettings(enabled=True, secret_key=WRONG_KEY)
    assert gateway.client(other) is not gateway.client()


def test_a_key_saved_by_another_process_is_used_at_once(stripe_enabled, emulator):
    assert gateway.retrieve_account()["id"].startswith("acct_")

    saved_by_another_process(secret_key=WRONG_KEY)
    with pytest.raises(gateway.StripeUnavailable) as caught:
        gateway.retrieve_account()
    assert caught.value.message == "Stripe refused this site's API key."

    saved_by_another_process(secret_key=emulator.secret_key)
    assert gateway.retrieve_account()["id"].startswith("acct_")


def test_integration_disabled_by_another_process_is_refused_at_once(stripe_enabled):
    gateway.retrieve_account()
    saved_by_another_process(enabled=False)
    with pytest.raises(gateway.StripeNotConfigured):
        gateway.retrieve_account()


def test_duration_is_logged_to_a_tenth_of_a_millisecond(stripe_enabled, caplog):
    with caplog.at_level(logging.INFO, logger="payments.stripe"):
        gateway.retrieve_account()
    [line] = [r.getMessage() for r in caplog.records if r.name == "payments.stripe"]
    assert re.search(r" duration_ms=\d+\.\d ", line), line
