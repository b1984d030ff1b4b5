"""foundation

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Grades are seeded here as data [G1]; member numbers come from a sequence so that the
club, never the member, sets them [O5].
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("member_number_seq", start=100_000_000_001)))
    op.create_table(
        "branch",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "level",
            sa.Enum("HQ", "PROVINCE", "CITY", name="level", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["branch.id"], name=op.f("fk_branch_parent_id_branch")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch")),
        sa.UniqueConstraint("code", name=op.f("uq_branch_code")),
        sa.UniqueConstraint("path", name=op.f("uq_branch_path")),
    )
    op.create_index(op.f("ix_branch_parent_id"), "branch", ["parent_id"], unique=False)
    op.create_table(
        "grade",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("card_type", sa.String(length=32), nullable=False),
        sa.Column("national_roaming", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_grade")),
        sa.UniqueConstraint("rank", name=op.f("uq_grade_rank")),
    )
    grade = sa.table(
        "grade",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("rank", sa.Integer),
        sa.column("card_type", sa.String),
        sa.column("national_roaming", sa.Boolean),
    )
    op.bulk_insert(
        grade,
        [
            {"code": "DIAMOND", "name": "Diamond", "rank": 1, "card_type": "DIAMOND", "national_roaming": True},
            {"code": "EMERALD", "name": "Emerald", "rank": 2, "card_type": "EMERALD", "national_roaming": True},
            {"code": "SAPPHIRE", "name": "Sapphire", "rank": 3, "card_type": "SAPPHIRE", "national_roaming": False},
        ],
    )
    op.create_table(
        "club",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("contact_person", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=24), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_club_branch_id_branch")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_club")),
        sa.UniqueConstraint("code", name=op.f("uq_club_code")),
    )
    op.create_index(op.f("ix_club_branch_id"), "club", ["branch_id"], unique=False)
    op.create_table(
        "partner",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_partner_branch_id_branch")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner")),
        sa.UniqueConstraint("code", name=op.f("uq_partner_code")),
    )
    op.create_index(op.f("ix_partner_branch_id"), "partner", ["branch_id"], unique=False)
    op.create_table(
        "staff",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "ADMINISTRATOR",
                "CLUB_OPERATOR",
                "CUSTOMER_MANAGER",
                "AGENT",
                "SETTLEMENT_CLERK",
                "AUDITOR",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("failed_login_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_staff_branch_id_branch")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_username")),
    )
    op.create_index(op.f("ix_staff_branch_id"), "staff", ["branch_id"], unique=False)
    op.create_table(
        "customer",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("INDIVIDUAL", "ENTERPRISE", name="kind", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "id_document_type",
            sa.Enum(
                "ID_CARD",
                "PASSPORT",
                "MILITARY_ID",
                "BUSINESS_LICENCE",
                "OTHER",
                name="id_document_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("id_document_number", sa.String(length=32), nullable=False),
        sa.Column(
            "gender",
            sa.Enum("FEMALE", "MALE", name="gender", native_enum=False, create_constraint=True, length=32),
            nullable=True,
        ),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("phone", sa.String(length=24), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("customer_manager_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "credit_level",
            sa.Enum("RED", "GREY", "BLACK", name="credit_level", native_enum=False, create_constraint=True, length=32),
            server_default="GREY",
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_customer_branch_id_branch")),
        sa.ForeignKeyConstraint(
            ["customer_manager_id"], ["staff.id"], name=op.f("fk_customer_customer_manager_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer")),
        sa.UniqueConstraint("id_document_type", "id_document_number", name=op.f("uq_customer_id_document_type")),
    )
    op.create_index(op.f("ix_customer_branch_id"), "customer", ["branch_id"], unique=False)
    op.create_index(op.f("ix_customer_customer_manager_id"), "customer", ["customer_manager_id"], unique=False)
    op.create_index(op.f("ix_customer_name"), "customer", ["name"], unique=False)
    op.create_index(op.f("ix_customer_phone"), "customer", ["phone"], unique=False)
    op.create_table(
        "partner_api_client",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("secret_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_by_staff_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"], ["staff.id"], name=op.f("fk_partner_api_client_created_by_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], name=op.f("fk_partner_api_client_partner_id_partner")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_api_client")),
        sa.UniqueConstraint("key_id", name=op.f("uq_partner_api_client_key_id")),
    )
    op.create_index(op.f("ix_partner_api_client_partner_id"), "partner_api_client", ["partner_id"], unique=False)
    op.create_table(
        "account",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("account_number", sa.String(length=20), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "ACTIVE", "SUSPENDED", "CLOSED", name="status", native_enum=False, create_constraint=True, length=32
            ),
            server_default="ACTIVE",
            nullable=False,
        ),
        sa.Column("credit_limit_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("credit_limit_fen >= 0", name=op.f("ck_account_credit_limit_nonnegative")),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_account_customer_id_customer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("account_number", name=op.f("uq_account_account_number")),
    )
    op.create_index(op.f("ix_account_customer_id"), "account", ["customer_id"], unique=False)
    op.create_table(
        "credit_level_change",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "level_before",
            sa.Enum("RED", "GREY", "BLACK", name="level_before", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column(
            "level_after",
            sa.Enum("RED", "GREY", "BLACK", name="level_after", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_credit_level_change_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_credit_level_change_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_level_change")),
    )
    op.create_index(op.f("ix_credit_level_change_customer_id"), "credit_level_change", ["customer_id"], unique=False)
    op.create_index(op.f("ix_credit_level_change_staff_id"), "credit_level_change", ["staff_id"], unique=False)
    op.create_table(
        "member",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_number", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("club_id", sa.BigInteger(), nullable=False),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("grade_code", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "ACTIVE", "SUSPENDED", "ENDED", name="status", native_enum=False, create_constraint=True, length=32
            ),
            server_default="ACTIVE",
            nullable=False,
        ),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("customer_manager_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "interests", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column(
            "relations", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("failed_login_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_member_branch_id_branch")),
        sa.ForeignKeyConstraint(["club_id"], ["club.id"], name=op.f("fk_member_club_id_club")),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_member_customer_id_customer")),
        sa.ForeignKeyConstraint(
            ["customer_manager_id"], ["staff.id"], name=op.f("fk_member_customer_manager_id_staff")
        ),
        sa.ForeignKeyConstraint(["grade_code"], ["grade.code"], name=op.f("fk_member_grade_code_grade")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_member_customer_id")),
        sa.UniqueConstraint("member_number", name=op.f("uq_member_member_number")),
    )
    op.create_index(op.f("ix_member_branch_id"), "member", ["branch_id"], unique=False)
    op.create_index(op.f("ix_member_club_id"), "member", ["club_id"], unique=False)
    op.create_index(op.f("ix_member_customer_manager_id"), "member", ["customer_manager_id"], unique=False)
    op.create_index(op.f("ix_member_grade_code"), "member", ["grade_code"], unique=False)
    op.create_index(op.f("ix_member_status"), "member", ["status"], unique=False)
    op.create_table(
        "auth_session",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("refresh_token_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("(member_id IS NULL) <> (staff_id IS NULL)", name=op.f("ck_auth_session_one_principal")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_auth_session_member_id_member")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_auth_session_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_session")),
        sa.UniqueConstraint("refresh_token_sha256", name=op.f("uq_auth_session_refresh_token_sha256")),
    )
    op.create_index(op.f("ix_auth_session_member_id"), "auth_session", ["member_id"], unique=False)
    op.create_index(op.f("ix_auth_session_staff_id"), "auth_session", ["staff_id"], unique=False)
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("MEMBER", "STAFF", "PARTNER", name="kind", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("login", sa.String(length=100), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("remote_address", sa.String(length=64), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_login_attempt_member_id_member")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_login_attempt_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempt")),
    )
    op.create_index(op.f("ix_login_attempt_login"), "login_attempt", ["login"], unique=False)
    op.create_index(op.f("ix_login_attempt_member_id"), "login_attempt", ["member_id"], unique=False)
    op.create_index(op.f("ix_login_attempt_staff_id"), "login_attempt", ["staff_id"], unique=False)
    op.create_table(
        "subscriber_number",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("activated_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_subscriber_number_account_id_account")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_subscriber_number_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_subscriber_number")),
    )
    op.create_index(op.f("ix_subscriber_number_account_id"), "subscriber_number", ["account_id"], unique=False)
    op.create_index(op.f("ix_subscriber_number_customer_id"), "subscriber_number", ["customer_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_subscriber_number_customer_id"), table_name="subscriber_number")
    op.drop_index(op.f("ix_subscriber_number_account_id"), table_name="subscriber_number")
    op.drop_table("subscriber_number")
    op.drop_index(op.f("ix_login_attempt_staff_id"), table_name="login_attempt")
    op.drop_index(op.f("ix_login_attempt_member_id"), table_name="login_attempt")
    op.drop_index(op.f("ix_login_attempt_login"), table_name="login_attempt")
    op.drop_table("login_attempt")
    op.drop_index(op.f("ix_auth_session_staff_id"), table_name="auth_session")
    op.drop_index(op.f("ix_auth_session_member_id"), table_name="auth_session")
    op.drop_table("auth_session")
    op.drop_index(op.f("ix_member_status"), table_name="member")
    op.drop_index(op.f("ix_member_grade_code"), table_name="member")
    op.drop_index(op.f("ix_member_customer_manager_id"), table_name="member")
    op.drop_index(op.f("ix_member_club_id"), table_name="member")
    op.drop_index(op.f("ix_member_branch_id"), table_name="member")
    op.drop_table("member")
    op.drop_index(op.f("ix_credit_level_change_staff_id"), table_name="credit_level_change")
    op.drop_index(op.f("ix_credit_level_change_customer_id"), table_name="credit_level_change")
    op.drop_table("credit_level_change")
    op.drop_index(op.f("ix_account_customer_id"), table_name="account")
    op.drop_table("account")
    op.drop_index(op.f("ix_partner_api_client_partner_id"), table_name="partner_api_client")
    op.drop_table("partner_api_client")
    op.drop_index(op.f("ix_customer_phone"), table_name="customer")
    op.drop_index(op.f("ix_customer_name"), table_name="customer")
    op.drop_index(op.f("ix_customer_customer_manager_id"), table_name="customer")
    op.drop_index(op.f("ix_customer_branch_id"), table_name="customer")
    op.drop_table("customer")
    op.drop_index(op.f("ix_staff_branch_id"), table_name="staff")
    op.drop_table("staff")
    op.drop_index(op.f("ix_partner_branch_id"), table_name="partner")
    op.drop_table("partner")
    op.drop_index(op.f("ix_club_branch_id"), table_name="club")
    op.drop_table("club")
    op.drop_table("grade")
    op.drop_index(op.f("ix_branch_parent_id"), table_name="branch")
    op.drop_table("branch")
    op.execute(sa.schema.DropSequence(sa.Sequence("member_number_seq")))
