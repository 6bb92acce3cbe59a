"""The fleet page: one plain HTML table, no script, that reloads itself every 30 seconds."""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import Any

REFRESH_S = 30
SORTS = {"site": "Site", "oldest": "Oldest pending", "heartbeat": "Last heartbeat", "pending": "Pending"}

_STYLE = """
body { font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0;
       background: #f4f6f8; color: #1f2933; }
header { background: #1f2933; color: #fff; padding: 18px 32px; display: flex; align-items: baseline; gap: 24px; }
header h1 { font-size: 21px; margin: 0; font-weight: 600; }
header .sum { color: #cbd2d9; }
header .sum b { color: #fff; }
main { padding: 20px 32px; }
table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 3px rgba(0,0,0,.12);
        border-radius: 6px; overflow: hidden; }
th, td { padding: 10px 14px; text-align: left; border-bottom: 1px solid #e4e7eb; vertical-align: top; }
th { white-space: nowrap; background: #e4e7eb; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #52606d; }
th a { color: inherit; text-decoration: none; border-bottom: 1px dotted #9aa5b1; }
th.on a { color: #1f2933; border-bottom: 2px solid #1f2933; }
td.when { white-space: nowrap; }
td.n { white-space: nowrap; text-align: right; font-variant-numeric: tabular-nums; }
th.n { text-align: right; }
tr.stale td { color: #7b8794; background: #f5f7fa; }
tr.bad td.state { color: #ab091e; }
.pill { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 12px; font-weight: 600;
        margin-right: 4px; white-space: nowrap; }
.ok { background: #e3f9e5; color: #0e5814; }
.stale-p { background: #52606d; color: #fff; }
.paused-p { background: #fff3c4; color: #8d2b0b; }
.bad-p { background: #ffe3e3; color: #ab091e; }
.why { font-size: 13px; color: #52606d; margin-top: 3px; }
.site { font-weight: 600; white-space: nowrap; }
.id { font-size: 12px; color: #7b8794; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.warn { color: #ab091e; font-weight: 600; }
p.foot { color: #7b8794; font-size: 13px; }
"""


def span(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _when(iso_text: str | None) -> str:
    if not iso_text:
        return "never"
    return datetime.fromisoformat(iso_text).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _state(agent: dict[str, Any]) -> str:
    pills = []
    if agent["stale"]:
        pills.append('<span class="pill stale-p">stale</span>')
        missed = int(agent["silent_s"] // agent["every_s"]) if agent["every_s"] else 0
        notes = [f"No heartbeat for {span(agent['silent_s'])} ({missed} missed); figures are from the last one"]
    else:
        notes = []
    if agent["paused"]:
        pills.append('<span class="pill paused-p">paused</span>')
    if not agent["healthy"]:
        pills.append('<span class="pill bad-p">unhealthy</span>')
    if not pills:
        pills.append('<span class="pill ok">ok</span>')
    why = "".join(f'<div class="why">{escape(note)}</div>' for note in notes)
    if agent["paused_reason"]:
        why += f'<div class="why">Paused: {escape(str(agent["paused_reason"]))}</div>'
    for reason in agent["unhealthy_reasons"][:3]:
        if agent["paused_reason"] and str(agent["paused_reason"]) in reason:
            continue
        why += f'<div class="why">{escape(reason)}</div>'
    return "".join(pills) + why


def _row(agent: dict[str, Any]) -> str:
    cls = " ".join(c for c, on in (("stale", agent["stale"]), ("bad", not agent["healthy"])) if on)
    silent = f'{span(agent["silent_s"])} ago'
    if agent["stale"]:
        silent = f'<span class="warn">{silent}</span>'
    failed, dead = agent["failed"], agent["dead"]
    return (
        f'<tr class="{cls}">'
        f'<td><div class="site">{escape(agent["site"])}</div>'
        f'<div class="id" title="{escape(agent["agent_id"])}">{escape(agent["agent_id"][:13])}</div></td>'
        f'<td>{escape(agent["version"])}</td>'
        f'<td class="when">{_when(agent["last_heartbeat_at"])}<div class="why">{silent}</div></td>'
        f'<td class="n">{agent["pending"]:,}</td>'
        f'<td class="n">{span(agent["oldest_pending_age_s"])}</td>'
        f'<td class="n{" warn" if failed else ""}">{failed:,}</td>'
        f'<td class="n{" warn" if dead else ""}">{dead:,}</td>'
        f'<td class="state">{_state(agent)}</td>'
        "</tr>"
    )


def _head(sort: str) -> str:
    def sortable(key: str, label: str, numeric: bool = False) -> str:
        classes = " ".join(c for c, on in (("n", numeric), ("on", sort == key)) if on)
        return f'<th class="{classes}"><a href="?sort={key}">{label}</a></th>'

    return ("<tr>" + sortable("site", "Site") + "<th>Version</th>" + sortable("heartbeat", "Last heartbeat")
            + sortable("pending", "Pending", True) + sortable("oldest", "Oldest pending", True)
            + '<th class="n">Failed</th><th class="n">Dead</th><th>State</th></tr>')


def render_page(agents: list[dict[str, Any]], sort: str, now: float) -> str:
    stale = sum(a["stale"] for a in agents)
    paused = sum(a["paused"] for a in agents)
    unhealthy = sum(not a["healthy"] for a in agents)
    stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    rows = "\n".join(_row(a) for a in agents) or '<tr><td colspan="8">No agent has sent a heartbeat yet.</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_S}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>relay fleet ({len(agents)} agents)</title>
<style>{_STYLE}</style></head>
<body>
<header><h1>relay fleet</h1>
<div class="sum"><b>{len(agents)}</b> agents · <b>{stale}</b> stale · <b>{paused}</b> paused ·
<b>{unhealthy}</b> unhealthy · as of {stamp}</div></header>
<main>
<table>
<thead>{_head(sort)}</thead>
<tbody>
{rows}
</tbody>
</table>
<p class="foot">Sorted by {escape(SORTS[sort].lower())}; click a column title to sort. Stale: no heartbeat for three
of the agent's intervals. Ages are from each agent's last heartbeat. This page reloads every {REFRESH_S} seconds.</p>
</main>
</body></html>
"""
