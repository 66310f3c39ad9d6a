"""Takedown simulation: how soon each revisit policy notices a removal, at the same fetch budget.

10,000 WeChat-style articles are published over 30 days by 1,000 accounts; about one in ten is
removed, with causes, timing and clustering drawn from the figures counted in WeChatscope's feed
(docs/takedowns.md "Simulation"): 71.5% deleted by the author, 24.3% censored, 2.6% whole accounts
blocked, 1.3% complaints; removals fall 20% on the day of publication, 40% the next day, 33% the day
after, the rest within a week; censorship concentrates on few accounts (the top 10% hold about 39%)
and blocks take an account's articles down within the same hour. Some articles are edited, some of
them shortly before they are removed.

Every policy runs the project's own scheduling on a real archive (crawler/archive/store.py in a temporary
folder) with a simulated clock: an hourly `crawler run` syncs the newly published seeds, asks the
store which seeds are due (at most the budget), "fetches" each (the simulated world answers
new_version, unchanged or removed with a cause) and records the capture with its next due time
through Store.record_capture. The policies differ only in when a seed is due again and, for the new
scheduler, in the order the budget is spent:

- fixed daily: every seed once a day;
- adaptive (before this change): crawler.changes.intervals.next_state without an age curve (1 day, x1.5 while unchanged);
- NewsDiffs: 15 min while the last change is under 3 h old, hourly under a day, 3 h under a week,
  3 days under a month, monthly after;
- diffengine: due again once 0.2 x the article's age has passed;
- new: crawler.changes.intervals.next_state with the default age curve, crawler.run.selection.due_seed_ids (value-ordered
  budget, account risk) and the store's correlated rechecks of an account after censorship or a block.

It reports, per policy, the median and 90th-percentile detection latency (removal -> first capture
that saw it removed; a removal never seen counts until the end of the run) and the share of removed
articles whose last text before removal was captured.

    .venv/bin/python benchmarks/takedown_sim.py            # the full run (a few minutes on 2 cores)
    .venv/bin/python benchmarks/takedown_sim.py --articles 2000 --days 10   # a quick look
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.config import load_settings  # noqa: E402
from crawler.changes.intervals import DueState, RevisitPolicy, account_key, iso, next_state, publication_time  # noqa: E402
from crawler.model import CaptureRecord  # noqa: E402
from crawler.run.selection import due_seed_ids  # noqa: E402
from crawler.archive.store import Store  # noqa: E402

HOUR = 3600.0
DAY = 86400.0
START = datetime(2026, 1, 1, tzinfo=timezone.utc)

# WeChatscope's notices and their shares of 17,411 removals (issue #18).
CAUSE_SHARES = {
    "author_deleted": (0.715, "该内容已被发布者删除"),
    "censored": (0.243, "此内容因违规无法查看"),
    "account_blocked": (0.026, "此帐号已被屏蔽"),
    "complaint": (0.013, "此内容被投诉且经审核涉嫌侵权，无法查看"),
    "account_migrated": (0.002, "该公众号已迁移"),
}
NOTICES = {cause: notice for cause, (_, notice) in CAUSE_SHARES.items()}
# Removal delay after publication: 20% on the day of publication, 40% the next day, 33% the day
# after, and the remaining 7% over the rest of the week.
DELAY_DAYS = ((0.20, 0.0, 1.0), (0.40, 1.0, 2.0), (0.33, 2.0, 3.0), (0.07, 3.0, 7.0))
VOLUME_SIGMA = 0.8
RISK_SIGMA = 1.0


@dataclass
class Article:
    """One simulated article and what happens to it."""

    id: str
    account: str
    published: float  # seconds since START
    removed_at: float | None = None
    cause: str | None = None
    edits: list[float] = field(default_factory=list)  # times its text changed, ascending

    def version_at(self, t: float) -> int:
        """Which text the article shows at t (0: the published one)."""
        return bisect.bisect_right(self.edits, t)


def removal_delay(rng: random.Random) -> float:
    """Seconds from publication to removal, drawn from DELAY_DAYS."""
    pick, total = rng.random(), 0.0
    for share, low, high in DELAY_DAYS:
        total += share
        if pick <= total:
            return rng.uniform(low, high) * DAY
    return rng.uniform(3.0, 7.0) * DAY


def build_world(articles: int, days: float, seed: int) -> list[Article]:
    """The articles, their accounts, removals (causes, timing, clustering) and edits."""
    rng = random.Random(seed)
    accounts = max(articles // 10, 1)
    # How much each account publishes, and its censorship risk: both heavy-tailed, so that a tenth
    # of the accounts with censored articles holds about 39% of them (WeChatscope's figure).
    volume = [rng.lognormvariate(0.0, VOLUME_SIGMA) for _ in range(accounts)]
    risk = [rng.lognormvariate(0.0, RISK_SIGMA) for _ in range(accounts)]
    owners = rng.choices(range(accounts), weights=volume, k=articles)
    world = [Article(f"a{n:05d}", f"biz{owners[n]:04d}", rng.uniform(0, days * DAY)) for n in range(articles)]
    world.sort(key=lambda a: a.published)
    by_account: dict[str, list[Article]] = {}
    for article in world:
        by_account.setdefault(article.account, []).append(article)
    removals = round(articles * 0.10)
    want = {cause: round(removals * share) for cause, (share, _) in CAUSE_SHARES.items()}

    def remove(article: Article, at: float, cause: str) -> None:
        article.removed_at, article.cause = at, cause

    # Blocked accounts: every article the account published goes within the same hour.
    weights = {f"biz{n:04d}": risk[n] for n in range(accounts)}
    blocked = 0
    while blocked < want["account_blocked"]:
        account = rng.choices(list(weights), weights=list(weights.values()))[0]
        owned = by_account.get(account, [])
        if not owned or any(a.removed_at is not None for a in owned):
            continue
        moment = owned[-1].published + removal_delay(rng)
        for article in owned:
            remove(article, moment + rng.uniform(0, HOUR), "account_blocked")
        blocked += len(owned)
    # Censorship: articles drawn by their account's risk; a censor often takes several of an
    # account's recent articles within the hour.
    alive = [a for a in world if a.removed_at is None]
    censored = 0
    while censored < want["censored"]:
        article = rng.choices(alive, weights=[weights[a.account] for a in alive])[0]
        if article.removed_at is not None:
            continue
        moment = article.published + removal_delay(rng)
        remove(article, moment, "censored")
        censored += 1
        for other in by_account[article.account]:
            if censored >= want["censored"] or rng.random() > 0.5:
                continue
            if other.removed_at is None and moment - 3 * DAY <= other.published < moment:
                remove(other, moment + rng.uniform(0, HOUR), "censored")
                censored += 1
    for cause in ("complaint", "account_migrated", "author_deleted"):
        done = 0
        while done < want[cause]:
            article = rng.choice(world)
            if article.removed_at is None:
                remove(article, article.published + removal_delay(rng), cause)
                done += 1
    # Edits: a third of the removed articles change shortly before they go (the last text the
    # archive must have caught), a tenth of the others within their first three days.
    for article in world:
        if article.removed_at is not None and rng.random() < 1 / 3:
            life = article.removed_at - article.published
            article.edits.append(article.published + life * rng.uniform(0.5, 0.95))
        elif article.removed_at is None and rng.random() < 0.1:
            article.edits.append(article.published + rng.uniform(0, 3 * DAY))
    return world


def url_of(article: Article) -> str:
    """The article's WeChat URL (its account in __biz, as WeChat's own links carry it)."""
    return f"https://mp.weixin.qq.com/s?__biz={article.account}&mid={article.id[1:]}&idx=1"


def newsdiffs_interval(since_change: float) -> float:
    """NewsDiffs' recheck interval by the time since the article last changed."""
    for limit, interval in ((3 * HOUR, 15 * 60), (DAY, HOUR), (7 * DAY, 3 * HOUR), (30 * DAY, 3 * DAY)):
        if since_change < limit:
            return interval
    return 30 * DAY


POLICIES = ("fixed daily", "adaptive (before)", "NewsDiffs", "diffengine", "new")


def simulate(
    policy_name: str,
    articles: int,
    days: float,
    tail_days: float,
    budget: int,
    seed: int,
    age_curve: dict[str, str] | None = None,
) -> dict:
    """Run one policy over the world on a real archive with a simulated hourly clock; its figures."""
    world = build_world(articles, days, seed)
    by_id = {a.id: a for a in world}
    new = policy_name == "new"
    schedule: dict = {"max_fetches_per_hour": budget}
    if age_curve is not None:
        schedule["age_curve"] = age_curve
    settings = load_settings(environ={}, overrides={"schedule": schedule})
    configured = settings.schedule.policy()
    before = RevisitPolicy(**{**configured.__dict__, "age_curve": ()})
    started = time.perf_counter()
    fetches = 0
    seen_version: dict[str, int] = {}
    last_change: dict[str, float] = {}
    detected: dict[str, float] = {}
    last_alive_version: dict[str, int] = {}
    # Where the fetches went: by the article's age, and visits to articles already seen removed.
    spent = {"age < 1d": 0, "1-3d": 0, "3-7d": 0, "> 7d": 0, "already seen removed": 0}
    # In memory-backed storage where there is one: the archive is real SQLite, its fsyncs are not the question.
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as folder:
        store = Store.in_archive(Path(folder))
        run_id = store.start_run("cron", 0)
        published = 0
        end = (days + tail_days) * DAY
        t = 0.0
        while t <= end:
            now = START + timedelta(seconds=t)
            fresh = []
            while published < len(world) and world[published].published <= t:
                article = world[published]
                fresh.append(
                    {
                        "id": article.id,
                        "url": url_of(article),
                        "fetch_url": url_of(article),
                        "status": "ok",
                        "date": iso(START + timedelta(seconds=article.published)),
                        "base_interval_seconds": round(configured.interval),
                    }
                )
                published += 1
            with store.db.atomic():
                if fresh:
                    store.sync_seeds(fresh, now=iso(now))
                    if new:
                        store.assign_accounts(
                            {row["id"]: account_key(row["url"], settings.schedule.accounts) for row in fresh}
                        )
                if new:
                    chosen = due_seed_ids(store, settings, now, limit=budget)
                else:
                    chosen = store.due_seed_ids(iso(now), limit=budget)
                for seed_id in chosen:
                    article = by_id[seed_id]
                    fetches += 1
                    removed = article.removed_at is not None and article.removed_at <= t
                    days_old = (t - article.published) / DAY
                    if seed_id in detected:
                        spent["already seen removed"] += 1
                    else:
                        spent[
                            "age < 1d"
                            if days_old < 1
                            else "1-3d"
                            if days_old < 3
                            else "3-7d"
                            if days_old < 7
                            else "> 7d"
                        ] += 1
                    cause = notice = None
                    first = False
                    if removed:
                        outcome, cause, notice = "removed", article.cause, NOTICES[article.cause]
                        detected.setdefault(seed_id, t)
                    else:
                        version = article.version_at(t)
                        first = seed_id not in seen_version
                        outcome = "new_version" if first or seen_version[seed_id] != version else "unchanged"
                        if outcome == "new_version":
                            last_change[seed_id] = t
                        seen_version[seed_id] = version
                        last_alive_version[seed_id] = version
                    age = t - article.published
                    state = store.due_state(seed_id, configured.interval)
                    if policy_name == "fixed daily":
                        due = DueState(state.base_interval, DAY, 0, iso(now + timedelta(days=1)))
                    elif policy_name == "NewsDiffs":
                        wait = newsdiffs_interval(t - last_change.get(seed_id, article.published))
                        due = DueState(state.base_interval, wait, 0, iso(now + timedelta(seconds=wait)))
                    elif policy_name == "diffengine":
                        wait = max(0.2 * age, 60.0)
                        due = DueState(state.base_interval, wait, 0, iso(now + timedelta(seconds=wait)))
                    else:
                        published_at = (
                            publication_time(iso(START + timedelta(seconds=article.published)), None, None)
                            if new
                            else None
                        )
                        due = next_state(
                            outcome,
                            state,
                            configured if new else before,
                            now,
                            first_version=first,
                            published_at=published_at,
                        )
                    store.record_capture(
                        CaptureRecord(
                            run_id, seed_id, url_of(article), outcome, fetched_at=iso(now), cause=cause, notice=notice
                        ),
                        due=due,
                    )
            t += HOUR
        store.close()
    latencies, last_text = [], 0
    removed = [a for a in world if a.removed_at is not None and a.removed_at <= end]
    for article in removed:
        seen = detected.get(article.id)
        latencies.append((seen if seen is not None else end) - article.removed_at)
        if last_alive_version.get(article.id) == article.version_at(article.removed_at - 1e-6):
            last_text += 1
    latencies.sort()
    by_cause: dict[str, list[float]] = {}
    for article in removed:
        seen = detected.get(article.id)
        by_cause.setdefault(article.cause, []).append((seen if seen is not None else end) - article.removed_at)
    return {
        "policy": policy_name,
        "removals": len(removed),
        "undetected": sum(1 for a in removed if a.id not in detected),
        "median_h": statistics.median(latencies) / HOUR,
        "p90_h": latencies[min(len(latencies) - 1, math.ceil(0.9 * len(latencies)) - 1)] / HOUR,
        "last_text_share": last_text / len(removed),
        "fetches": fetches,
        "fetches_by_age": spent,
        "median_h_by_cause": {c: statistics.median(v) / HOUR for c, v in sorted(by_cause.items())},
        "seconds": time.perf_counter() - started,
    }


def world_figures(articles: int, days: float, seed: int) -> dict:
    """What the generated world looks like, to check it against the figures it is drawn from."""
    world = build_world(articles, days, seed)
    removed = [a for a in world if a.removed_at is not None]
    causes: dict[str, int] = {}
    for article in removed:
        causes[article.cause] = causes.get(article.cause, 0) + 1
    violations: dict[str, int] = {}
    for article in removed:
        if article.cause == "censored":
            violations[article.account] = violations.get(article.account, 0) + 1
    # Of the accounts with censored articles, the tenth with the most.
    top = sorted(violations.values(), reverse=True)[: max(len(violations) // 10, 1)]
    days_after = [0, 0, 0, 0]
    for article in removed:
        days_after[min(int((article.removed_at - article.published) // DAY), 3)] += 1
    return {
        "articles": len(world),
        "removed": len(removed),
        "causes": causes,
        "top_tenth_of_censored_accounts_share": sum(top) / max(sum(violations.values()), 1),
        "removed_on_day_0_1_2_later": [round(n / len(removed), 3) for n in days_after],
        "removed_edited_before": round(sum(1 for a in removed if a.edits) / len(removed), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=30.0, help="publication period")
    parser.add_argument("--tail-days", type=float, default=7.0, help="the clock runs on this long after it")
    parser.add_argument(
        "--budget",
        type=int,
        help="fetches per hour, the same for every policy (default: articles / 24, what visiting every article once a day needs at the end)",
    )
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--policies", default=",".join(POLICIES), help="comma-separated subset")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--age-curve",
        type=json.loads,
        help="the new scheduler's schedule.age_curve as JSON "
        '(default: the configuration\'s default), e.g. \'{"0h": "1h", "72h": "1h", "7d": "1d"}\'',
    )
    args = parser.parse_args()
    wanted = [p.strip() for p in args.policies.split(",") if p.strip()]
    args.budget = args.budget or math.ceil(args.articles / 24)
    figures = world_figures(args.articles, args.days, args.seed)
    print(json.dumps(figures, ensure_ascii=False), file=sys.stderr)
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(
            pool.map(
                simulate,
                wanted,
                *zip(
                    *[(args.articles, args.days, args.tail_days, args.budget, args.seed, args.age_curve)] * len(wanted)
                ),
            )
        )
    if args.json:
        print(json.dumps({"world": figures, "results": results}, ensure_ascii=False, indent=2))
        return
    print(
        f"{args.articles} articles over {args.days:g} days (+{args.tail_days:g}), budget {args.budget} fetches/hour, "
        f"{results[0]['removals']} removals"
    )
    print(f"{'policy':<20}{'median h':>10}{'p90 h':>10}{'last text':>11}{'undetected':>12}{'fetches':>10}{'s':>7}")
    for r in results:
        print(
            f"{r['policy']:<20}{r['median_h']:>10.2f}{r['p90_h']:>10.2f}{r['last_text_share']:>11.1%}"
            f"{r['undetected']:>12}{r['fetches']:>10}{r['seconds']:>7.0f}"
        )
    others = [r for r in results if r["policy"] != "new"]
    mine = next((r for r in results if r["policy"] == "new"), None)
    if mine and others:
        best = min(others, key=lambda r: r["median_h"])
        ratio = mine["median_h"] / best["median_h"] if best["median_h"] else float("inf")
        print(
            f"new / best other ({best['policy']}) median latency: {ratio:.2f}; last text "
            f"{mine['last_text_share']:.1%} vs {max(r['last_text_share'] for r in others):.1%} (best other)"
        )


if __name__ == "__main__":
    main()
