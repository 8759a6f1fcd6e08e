"""Pure offer rules: campaign specs, schedule, audience, holdout, ranking, codes,
discounts and the lift interval."""

from __future__ import annotations

import doctest
import importlib
import uuid
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import ClassVar

import pytest

from geoengine.errors import InvalidInputError, OfferCodeRejectedError
from geoengine.offer_codes import (
    BasketLine,
    CodeClaims,
    device_digest,
    offer_discount,
    sign_code,
    verify_code,
)
from geoengine.offer_report import newcombe_difference, wilson
from geoengine.offers import (
    Audience,
    CampaignSet,
    CustomerFacts,
    CustomerKind,
    FenceFacts,
    Reward,
    RewardKind,
    Schedule,
    Trigger,
    campaign_from_spec,
    evaluate_triggers,
    in_holdout,
    in_schedule,
    matches_audience,
)
from geoengine.types import EventKind


@pytest.mark.parametrize(
    "name", ["geoengine.offers", "geoengine.offer_codes", "geoengine.offer_report"]
)
def test_docstring_examples(name) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0


def spec(**over) -> dict:
    base = {
        "name": "C",
        "trigger": "enter",
        "target": {"tag": "store"},
        "reward": {"kind": "fixed", "amount_minor": 300, "currency": "USD"},
    }
    return base | over


def ts(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


class TestCampaignFromSpec:
    @pytest.mark.parametrize(
        ("over", "field"),
        [
            ({"name": ""}, "name"),
            ({"trigger": "exit"}, "trigger"),
            ({"target": {}}, "target"),
            (
                {"target": {"near_store": {"tag": "x", "within_m": 0}}},
                "target.near_store",
            ),
            ({"schedule": {"days": ["funday"]}}, "schedule.days"),
            ({"schedule": {"timezone": "Nowhere/City"}}, "schedule.timezone"),
            (
                {"reward": {"kind": "fixed", "amount_minor": 0, "currency": "USD"}},
                "reward.amount_minor",
            ),
            (
                {"reward": {"kind": "percent", "percent": "0", "currency": "USD"}},
                "reward.percent",
            ),
            (
                {"reward": {"kind": "fixed", "amount_minor": 1, "currency": "usd"}},
                "reward.currency",
            ),
            (
                {
                    "reward": {"kind": "percent", "percent": "5", "currency": "USD"},
                    "limits": {"budget_minor": 10},
                },
                "reward.max_discount_minor",
            ),
            ({"limits": {"per_device_per_day": 0}}, "limits.per_device_per_day"),
            ({"holdout_share": 0.7}, "holdout_share"),
        ],
    )
    def test_errors_name_the_field(self, over, field) -> None:
        with pytest.raises(InvalidInputError) as err:
            campaign_from_spec("c", spec(**over))
        assert err.value.field == field

    def test_explicit_null_cap_means_no_cap(self) -> None:
        c = campaign_from_spec("c", spec(limits={"per_device_per_day": None}))
        assert c.limits.per_device_per_day is None
        assert campaign_from_spec("c", spec()).limits.per_device_per_day == 1


class TestSchedule:
    S = Schedule(
        hour_start=time(9),
        hour_end=time(17),
        days=frozenset({0, 1, 2, 3, 4}),
        timezone="America/New_York",
    )

    @pytest.mark.parametrize(
        ("when", "tz", "expected"),
        [
            (ts(2026, 11, 23, 14, 0), None, True),  # Mon 09:00 New York
            (ts(2026, 11, 23, 13, 59), None, False),  # 08:59
            (ts(2026, 11, 23, 22, 0), None, False),  # 17:00 (end excluded)
            (ts(2026, 11, 28, 15, 0), None, False),  # Saturday
            (ts(2026, 11, 23, 17, 0), "America/Los_Angeles", True),  # 09:00 LA store
            (ts(2026, 11, 23, 16, 0), "America/Los_Angeles", False),
        ],
    )
    def test_local_hours_and_days_in_the_store_zone(self, when, tz, expected) -> None:
        assert in_schedule(self.S, when, tz) is expected

    def test_hours_across_midnight_belong_to_the_start_day(self) -> None:
        late = Schedule(hour_start=time(22), hour_end=time(2), days=frozenset({4}))
        assert in_schedule(late, ts(2026, 11, 27, 23, 0))  # Friday 23:00
        assert in_schedule(late, ts(2026, 11, 28, 1, 0))  # Saturday 01:00: Friday's
        assert not in_schedule(late, ts(2026, 11, 29, 1, 0))  # Sunday 01:00
        assert not in_schedule(late, ts(2026, 11, 27, 12, 0))

    def test_dates(self) -> None:
        s = Schedule(
            starts_at=datetime(2026, 12, 1, tzinfo=UTC),
            ends_at=datetime(2026, 12, 2, tzinfo=UTC),
        )
        assert not in_schedule(s, ts(2026, 11, 30, 23, 59))
        assert in_schedule(s, ts(2026, 12, 1, 0, 0))
        assert not in_schedule(s, ts(2026, 12, 2, 0, 0))


class TestAudience:
    NOW = ts(2026, 11, 23)
    REGULAR = CustomerFacts("c1", "gold", 3, {"USD": 50_000}, ts(2026, 11, 20))

    @pytest.mark.parametrize(
        ("rule", "facts", "ok"),
        [
            (Audience(segments=frozenset({"gold"})), REGULAR, True),
            (Audience(segments=frozenset({"silver"})), REGULAR, False),
            (Audience(customer=CustomerKind.FIRST_TIME), REGULAR, False),
            (Audience(customer=CustomerKind.FIRST_TIME), CustomerFacts(None), True),
            (Audience(customer=CustomerKind.RETURNING), CustomerFacts(None), False),
            (Audience(min_lifetime_spend_minor=50_000), REGULAR, True),
            (Audience(min_lifetime_spend_minor=50_001), REGULAR, False),
            (Audience(max_lifetime_spend_minor=10_000), REGULAR, False),
            (Audience(last_order_within_days=2), REGULAR, False),
            (Audience(last_order_within_days=3), REGULAR, True),
            (Audience(last_order_older_than_days=30), REGULAR, False),
            (Audience(last_order_older_than_days=30), CustomerFacts(None), True),
        ],
    )
    def test_rules(self, rule, facts, ok) -> None:
        assert matches_audience(rule, facts, "USD", self.NOW) is ok

    def test_spend_is_per_currency(self) -> None:
        rule = Audience(min_lifetime_spend_minor=1)
        assert not matches_audience(rule, self.REGULAR, "EUR", self.NOW)


def test_holdout_is_deterministic_and_near_its_share() -> None:
    picks = [in_holdout("camp", f"d{i}", 0.1) for i in range(20_000)]
    assert picks == [in_holdout("camp", f"d{i}", 0.1) for i in range(20_000)]
    assert 0.09 < sum(picks) / len(picks) < 0.11
    # another campaign draws another group
    other = [in_holdout("camp2", f"d{i}", 0.1) for i in range(20_000)]
    assert picks != other


class TestEvaluate:
    FENCES: ClassVar = {
        1: FenceFacts(1, "store", 100.0),
        2: FenceFacts(2, "cafe", 40.0),
    }

    def trig(self, **over) -> Trigger:
        base = {
            "row": 0,
            "device_id": "d",
            "fence_id": 1,
            "kind": EventKind.ENTER,
            "ts_s": ts(2026, 11, 23, 12),
            "accuracy_m": 10.0,
            "flags": frozenset(),
            "marketing": True,
        }
        return Trigger(**(base | over))

    def test_best_reward_first_and_one_group_per_trigger(self) -> None:
        small = campaign_from_spec("a", spec())
        big = campaign_from_spec(
            "b", spec(reward={"kind": "fixed", "amount_minor": 900, "currency": "USD"})
        )
        dwell = campaign_from_spec("c", spec(trigger="dwell"))
        cs = CampaignSet.build([small, big, dwell])
        decisions, cands = evaluate_triggers([self.trig()], cs, self.FENCES, {})
        assert decisions == []
        assert [(c.campaign.campaign_id, c.group) for c in cands] == [
            ("b", 0),
            ("a", 0),
        ]

    @pytest.mark.parametrize(
        ("over", "reason"),
        [
            ({"accuracy_m": 50.1}, "inaccurate"),
            ({"accuracy_m": float("nan")}, "inaccurate"),
            ({"flags": frozenset({"jumped"})}, "untrusted_position"),
            ({"flags": frozenset({"mocked"})}, "untrusted_position"),
            ({"flags": frozenset({"ip_gps_conflict"})}, "untrusted_position"),
            ({"marketing": False}, "no_marketing_consent"),
        ],
    )
    def test_suppressions(self, over, reason) -> None:
        cs = CampaignSet.build([campaign_from_spec("a", spec())])
        decisions, cands = evaluate_triggers([self.trig(**over)], cs, self.FENCES, {})
        assert cands == [] and [d.outcome for d in decisions] == [reason]

    def test_near_store_uses_the_store_size_and_distance(self) -> None:
        near = campaign_from_spec(
            "n", spec(target={"near_store": {"tag": "cafe", "within_m": 150}})
        )
        cs = CampaignSet.build([near])
        close = self.trig(stores=((2, 120.0),), accuracy_m=15.0)
        far = self.trig(stores=((2, 160.0),))
        blurry = self.trig(stores=((2, 10.0),), accuracy_m=25.0)  # > 40 / 2
        decisions, cands = evaluate_triggers([close, far, blurry], cs, self.FENCES, {})
        assert [c.store_id for c in cands] == [2]
        assert [d.outcome for d in decisions] == ["inaccurate"]


class TestCodes:
    KEY = b"s" * 32
    TENANT = uuid.UUID(int=7)

    def claims(self) -> CodeClaims:
        return CodeClaims(
            1,
            self.TENANT,
            uuid.uuid4(),
            uuid.uuid4(),
            2_000_000_000,
            device_digest("d"),
        )

    def test_round_trip_and_every_tampered_character_fails(self) -> None:
        c = self.claims()
        code = sign_code(self.KEY, c)
        assert verify_code(self.KEY, code, self.TENANT) == c
        for i in range(4, len(code)):
            if code[i] == ".":
                continue
            bad = code[:i] + ("A" if code[i] != "A" else "B") + code[i + 1 :]
            with pytest.raises(OfferCodeRejectedError) as err:
                verify_code(self.KEY, bad, self.TENANT)
            assert err.value.reason in {
                "invalid_signature",
                "malformed",
                "foreign_tenant",
            }

    def test_tampered_unused_bits_of_the_last_character_fail(self) -> None:
        """Every character of the signature, including the last one whose low
        bits base64 ignores, is checked: 'A' and 'B' differ only there."""
        import base64

        for n in range(20):
            code = sign_code(self.KEY, self.claims())
            mac = code.rsplit(".", 1)[1]
            raw = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
            alphabet = (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            )
            last = alphabet.index(mac[-1].encode())
            for other in range(64):
                if other == last:
                    continue
                bad = code[:-1] + chr(alphabet[other])
                padded = bad.rsplit(".", 1)[1]
                same = (
                    base64.urlsafe_b64decode(padded + "=" * (-len(padded) % 4)) == raw
                )
                with pytest.raises(OfferCodeRejectedError) as err:
                    verify_code(self.KEY, bad, self.TENANT)
                assert err.value.reason in {"invalid_signature", "malformed"}, (
                    n,
                    same,
                )

    def test_wrong_key_and_foreign_tenant(self) -> None:
        code = sign_code(self.KEY, self.claims())
        with pytest.raises(OfferCodeRejectedError, match="signature") as err:
            verify_code(b"x" * 32, code, self.TENANT)
        assert err.value.reason == "invalid_signature"
        with pytest.raises(OfferCodeRejectedError) as err:
            verify_code(self.KEY, code, uuid.UUID(int=8))
        assert err.value.reason == "foreign_tenant"


class TestDiscount:
    LINES: ClassVar = [
        BasketLine("a", "X", 1001),
        BasketLine("b", "Y", 1002),
        BasketLine("c", "Z", 997),
    ]

    def test_parts_add_up_exactly(self) -> None:
        r = Reward(RewardKind.FIXED, "USD", amount_minor=1000)
        parts = offer_discount(r, self.LINES)
        assert sum(a for _, a in parts) == 1000

    def test_percent_is_capped_and_eligible_only(self) -> None:
        r = Reward(
            RewardKind.PERCENT,
            "USD",
            Decimal("33.3"),
            max_discount_minor=300,
            eligible_skus=frozenset({"X", "Y"}),
        )
        parts = dict(offer_discount(r, self.LINES))
        assert sum(parts.values()) == 300 and "c" not in parts

    def test_fixed_never_exceeds_the_eligible_amount(self) -> None:
        r = Reward(
            RewardKind.FIXED, "USD", amount_minor=5000, eligible_skus=frozenset({"Z"})
        )
        assert offer_discount(r, self.LINES) == [("c", 997)]

    def test_minimum_basket(self) -> None:
        r = Reward(RewardKind.FIXED, "USD", amount_minor=100, min_basket_minor=3001)
        with pytest.raises(OfferCodeRejectedError) as err:
            offer_discount(r, self.LINES)
        assert err.value.reason == "min_basket_not_met"


class TestLift:
    def test_wilson_and_newcombe_reference_values(self) -> None:
        # Newcombe (1998), table II, example (b): 9/10 vs 3/10 -> 0.6 (0.1705, 0.8090)
        d, ci = newcombe_difference(9, 10, 3, 10)
        assert round(d, 4) == 0.6
        assert (round(ci.low, 4), round(ci.high, 4)) == (0.1705, 0.809)
        w = wilson(81, 263)
        assert (round(w.low, 4), round(w.high, 4)) == (0.2553, 0.3662)

    def test_interval_contains_zero_without_an_effect(self) -> None:
        _, ci = newcombe_difference(10, 100, 10, 100)
        assert ci.low < 0 < ci.high
