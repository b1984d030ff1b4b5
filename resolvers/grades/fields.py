"""Grades: definitions, rules, customer importance, the qualification review, manual changes."""

from __future__ import annotations

import strawberry
from strawberry import relay

from domain import clock
from domain.grades import changes, definitions, review, rules
from resolvers.declare import list_field, mutation_field
from resolvers.edge import read
from resolvers.inputs import decode_id
from schema.grades import (
    ChangeMemberGradeInput,
    ChangeMemberGradePayload,
    ChangeMemberGradesInput,
    ChangeMemberGradesPayload,
    CreateGradeInput,
    CreateGradeRuleInput,
    DecideGradeProposalInput,
    DecideGradeProposalPayload,
    DecideGradeProposalsInput,
    DecideGradeProposalsPayload,
    GradeCodeInput,
    GradePayload,
    GradeProposalFilter,
    GradeProposalType,
    GradeReviewRunType,
    GradeReviewType,
    GradeRulePayload,
    GradeRuleType,
    RunGradeReviewInput,
    RunGradeReviewPayload,
    SetCustomerImportanceInput,
    SetCustomerImportancePayload,
    UpdateGradeInput,
    UpdateGradeRuleInput,
)


@strawberry.type
class GradeQuery:
    @strawberry.field(description="Grade rules, national and provincial, by grade and date (staff) [G3].")
    async def grade_rules(self, info: strawberry.Info) -> list[GradeRuleType]:
        return await read(info, lambda s: rules.list_grade_rules(s, info.context.principal))

    grade_proposals = list_field(
        review.list_proposals, GradeProposalType, GradeProposalFilter,
        description="The qualification review's proposals for customers of your subtree (reviewers) [G4].",
    )  # fmt: skip

    @strawberry.field(description="The latest qualification review runs, newest first (headquarters administrators).")
    async def grade_review_runs(self, info: strawberry.Info) -> list[GradeReviewRunType]:
        return await read(info, lambda s: review.runs(s, info.context.principal))

    @strawberry.field(description="A member's figures as of today and what each rule in force gives (staff) [G5].")
    async def member_grade_review(self, info: strawberry.Info, member_id: relay.GlobalID) -> GradeReviewType:
        async def review_of(session):
            member = decode_id(member_id, "Member", "memberId")
            return await changes.member_grade_review(session, info.context.principal, member, clock.today())

        return await read(info, review_of)


@strawberry.type
class GradeMutation:
    create_grade = mutation_field(
        definitions.create_grade,
        CreateGradeInput,
        GradePayload,
        "grade",
        description="Add a grade (headquarters administrators) [G1].",
    )
    update_grade = mutation_field(
        definitions.update_grade,
        UpdateGradeInput,
        GradePayload,
        "grade",
        description="Edit a grade's name, rank, card type, roaming or standards [G1].",
    )
    retire_grade = mutation_field(
        definitions.retire_grade,
        GradeCodeInput,
        GradePayload,
        "grade",
        description="Retire a grade: kept where it is named, never given again.",
    )
    delete_grade = mutation_field(
        definitions.delete_grade,
        GradeCodeInput,
        GradePayload,
        "grade",
        description="Delete a grade nothing names (GRADE_IN_USE otherwise: retire it).",
    )
    set_customer_importance = mutation_field(
        definitions.set_customer_importance,
        SetCustomerImportanceInput,
        SetCustomerImportancePayload,
        "customer",
        description="Set a customer's importance, with a reason kept in its history (reviewers) [G3].",
    )
    create_grade_rule = mutation_field(
        rules.create_grade_rule,
        CreateGradeRuleInput,
        GradeRulePayload,
        "rule",
        description="A grade rule from tomorrow at the earliest (administrators).",
    )
    update_grade_rule = mutation_field(
        rules.update_grade_rule,
        UpdateGradeRuleInput,
        GradeRulePayload,
        "rule",
        description="Change a rule not in effect yet, or end one (administrators).",
    )
    run_grade_review = mutation_field(
        review.run_grade_review,
        RunGradeReviewInput,
        RunGradeReviewPayload,
        "run",
        description="Start the qualification review as of a day in the background (headquarters administrators).",
    )
    decide_grade_proposal = mutation_field(
        review.decide_grade_proposal,
        DecideGradeProposalInput,
        DecideGradeProposalPayload,
        "proposal",
        description="Approve (apply) or reject one PENDING proposal, with a reason (reviewers) [G4].",
    )
    decide_grade_proposals = mutation_field(
        review.decide_grade_proposals,
        DecideGradeProposalsInput,
        DecideGradeProposalsPayload,
        description="Approve or reject every PENDING proposal a filter matches, all or none (reviewers).",
    )
    change_member_grade = mutation_field(
        changes.change_member_grade,
        ChangeMemberGradeInput,
        ChangeMemberGradePayload,
        "member",
        description="Change one member's grade, with a reason (reviewers of the member's branch) [G5].",
    )
    change_member_grades = mutation_field(
        changes.change_member_grades,
        ChangeMemberGradesInput,
        ChangeMemberGradesPayload,
        "batch",
        description="Change the grade of every member a filter matches, all or none, up to 1,000 [G5].",
    )
