"""Admin tests sign in as the staff superuser from tests/fixtures/accounts.py."""

import pytest

from members.models import MemberGroup
from tests.fixtures.accounts import ADMIN_PASSWORD


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Autouse runs before the account fixtures, so their passwords hash fast too;
    # these tests are about the admin screens, not the hasher's work factor.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff_client(client, admin_user):
    """A browser session signed in to the admin through its login form."""
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": admin_user.email, "password": ADMIN_PASSWORD},
    )
    assert response.status_code == 302, response.content
    return client


@pytest.fixture
def priced_groups(db):
    return [
        MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold1"),
        MemberGroup.objects.create(name="Silver", stripe_price_id="price_silver1"),
    ]


@pytest.fixture
def on_emulator(emulator, settings):
    """The app's Stripe calls go to this test's emulator, without retries."""
    settings.STRIPE_API_BASE = emulator.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    return emulator
