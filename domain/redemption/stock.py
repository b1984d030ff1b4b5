"""Gift stock per branch [R4]: received, adjusted, transferred within a subtree, and drawn by redemptions.

Every change writes a movement with the quantity after it, so the history explains every unit, and the
stock never goes negative (a CHECK backs the checks). Rows are locked in (item, branch) order, the order
redemptions lock them in too, so concurrent changes queue instead of deadlocking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import Permission, Principal, StaffPrincipal, require_staff
from domain.errors import DomainError, ErrorCode
from domain.organisation.service import branch_in_scope, subtree_branch_ids
from domain.organisation.tables import Branch
from domain.paging import Page, PageRequest, fetch_page
from domain.redemption.catalogue import get_items_scoped
from domain.redemption.errors import RedemptionErrorCode
from domain.redemption.tables import GiftStock, GiftStockMovement, RewardKind, StockMovementKind
from domain.validation import Checker, note_length_max
from domain.work.commands import BranchId, Idempotent, RewardItemId
from domain.work.unit import UnitOfWork

stock_change_max = 1_000_000  # units of one gift in one change
stock_held_max = 1_000_000_000  # units of one gift at one branch: read as an `Int`, with room for returns


@dataclass(frozen=True, kw_only=True)
class ReceiveGiftStock(Idempotent):
    item_id: RewardItemId | None
    branch_id: BranchId | None
    quantity: int
    reason: str

    def authorize(self, principal: Principal) -> None:
        require_staff(principal, Permission.REDEMPTION_CATALOGUE)


@dataclass(frozen=True, kw_only=True)
class AdjustGiftStock(Idempotent):
    """A count's correction: `quantity` is signed."""

    item_id: RewardItemId | None
    branch_id: BranchId | None
    quantity: int
    reason: str

    def authorize(self, principal: Principal) -> None:
        require_staff(principal, Permission.REDEMPTION_CATALOGUE)


@dataclass(frozen=True, kw_only=True)
class TransferGiftStock(Idempotent):
    item_id: RewardItemId | None
    from_branch_id: BranchId | None
    to_branch_id: BranchId | None
    quantity: int
    reason: str

    def authorize(self, principal: Principal) -> None:
        require_staff(principal, Permission.REDEMPTION_CATALOGUE)


def _checked(command: Any, *, signed: bool = False) -> str:
    check = Checker()
    reason = check.text("reason", command.reason, length_max=note_length_max, required=True)
    bound = stock_change_max
    check.integer("quantity", command.quantity, minimum=-bound if signed else 1, maximum=bound)
    if signed and command.quantity == 0:
        check.fail("quantity", ErrorCode.OUT_OF_RANGE, "quantity must not be 0.")
    check.raise_if_any()
    assert reason is not None
    return reason


async def _gift(session: AsyncSession, actor: StaffPrincipal, item_id: int | None) -> Any:
    """The gift, when it is offered in the actor's subtree: a reward of another province is refused like a
    missing one, as `rewardItems` and `node(id:)` hide it (its stock would tell the caller it exists)."""
    [item] = await get_items_scoped(session, actor, [item_id]) if item_id is not None else [None]
    if item is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such reward.", "item_id")
    if item.kind != RewardKind.GIFT:
        raise DomainError(RedemptionErrorCode.ITEM_KIND_NOT_OFFERED, "Only gifts are held in stock.", "item_id")
    return item


async def _stock_branch(session: AsyncSession, actor: StaffPrincipal, item: Any, branch_id: int | None,
                        field: str) -> Branch:  # fmt: skip
    """A branch of the caller's subtree that may hold the gift's stock: one where the gift is offered (anywhere
    for a national gift, else its province and the cities below it)."""
    branch = await branch_in_scope(session, actor, branch_id, field)
    if f"/{item.branch_id}/" not in branch.path:  # a path names the branch and every branch above it
        message = f"{item.code} is not offered at {branch.code}: its stock is held where it is offered."
        raise DomainError(RedemptionErrorCode.ITEM_NOT_IN_SCOPE, message, field)
    return branch


async def _move(
    session: AsyncSession, actor: StaffPrincipal, item_id: int, branch_id: int, change: int, kind: StockMovementKind,
    reason: str, other_branch_id: int | None = None, field: str = "quantity",
) -> GiftStockMovement:  # fmt: skip
    """Add `change` (signed) to a branch's stock, locked, never below zero; the movement written."""
    await session.execute(insert(GiftStock).values(item_id=item_id, branch_id=branch_id).on_conflict_do_nothing())
    held = await session.scalar(
        sa.select(GiftStock.quantity)
        .where(GiftStock.item_id == item_id, GiftStock.branch_id == branch_id)
        .with_for_update()
    )
    assert held is not None
    if held + change < 0:
        raise DomainError(RedemptionErrorCode.ITEM_OUT_OF_STOCK, f"The branch holds {held}; {-change} cannot leave.",
                          field)  # fmt: skip
    if held + change > stock_held_max:
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"A branch holds at most {stock_held_max:,} of a gift; this one "
                          f"holds {held:,}.", field)  # fmt: skip
    await session.execute(
        sa.update(GiftStock)
        .where(GiftStock.item_id == item_id, GiftStock.branch_id == branch_id)
        .values(quantity=held + change, updated_at=sa.func.now())
    )
    movement = GiftStockMovement(item_id=item_id, branch_id=branch_id, kind=kind, quantity=change,
                                 balance_after=held + change, reason=reason, staff_id=actor.staff_id,
                                 other_branch_id=other_branch_id)  # fmt: skip
    session.add(movement)
    await session.flush()
    return movement


async def receive_gift_stock(uow: UnitOfWork, command: ReceiveGiftStock) -> GiftStockMovement:
    """Gifts arrive at a branch of the caller's subtree."""
    actor = require_staff(uow.principal, Permission.REDEMPTION_CATALOGUE)
    reason = _checked(command)
    item = await _gift(uow.session, actor, command.item_id)
    branch = await _stock_branch(uow.session, actor, item, command.branch_id, "branch_id")
    return await _move(uow.session, actor, item.id, branch.id, command.quantity, StockMovementKind.RECEIVE, reason)


async def adjust_gift_stock(uow: UnitOfWork, command: AdjustGiftStock) -> GiftStockMovement:
    """A counted correction, up or down; never below zero."""
    actor = require_staff(uow.principal, Permission.REDEMPTION_CATALOGUE)
    reason = _checked(command, signed=True)
    item = await _gift(uow.session, actor, command.item_id)
    branch = await _stock_branch(uow.session, actor, item, command.branch_id, "branch_id")
    return await _move(uow.session, actor, item.id, branch.id, command.quantity, StockMovementKind.ADJUST, reason)


async def transfer_gift_stock(uow: UnitOfWork, command: TransferGiftStock) -> GiftStockMovement:
    """Gifts move between two branches of the caller's subtree, both where the gift is offered; the movement
    into the receiving branch is returned (the one out of the other names it)."""
    actor = require_staff(uow.principal, Permission.REDEMPTION_CATALOGUE)
    reason = _checked(command)
    item = await _gift(uow.session, actor, command.item_id)
    source = await _stock_branch(uow.session, actor, item, command.from_branch_id, "from_branch_id")
    target = await _stock_branch(uow.session, actor, item, command.to_branch_id, "to_branch_id")
    if source.id == target.id:
        raise DomainError(ErrorCode.INVALID, "A transfer goes to another branch.", "to_branch_id")
    moves = [(source.id, -command.quantity, StockMovementKind.TRANSFER_OUT, target.id),
             (target.id, command.quantity, StockMovementKind.TRANSFER_IN, source.id)]  # fmt: skip
    made = {}
    for branch_id, change, kind, other in sorted(moves):  # (item, branch) order, as every lock of stock
        made[kind] = await _move(uow.session, actor, item.id, branch_id, change, kind, reason, other)
    return made[StockMovementKind.TRANSFER_IN]


# --- reads -----------------------------------------------------------------------------------------


async def list_stock(
    session: AsyncSession, principal: Principal, page: PageRequest, *, item_id: RewardItemId | None = None,
    branch_id: BranchId | None = None,
) -> Page[GiftStock]:  # fmt: skip
    """The stock of the caller's subtree, by item and branch."""
    actor = require_staff(principal, Permission.REDEMPTION_READ)
    query = sa.select(GiftStock).where(GiftStock.branch_id.in_(subtree_branch_ids(actor.branch_path)))
    if item_id is not None:
        query = query.where(GiftStock.item_id == item_id)
    if branch_id is not None:
        query = query.where(GiftStock.branch_id == branch_id)
    return await fetch_page(session, query, (GiftStock.item_id, GiftStock.branch_id), page)


async def stock_history(
    session: AsyncSession, principal: Principal, page: PageRequest, *, item_id: RewardItemId | None,
    branch_id: BranchId | None,
) -> Page[GiftStockMovement]:  # fmt: skip
    """Every change of one branch's stock of one gift, oldest first: who, when, why, and what was left."""
    actor = require_staff(principal, Permission.REDEMPTION_READ)
    path = await session.scalar(sa.select(Branch.path).where(Branch.id == branch_id)) if branch_id else None
    if path is None or not actor.covers(path):
        raise DomainError(ErrorCode.NOT_FOUND, "No such branch in your scope.", "branch_id")
    query = sa.select(GiftStockMovement).where(
        GiftStockMovement.item_id == item_id, GiftStockMovement.branch_id == branch_id
    )
    return await fetch_page(session, query, GiftStockMovement.id, page)
