"""Small HTML string templates (no Jinja2): a page layout, escaping, and form helpers."""

from __future__ import annotations

from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1a1f36;
background:#f6f9fc}
header{background:#635bff;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;
align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none;font-weight:600}
header .brand{font-size:1.1rem;margin-right:1rem}
main{max-width:980px;margin:1.5rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #e3e8ee;font-size:.9rem;
vertical-align:top}
code,.mono{font-family:ui-monospace,Menlo,monospace;font-size:.85rem;background:#eef1f6;
padding:.1rem .3rem;border-radius:3px;white-space:nowrap}
a.id{text-decoration:none}a.id:hover code{outline:1px solid #635bff}
form.card,section.card{background:#fff;padding:1rem 1.2rem;border-radius:8px;
box-shadow:0 1px 3px rgba(0,0,0,.08);margin-bottom:1.2rem}
label{display:block;margin:.6rem 0 .2rem;font-weight:600;font-size:.9rem}
input[type=text],input[type=url],input[type=email],input[type=number],select,textarea{
width:100%;box-sizing:border-box;padding:.45rem;border:1px solid #c9d1db;border-radius:5px;
font-size:1rem}
.check label{display:inline;font-weight:400;margin-left:.3rem}
button{background:#635bff;color:#fff;border:0;border-radius:5px;padding:.55rem 1.1rem;
font-size:1rem;margin-top:.8rem;cursor:pointer}
button.secondary{background:#e3e8ee;color:#1a1f36}
.ok{color:#0a7d38}.bad{color:#c0123c}.muted{color:#687385}
.error{background:#fde8ec;color:#a1112f;padding:.6rem .8rem;border-radius:5px;margin:.6rem 0}
.notice{background:#e7f5ec;color:#0a5a2b;padding:.6rem .8rem;border-radius:5px}
.warning{background:#fff4d6;color:#7a4b00;padding:.6rem .8rem;border-radius:5px;margin:.6rem 0}
.status{display:inline-block;padding:.05rem .45rem;border-radius:9px;background:#e3e8ee;
font-size:.8rem}
"""


def esc(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def layout(title: str, body: str, *, nav: bool = True) -> str:
    links = [("/", "Home"), ("/apikeys", "API keys"), ("/webhooks", "Webhooks"),
             ("/products", "Products"), ("/customers", "Customers"),
             ("/subscriptions", "Subscriptions"), ("/events", "Events")]
    header = ""
    if nav:
        header = ("<header><span class=brand>Stripe emulator <small>(test mode)</small></span>"
                  + "".join(f'<a href="{h}">{esc(t)}</a>' for h, t in links) + "</header>")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"{header}<main>{body}</main></body></html>"
    )


def field(name: str, label: str, *, kind: str = "text", value: Any = "",
          required: bool = False, extra: str = "") -> str:
    req = " required" if required else ""
    return (f'<label for="{esc(name)}">{esc(label)}</label>'
            f'<input type="{kind}" id="{esc(name)}" name="{esc(name)}" value="{esc(value)}"'
            f"{req} {extra}>")


def select(name: str, label: str, options: list[tuple[str, str]], selected: str = "") -> str:
    opts = "".join(
        f'<option value="{esc(v)}"{" selected" if v == selected else ""}>{esc(t)}</option>'
        for v, t in options)
    return (f'<label for="{esc(name)}">{esc(label)}</label>'
            f'<select id="{esc(name)}" name="{esc(name)}">{opts}</select>')


def table(headers: list[str], rows: list[list[str]], empty: str = "Nothing yet.") -> str:
    """``rows`` hold HTML that the caller has already escaped."""
    if not rows:
        return f'<p class="muted">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def status_badge(status: str | None) -> str:
    return f'<span class="status">{esc(status)}</span>'
