"""A documented demo data set: branches, clubs, staff of every role, customers, accounts, members.

Every demo login uses the password `demo-password`. Loading is idempotent: it does nothing
when the HQ branch exists already. Tests use the same data set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import clock
from domain.access import StaffPrincipal
from domain.cards import lifecycle, stock
from domain.customers import service as customers
from domain.customers.tables import CustomerKind, IdDocumentType
from domain.grades import rules as grade_rules
from domain.grades.tables import GradeRule
from domain.members import service as members
from domain.organisation import outlets
from domain.organisation import service as organisation
from domain.organisation.tables import Branch, StaffRole
from domain.partners import registry
from domain.points import ledger, rules
from domain.points.tables import EntryType, PointsRule, RuleKind
from domain.redemption import catalogue
from domain.redemption import stock as gift_stock
from domain.redemption.tables import ConsumptionRule, RewardKind
from domain.work.unit import UnitOfWork

DEMO_PASSWORD = "demo-password"

BRANCHES = [  # code, name, parent
    ("HQ", "Headquarters", None),
    ("GD", "Guangdong Branch", "HQ"),
    ("SZ", "Shenzhen Branch", "GD"),
    ("BJ", "Beijing Branch", "HQ"),
]
STAFF = [  # username, role, branch, the name members and colleagues see
    ("admin", StaffRole.ADMINISTRATOR, "HQ", "Zhou Jian"),
    ("gd.admin", StaffRole.ADMINISTRATOR, "GD", "Huang Lei"),
    ("gd.operator", StaffRole.CLUB_OPERATOR, "GD", "Chen Jing"),
    ("gd.manager", StaffRole.CUSTOMER_MANAGER, "GD", "Lin Xiaoyan"),
    ("gd.agent", StaffRole.AGENT, "GD", "Guo Peng"),
    ("gd.clerk", StaffRole.SETTLEMENT_CLERK, "GD", "He Yu"),
    ("gd.auditor", StaffRole.AUDITOR, "GD", "Luo Min"),
    ("bj.operator", StaffRole.CLUB_OPERATOR, "BJ", "Sun Hao"),
    ("bj.admin", StaffRole.ADMINISTRATOR, "BJ", "Ma Li"),
]
CLUBS = [("GD-CLUB", "GD", "Guangdong Club"), ("SZ-CLUB", "SZ", "Shenzhen Club"), ("BJ-CLUB", "BJ", "Beijing Club")]
MEMBERS = [  # name, id number, branch, club, grade, account, subscriber number
    ("Li Wei", "440101198001010011", "GD", "GD-CLUB", "DIAMOND", "80000001", "13800000001"),
    ("Wang Fang", "440301198502020022", "SZ", "SZ-CLUB", "EMERALD", "80000002", "13800000002"),
    ("Zhang Min", "110101199003030033", "BJ", "BJ-CLUB", "SAPPHIRE", "80000003", "13900000003"),
]
# Card stock: 50 cards of each type at HQ and at GD; Li Wei holds a card (PIN 246810).
CARD_BATCHES = [  # branch, card type, first number
    ("HQ", "DIAMOND", 6210000000000001),
    ("HQ", "EMERALD", 6220000000000001),
    ("HQ", "SAPPHIRE", 6230000000000001),
    ("GD", "DIAMOND", 6211000000000001),
    ("GD", "EMERALD", 6221000000000001),
    ("GD", "SAPPHIRE", 6231000000000001),
]
CARDS_PER_BATCH = 50
DEMO_PIN = "246810"
MEMBER_CARDS = {"Li Wei": "6211000000000001"}  # Wang Fang and Zhang Min have none yet
PROSPECT = "Pearl River Trading Co."  # a GD customer who is not (yet) a member
PARTNERS = [("SKY-MILES", "Sky Airlines Miles", "HQ"), ("GD-MALL", "Guangdong Online Mall", "GD")]
OUTLETS = [("GD-COUNTER", "Guangzhou service hall", "GD"), ("SZ-POS", "Shenzhen mall POS", "SZ"),
           ("BJ-POS", "Beijing airport POS", "BJ")]  # fmt: skip
REWARDS = [  # code, name, kind, points, branch, grades, benefit, content, daily, monthly
    ("BILL-10", "10 yuan of bill credit", "BILL_CREDIT", 1_000, "HQ", None, 1_000, None, None, 5),
    ("MIN-60", "60 call minutes", "CALL_MINUTES", 500, "HQ", None, 60, None, None, None),
    ("MUSIC-MONTH", "A month of music", "CONTENT", 300, "HQ", None, None, "MUSIC-MONTH", None, None),
    ("GD-UMBRELLA", "Club umbrella", "GIFT", 800, "GD", ["DIAMOND", "EMERALD"], None, None, 1, None),
]
GIFT_STOCK = [("GD-UMBRELLA", "GD", 20), ("GD-UMBRELLA", "SZ", 5)]  # reward, branch, quantity


@dataclass
class Demo:
    """Database ids of the demo rows, by code, username or customer name."""

    branches: dict[str, int] = field(default_factory=dict)
    staff: dict[str, int] = field(default_factory=dict)
    clubs: dict[str, int] = field(default_factory=dict)
    customers: dict[str, int] = field(default_factory=dict)
    members: dict[str, int] = field(default_factory=dict)
    member_numbers: dict[str, str] = field(default_factory=dict)
    partners: dict[str, int] = field(default_factory=dict)
    cards: dict[str, str] = field(default_factory=dict)  # member name → card number
    outlets: dict[str, int] = field(default_factory=dict)
    rewards: dict[str, int] = field(default_factory=dict)


async def load_demo(session: AsyncSession) -> Demo | None:
    """Create the demo data set in the session's transaction; None when it exists already."""
    if await session.scalar(sa.select(Branch.id).where(Branch.code == "HQ")) is not None:
        return None
    demo = Demo()
    for code, name, parent in BRANCHES:
        demo.branches[code] = (await organisation.create_branch(session, code=code, name=name, parent_code=parent)).id
    for username, role, branch, display_name in STAFF:
        staff = await organisation.create_staff(
            session,
            username=username,
            display_name=display_name,
            role=role.value,
            branch_code=branch,
            password=DEMO_PASSWORD,
        )
        demo.staff[username] = staff.id
    hq_branch = await session.get(Branch, demo.branches["HQ"])
    hq = StaffPrincipal(demo.staff["admin"], StaffRole.ADMINISTRATOR, hq_branch.id, hq_branch.path, session_id=0)
    as_hq = UnitOfWork.joining(session, hq)
    for code, branch, name in CLUBS:
        club = organisation.CreateClub(
            branch_id=demo.branches[branch], code=code, category="Major customers", name=name
        )
        demo.clubs[code] = (await organisation.create_club(as_hq, club)).id
    for name, id_number, branch, club, grade, account_number, line in MEMBERS:
        await _demo_member(as_hq, demo, name, id_number, branch, club, grade, account_number, line)
    prospect = customers.CreateCustomer(
        branch_id=demo.branches["GD"],
        kind=CustomerKind.ENTERPRISE,
        name=PROSPECT,
        id_document_type=IdDocumentType.BUSINESS_LICENCE,
        id_document_number="91440000MA5XXXXX01",
        industry="Trade",
    )
    demo.customers[PROSPECT] = (await customers.create_customer(as_hq, prospect)).id
    for code, name, branch in PARTNERS:
        demo.partners[code] = (
            await registry.create_partner_by_code(session, code=code, name=name, branch_code=branch)
        ).id
    await _demo_cards(session, demo, hq)
    await _demo_points(session, demo, hq)
    await _demo_redemption(session, demo, hq)
    await _demo_grades(session, demo)
    return demo


# The founding national grade rules [G3]: (grade, alternative sets), over the last 12 whole months.
GRADE_RULES = [
    ("DIAMOND", [{"months_in_network": 24, "arpu_fen": 30_000}, {"importance": "VIP"}]),
    ("EMERALD", [{"months_in_network": 12, "arpu_fen": 15_000}]),
    ("SAPPHIRE", [{"months_in_network": 6, "arpu_fen": 5_000}]),
]


async def _demo_grades(session: AsyncSession, demo: Demo) -> None:
    """The founding national grade rules, from 2000 on."""
    for grade, alternatives in GRADE_RULES:
        rule = GradeRule(grade_code=grade, branch_id=demo.branches["HQ"], window_months=12,
                         alternatives=alternatives, effective_from=date(2000, 1, 1))  # fmt: skip
        await grade_rules.establish_grade_rule(session, rule)


async def _demo_redemption(session: AsyncSession, demo: Demo, hq: StaffPrincipal) -> None:
    """Outlets, a founding consumption rule (every grade, every reward), four rewards, and gift stock."""
    as_hq = UnitOfWork.joining(session, hq)
    for code, name, branch in OUTLETS:
        outlet = outlets.CreateOutlet(branch_id=demo.branches[branch], code=code, name=name)
        demo.outlets[code] = (await outlets.create_outlet(as_hq, outlet)).id
    await catalogue.establish_consumption_rule(session, ConsumptionRule(effective_from=date(2000, 1, 1)))
    grades = ["DIAMOND", "EMERALD", "SAPPHIRE"]
    for code, name, kind, price, branch, allowed, benefit, content, daily, monthly in REWARDS:
        item = catalogue.CreateRewardItem(
            branch_id=demo.branches[branch], code=code, name=name, kind=RewardKind(kind), points_price=price,
            grade_codes=allowed or grades, available_from=date(2000, 1, 1), benefit_amount=benefit,
            content_code=content, daily_limit=daily, monthly_limit=monthly,
        )  # fmt: skip
        created = await catalogue.create_reward_item(as_hq, item)
        await catalogue.activate_reward_item(as_hq, catalogue.ActivateRewardItem(id=created.id))
        demo.rewards[code] = created.id
    for code, branch, quantity in GIFT_STOCK:
        received = gift_stock.ReceiveGiftStock(item_id=demo.rewards[code], branch_id=demo.branches[branch],
                                               quantity=quantity, reason="Opening stock")  # fmt: skip
        await gift_stock.receive_gift_stock(as_hq, received)


DEMO_RULES = [  # kind, grade, value
    ("POINTS_PER_YUAN", None, 1),
    ("GRADE_MULTIPLIER", "DIAMOND", "1.5"),
    ("GRADE_MULTIPLIER", "EMERALD", "1.2"),
    ("GRADE_MULTIPLIER", "SAPPHIRE", 1),
    ("TENURE_BONUS_PER_YEAR", None, 5),
    ("ON_TIME_BONUS", None, 10),
    ("LATE_PENALTY_PERCENT", None, 5),
    ("EXPIRY_YEAR_END_AFTER_YEARS", None, 1),
]
DEMO_POINTS = [  # member, entry type, points, effective on
    ("Li Wei", "BONUS_PROMOTION", 1_200, date(2025, 6, 1)),
    ("Li Wei", "BONUS_ACTIVITY", 300, date(2026, 3, 1)),
    ("Wang Fang", "BONUS_PROMOTION", 500, date(2026, 2, 1)),
]


async def _demo_points(session: AsyncSession, demo: Demo, hq: StaffPrincipal) -> None:
    """Points rules in force since 2000, and a little history (Li Wei's 2025 points end 2026-12-31)."""
    for kind, grade, value in DEMO_RULES:
        rule = PointsRule(kind=RuleKind(kind), grade_code=grade, value=value, effective_from=date(2000, 1, 1))
        await rules.establish(session, rule, hq.staff_id)
    for name, entry_type, points, effective_on in DEMO_POINTS:
        await ledger.record(
            session,
            member_id=demo.members[name],
            entry_type=EntryType(entry_type),
            points=points,
            effective_on=effective_on,
            reason="Welcome campaign",
            staff_id=hq.staff_id,
        )


async def _demo_cards(session: AsyncSession, demo: Demo, hq: StaffPrincipal) -> None:
    gd_branch = await session.get(Branch, demo.branches["GD"])
    gd = StaffPrincipal(demo.staff["gd.operator"], StaffRole.CLUB_OPERATOR, gd_branch.id, gd_branch.path, session_id=0)
    valid_until = date(clock.today().year + 5, 12, 31)
    as_hq, as_gd = UnitOfWork.joining(session, hq), UnitOfWork.joining(session, gd)
    for branch, card_type, first in CARD_BATCHES:
        batch = stock.ReceiveCardBatch(
            card_type=card_type,
            valid_until=valid_until,
            number_from=str(first),
            number_to=str(first + CARDS_PER_BATCH - 1),
            source="Demo card maker",
        )
        await stock.receive_batch(as_hq if branch == "HQ" else as_gd, batch)
    issue = stock.IssueCards(
        to_club_id=demo.clubs["GD-CLUB"],
        received_by="Club desk",
        number_from="6211000000000011",
        number_to="6211000000000020",
    )
    await stock.issue_cards(as_gd, issue)
    for name, number in MEMBER_CARDS.items():
        hand_over = lifecycle.HandOverCard(
            member_id=demo.members[name],
            card_number=number,
            receiver_id_number="self",
            receiver_phone="13800000000",
            pin=DEMO_PIN,
        )
        await lifecycle.hand_over(as_hq, hand_over)
        demo.cards[name] = number


async def _demo_member(as_hq, demo, name, id_number, branch, club, grade, account_number, line) -> None:
    new_customer = customers.CreateCustomer(
        branch_id=demo.branches[branch],
        kind=CustomerKind.INDIVIDUAL,
        name=name,
        id_document_type=IdDocumentType.ID_CARD,
        id_document_number=id_number,
        phone=line,
    )
    customer = await customers.create_customer(as_hq, new_customer)
    account = customers.CreateAccount(
        customer_id=customer.id,
        account_number=account_number,
        credit_limit_fen=50_000,
        opened_on=date(2015, 1, 1),
        subscriber_numbers=[line],
    )
    await customers.create_account(as_hq, account)
    joining = members.CreateMember(
        customer_id=customer.id,
        club_id=demo.clubs[club],
        grade_code=grade,
        joined_on=date(2024, 1, 1),
        valid_until=date(2030, 12, 31),
        password=DEMO_PASSWORD,
        interests=["travel"],
    )
    member = await members.create_member(as_hq, joining)
    demo.customers[name] = customer.id
    demo.members[name] = member.id
    demo.member_numbers[name] = member.member_number
