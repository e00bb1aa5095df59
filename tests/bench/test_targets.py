"""The benchmarks judge issue 15's targets from what they measured: each verdict follows the
numbers, at the levels the targets name. No test times anything."""

from __future__ import annotations

from bench.inbox import LevelResult, Measured, MemoryRun, Options, SandboxLatency, targets_table
from bench.realtime import AckRun, Delivery, Sent, SubscriberResult, targets

SANDBOX_P99_MS = 40.0


def level(concurrency: int, cpu_ms: float, p99_ms: float) -> LevelResult:
    requests = 100
    return LevelResult(
        concurrency=concurrency,
        requests=requests,
        seconds=1.0,
        latencies_ms=[p99_ms / 2] * 98 + [p99_ms] * 2,
        cost={},
        upstream_per_request=0.0,
        server_cpu_s=cpu_ms * requests / 1000,
        sandbox_cpu_s=0.0,
        client_cpu_s=0.0,
        server_rss_mb=100.0,
        other_cpu_s=0.0,
    )


def measured(
    cold_cpu: float, cold_p99: float, warm_cpu: float, warm_p99: float, rss: list[float]
) -> Measured:
    sandbox = SandboxLatency(round_ms=[SANDBOX_P99_MS / 2] * 98 + [SANDBOX_P99_MS] * 2)
    return Measured(
        sandbox=sandbox,
        cold=[[level(1, cold_cpu, cold_p99), level(4, cold_cpu, cold_p99 * 3)]],
        warm=[[level(1, warm_cpu, warm_p99), level(4, warm_cpu, warm_p99 * 3)]],
        baseline=[[level(1, 21.0, 30.0), level(4, 21.0, 90.0)]],
        baseline_page=None,
        memory=MemoryRun(4, 500, 10_000, rss, 200.0, 200.0),
    )


def verdicts(table: list[str]) -> dict[str, str]:
    rows = [
        line.strip("|").split(" | ") for line in table if line.startswith("| ") and "**" in line
    ]
    return {row[0].strip(): row[-1].strip() for row in rows}


def test_every_inbox_target_is_met_by_numbers_within_it() -> None:
    options = Options(concurrency=(1, 4))
    table = targets_table(options, measured(6.9, 49.0, 2.9, 4.9, [100.0, 103.0, 104.9]))
    assert set(verdicts(table).values()) == {"**met**"}
    assert len(verdicts(table)) == 5


def test_each_inbox_target_misses_on_its_own_number() -> None:
    options = Options(concurrency=(1, 4))
    table = targets_table(options, measured(7.1, 50.5, 3.1, 5.1, [100.0, 120.0, 105.1]))
    assert verdicts(table) == {
        "cold page: server CPU <= 1/3 of the baseline's per page": "**not met**",
        "cold page: p99 <= sandbox p99 + 10 ms at concurrency 1": "**not met**",
        "warm page: server CPU <= 3 ms per page": "**not met**",
        "warm page: p99 <= 5 ms at concurrency 1": "**not met**",
        "RSS flat (within 5%) over 10,000 requests after warm-up": "**not met**",
    }


def test_without_a_concurrency_1_level_the_p99_targets_are_not_judged() -> None:
    options = Options(concurrency=(4, 16))
    table = targets_table(options, measured(6.0, 45.0, 2.0, 4.0, [100.0, 101.0]))
    rows = [line for line in table if "at concurrency 1" in line]
    assert len(rows) == 2 and all(row.endswith("| n/a |") for row in rows)


def ack_run(concurrency: int, p99_ms: float) -> AckRun:
    sent = Sent(1.0, [p99_ms / 2] * 98 + [p99_ms] * 2, {"recorded": 100})
    return AckRun("distinct", concurrency, sent, 0.1, 0.5, 0.5, 0.0)


def subscribers(p99_ms: float, received: int = 1000) -> SubscriberResult:
    delivery = Delivery(0, [p99_ms / 2] * (received - 20) + [p99_ms] * 20, 0.2, 0.1)
    return SubscriberResult(1000, 1000, [], 1.0, 80.0, 90.0, 130.0, 135.0, 1.0, [delivery], 0)


def test_the_ack_is_judged_at_concurrency_8_and_delivery_over_all_subscribers() -> None:
    met = verdicts(targets([ack_run(1, 50.0), ack_run(8, 9.9)], subscribers(99.0)))
    assert set(met.values()) == {"**met**"} and len(met) == 2
    missed = verdicts(targets([ack_run(1, 1.0), ack_run(8, 10.1)], subscribers(101.0)))
    assert set(missed.values()) == {"**not met**"} and len(missed) == 2
    lost = verdicts(targets([ack_run(8, 1.0)], subscribers(50.0, received=999)))
    assert sorted(lost.values()) == ["**met**", "**not met**"]
