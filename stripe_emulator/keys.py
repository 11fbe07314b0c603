"""The emulator's default API keys (test-mode shaped, never valid on real Stripe)."""

DEFAULT_SECRET_KEY = "sk_test_51KurocoEmulator0000000000000000000000"
DEFAULT_PUBLISHABLE_KEY = "pk_test_51KurocoEmulator0000000000000000000000"
