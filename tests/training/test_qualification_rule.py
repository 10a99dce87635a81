"""The validity rule of a training, without a database (lims.training.standing): half-open
[trained_on, ends_on), ending at its expiry or when a later SOP version has been in effect for
that version's grace period. Dates worked by hand below."""

from datetime import date

from lims.training import SopVersion, Training, standing, training_ends

V1 = SopVersion(1, date(2026, 1, 1), 30)
V2 = SopVersion(2, date(2026, 6, 1), 30)  # 2026-06-01 + 30 days = 2026-07-01


def test_training_ends_at_expiry_when_no_later_version():
    ends, why = training_ends(Training(1, date(2026, 1, 10), date(2027, 1, 10)), [V1])
    assert ends == date(2027, 1, 10)
    assert why == "expired on 2027-01-10"


def test_a_new_version_lapses_earlier_training_after_its_grace_period():
    ends, why = training_ends(Training(1, date(2026, 1, 10), date(2027, 1, 10)), [V1, V2])
    assert ends == date(2026, 7, 1)
    assert "30 days after v2 took effect on 2026-06-01" in why


def test_within_the_grace_period_the_old_training_still_counts():
    trainings = [Training(1, date(2026, 1, 10), date(2027, 1, 10))]
    assert standing("SOP-X", trainings, [V1, V2], date(2026, 6, 30)).qualified
    lapsed = standing("SOP-X", trainings, [V1, V2], date(2026, 7, 1))
    assert lapsed.state == "lapsed"
    assert lapsed.reason.startswith("Training on SOP-X v1 lapsed on 2026-07-01")


def test_training_on_the_new_version_counts_and_expiry_soon_is_flagged():
    trainings = [
        Training(1, date(2026, 1, 10), date(2027, 1, 10)),
        Training(2, date(2026, 6, 15), date(2026, 8, 1)),
    ]
    found = standing("SOP-X", trainings, [V1, V2], date(2026, 7, 15))
    assert found.state == "expiring"  # 17 days before 2026-08-01, within 30
    assert found.ends_on == date(2026, 8, 1)


def test_training_not_yet_given_and_never_given():
    assert (
        standing(
            "SOP-X", [Training(1, date(2026, 3, 1), date(2027, 3, 1))], [V1], date(2026, 2, 1)
        ).state
        == "untrained"
    )
    assert standing("SOP-X", [], [V1], date(2026, 2, 1)).reason == "Not trained on SOP-X."
    assert standing("SOP-Y", [], [], date(2026, 2, 1)).reason == "SOP SOP-Y has no issued version."
