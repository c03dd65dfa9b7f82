"""``knit explain ... --format text``: the explanation JSON (either backend's, so both modes print the same) for
people. Closest first; inputs that share nothing with the Data are counted, not listed (the JSON lists them)."""

from __future__ import annotations

from collections.abc import Iterator

#: non-nominated inputs shown in full before the rest are only counted
SHOWN_MISSES = 12


def _plan(entry: dict) -> str:
    plan = entry["plan"]
    return f"plan {plan['planId']} ({plan.get('image') or plan.get('name', '')})"


def data_text(explained: dict) -> str:
    return "\n".join(_data_lines(explained))


def _data_lines(explained: dict) -> Iterator[str]:
    user = [t for t in explained["tags"] if not t.startswith("knit#")]
    yield f"Data {explained['knitId']}: {', '.join(user) or '(no user tags)'}"
    if explained["transient"]:
        yield f"  knit#transient:{explained['transient']}: no Plan uses it"
    entries = explained["inputs"]
    if not entries:
        yield "No Plan has inputs to nominate it to."
        return
    shown = [e for e in entries if e["related"]]
    quiet = len(entries) - len(shown)
    misses = 0
    for entry in shown:
        if not entry["nominated"]:
            misses += 1
            if misses > SHOWN_MISSES:
                quiet += 1
                continue
        verdict = "nominated" if entry["nominated"] else "NOT nominated"
        yield ""
        yield f"{verdict} to {_plan(entry)}, input {entry['path']} [{', '.join(entry['tags'])}]"
        for reason in entry["reasons"]:
            yield f"  - {reason['message']}"
        if entry["nominated"] and not entry["reasons"] and entry["runs"]:
            yield "  - used by " + ", ".join(f"{r['runId']} ({r['status']})" for r in entry["runs"])
    if quiet:
        yield ""
        yield (
            f"... and {quiet} more Plan input(s) whose tags the Data lacks "
            "(--format json lists every input; --plan PLAN_ID explains one Plan)"
        )


def run_text(explained: dict) -> str:
    plan = explained["plan"]
    made_by = f"plan {plan['planId']} ({plan['image']})" if "image" in plan else plan.get("name", "an upload")
    lines = [f"Run {explained['runId']} ({explained['status']}) of {made_by}"]
    lines.append(f"why it exists: {explained['cause']['message']}")
    lines.append(f"why it is {explained['status']}: {explained['state']['message']}")
    if explained["lastAction"]:
        lines.append(f"last changed by hand: {explained['lastAction']['message']}")
    return "\n".join(lines)


def near_misses_text(explained: dict) -> str:
    lines = [f"Plan {explained['planId']} ({explained['image']}): Data that lack one tag of an input"]
    for point in explained["inputs"]:
        lines.append("")
        lines.append(f"input {point['path']} [{', '.join(point['tags'])}]: {point['total']} Data lack one tag")
        for data in point["data"]:
            guess = f" (it has {' and '.join(data['didYouMean'])}: a misspelling?)" if data["didYouMean"] else ""
            lines.append(f"  - {data['knitId']} lacks {data['missing']}{guess}")
        if point["total"] > len(point["data"]):
            lines.append(f"  ... and {point['total'] - len(point['data'])} more")
    return "\n".join(lines)


def dry_run_summary(report: dict) -> str:
    """One line for stderr: what the write would do; nothing was written."""
    runs = report["runs"]
    per_plan = ", ".join(f"{p['plan'].get('image', p['plan']['planId'])}: {p['count']}" for p in runs["byPlan"])
    text = f"dry run ({report['action']}), nothing was written: it would create {runs['count']} Run(s)"
    if per_plan:
        text += f" ({per_plan})"
    changed = report.get("changed")
    if changed:
        text += f" and make {changed['count']} Run(s) {changed['status']}"
    if report["downstream"]:
        text += f"; their outputs would reach {len(report['downstream'])} Plan(s) downstream"
    if report.get("needsConfirmation"):
        text += f"; more than [knit] backfill_confirm ({report['backfillConfirm']}): applying needs --yes"
    return text
