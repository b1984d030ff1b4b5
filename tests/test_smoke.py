async def test_given_demo_when_staff_lists_members_then_sees_own_subtree(api):
    data = await api.data("{ members { edges { node { customer { name } } } } }", as_="club_operator")
    assert [e["node"]["customer"]["name"] for e in data["members"]["edges"]] == ["Li Wei", "Wang Fang"]
