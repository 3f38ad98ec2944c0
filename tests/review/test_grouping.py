"""Similar unanswered messages are grouped together, largest group first."""

from review.grouping import group_similar


def members_as_texts(texts, groups):
    return [sorted(texts[i] for i in group.members) for group in groups]


def test_messages_that_say_the_same_thing_are_grouped() -> None:
    texts = [
        "do you accept medicare",
        "is parking available near the office",
        "do you take medicare?",
        "Do you accept Medicare insurance",
        "where can I park",
    ]
    groups = group_similar(texts)

    assert sorted(texts[i] for i in groups[0].members) == sorted(
        ["do you accept medicare", "do you take medicare?", "Do you accept Medicare insurance"]
    )
    assert all("medicare" not in texts[i].lower() for group in groups[1:] for i in group.members)


def test_every_message_is_in_exactly_one_group() -> None:
    texts = ["blorf zzz", "blorf zzzz", "qwxv plokt", "hello there", "hello there!", "what is IFS"]
    groups = group_similar(texts)

    members = sorted(i for group in groups for i in group.members)
    assert members == list(range(len(texts)))


def test_misspellings_land_in_the_same_group() -> None:
    groups = group_similar(["how much does ketamine cost", "how much dose ketamin cost", "tell me about dogs"])
    assert sorted(groups[0].members) == [0, 1]


def test_the_largest_group_comes_first_and_its_representative_is_a_member() -> None:
    texts = ["unrelated question about dogs", "insurance?", "do you take insurance", "insurance accepted?"]
    groups = group_similar(texts)

    assert [len(group.members) for group in groups] == sorted((len(group.members) for group in groups), reverse=True)
    assert all(group.representative in group.members for group in groups)


def test_no_messages_make_no_groups_and_one_message_one_group() -> None:
    assert group_similar([]) == []
    [group] = group_similar(["only one"])
    assert group.members == [0] and group.representative == 0


def test_empty_and_blank_messages_do_not_break_grouping() -> None:
    groups = group_similar(["", "   ", "hello"])
    assert sorted(i for group in groups for i in group.members) == [0, 1, 2]
