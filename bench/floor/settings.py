"""The floor's settings: the product's own (database, CONN_MAX_AGE, apps), one bare view.

Only the URLs and the middleware differ: the floor answers one URL and needs no
middleware, so what the product's webhook pays beyond it is the product's own work.
"""

from kuroco_billing.settings import *  # noqa: F403
from kuroco_billing.settings import env

ROOT_URLCONF = "bench.floor.urls"
MIDDLEWARE: list[str] = []
FLOOR_WEBHOOK_SECRET: str = env.str("FLOOR_WEBHOOK_SECRET")
